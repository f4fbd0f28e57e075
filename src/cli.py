"""`fraudlake` command line: one entry point, one sub-command group per part of the platform.

The product's commands are registered here. Commands of other distributions or of the local
harness join through the ``fraudlake.cli`` entry-point group (each entry is a ``register(app)``
callable), so this module never imports them: the service images, which do not ship the local
harness, still get a working CLI.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points, version
from typing import Annotated

import typer

from fraudlake.api.cli import api_app
from fraudlake.ml.cli import train_app
from fraudlake.operator.cli import operator_app
from fraudlake.producer import cli as producer_cli
from fraudlake.rule_backtest.cli import rules_app
from fraudlake.schemas.cli import schemas_app
from fraudlake.stream.cli import scorer_app
from fraudlake.ui.cli import ui_app

PLUGIN_GROUP = "fraudlake.cli"
log = logging.getLogger(__name__)

app = typer.Typer(
    help="Fraudlake: real-time card-fraud detection on Kubernetes.",
    no_args_is_help=True,
    invoke_without_command=True,
)


@app.callback()
def main(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the installed version and exit.", is_eager=True)
    ] = False,
) -> None:
    """Fraudlake: real-time card-fraud detection on Kubernetes."""
    if show_version:
        typer.echo(f"fraudlake {version('fraudlake')}")
        raise typer.Exit


app.add_typer(schemas_app, name="schemas")
app.add_typer(operator_app, name="operator")
app.add_typer(train_app, name="train")
app.add_typer(ui_app, name="ui")
app.add_typer(api_app, name="api")
app.add_typer(scorer_app, name="scorer")
app.add_typer(rules_app, name="rules")
app.command("produce")(producer_cli.produce)
app.command("generate")(producer_cli.generate)


def _register_plugins(target: typer.Typer) -> None:
    """Let every installed ``fraudlake.cli`` entry point add its commands.

    An entry point whose module is absent (the local harness in a service image) is skipped.
    """
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            register = entry.load()
        except ModuleNotFoundError as exc:
            log.debug("CLI plugin %s not installed here: %s", entry.name, exc)
            continue
        register(target)


_register_plugins(app)

if __name__ == "__main__":
    app()
