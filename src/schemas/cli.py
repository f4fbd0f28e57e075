"""`fraudlake schemas …` commands."""

from __future__ import annotations

import typer
from rich.console import Console

from fraudlake.schemas.export import GENERATED_DIR, SchemaPublishError, export, stale_files

schemas_app = typer.Typer(
    help="Record schemas: export the checked-in Avro / JSON Schema / Connect files.", no_args_is_help=True
)
console = Console(stderr=True)


@schemas_app.command("export")
def export_command() -> None:
    """Regenerate src/schemas/generated/ from the definitions (refuses breaking changes)."""
    try:
        changed = export()
    except SchemaPublishError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    for path in changed:
        console.print(f"wrote {path.relative_to(GENERATED_DIR.parent)}")
    if not changed:
        console.print("schemas are up to date")


@schemas_app.command("check")
def check_command() -> None:
    """Exit 1 if the checked-in files are stale (run `fraudlake schemas export`)."""
    stale = stale_files()
    for rel in stale:
        console.print(f"[red]stale:[/] {rel}")
    if stale:
        raise typer.Exit(code=1)
    console.print("schemas are up to date")
