"""`fraudlake` command line: one entry point, one sub-command group per part of the platform."""

from __future__ import annotations

import typer

from fraudlake.api.cli import api_app
from fraudlake.clickhouse.cli import clickhouse_app
from fraudlake.demo.cli import demo
from fraudlake.lake.cli import lake_app
from fraudlake.ml.cli import train_app
from fraudlake.operator.cli import operator_app
from fraudlake.producer import cli as producer_cli
from fraudlake.schemas.cli import schemas_app
from fraudlake.stack.cli import stack_app
from fraudlake.ui.cli import ui_app

app = typer.Typer(help="Fraudlake: real-time card-fraud detection on Kubernetes.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(operator_app, name="operator")
app.add_typer(train_app, name="train")
app.add_typer(lake_app, name="lake")
app.add_typer(ui_app, name="ui")
app.add_typer(api_app, name="api")
app.add_typer(clickhouse_app, name="clickhouse")
app.command("produce")(producer_cli.produce)
app.command("generate")(producer_cli.generate)

app.command("demo")(demo)

if __name__ == "__main__":
    app()
