"""`fraudlake stack …` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fraudlake.local.stack import manager
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.paths import default_stack_dir
from fraudlake.local.stack.service import StackContext

stack_app = typer.Typer(
    help="Run the local stack of real services (Kafka, MinIO, kube-apiserver, …).", no_args_is_help=True
)
console = Console(stderr=True)

StackDir = Annotated[
    Path | None,
    typer.Option(
        "--stack-dir",
        envvar="FRAUDLAKE_STACK_DIR",
        help="Run folder: logs, data, state.json [default: ./.fraudlake/stack].",
    ),
]
Services = Annotated[list[str] | None, typer.Argument(help="Services (default: all).", show_default=False)]


def _fail(exc: StackError) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(code=1)


@stack_app.command()
def install(services: Services = None) -> None:
    """Build or fetch the services into ~/.cache/fraudlake (idempotent)."""
    try:
        manager.install(services, console)
    except StackError as exc:
        raise _fail(exc) from None


@stack_app.command()
def up(
    services: Services = None,
    stack_dir: StackDir = None,
    port: Annotated[list[str] | None, typer.Option(help="Pin a port: SERVICE=PORT (repeatable).")] = None,
) -> None:
    """Start services (all by default) and wait until they answer."""
    try:
        ctx = StackContext(stack_dir or default_stack_dir(), console, _parse_ports(port or []))
        manager.up(ctx, services)
    except StackError as exc:
        raise _fail(exc) from None
    console.print(f"state: {ctx.state_file}")


@stack_app.command()
def status(stack_dir: StackDir = None) -> None:
    """Show what runs and where; exit 1 if a recorded service does not answer."""
    table, ok = manager.status_table(StackContext(stack_dir or default_stack_dir(), console))
    Console().print(table)
    if not ok:
        raise typer.Exit(code=1)


@stack_app.command()
def down(services: Services = None, stack_dir: StackDir = None) -> None:
    """Stop services (all by default) and every process they started."""
    try:
        stopped = manager.down(StackContext(stack_dir or default_stack_dir(), console), services)
    except StackError as exc:
        raise _fail(exc) from None
    console.print("stopped: " + (", ".join(stopped) or "nothing was running"))


def _parse_ports(pairs: list[str]) -> dict[str, int]:
    ports = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value.isdigit():
            raise StackError(f"--port expects SERVICE=PORT, got {pair!r}")
        ports[name] = int(value)
    return ports
