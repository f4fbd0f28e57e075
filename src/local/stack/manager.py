"""`stack up / status / down`: start services in dependency order, record them, stop them by pid."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.gotools import deploy_tool_builds, ensure_built
from fraudlake.local.stack.process import stop_marked_processes
from fraudlake.local.stack.service import Service, ServiceRecord, StackContext
from fraudlake.local.stack.services import registry


def resolve(names: Iterable[str] | None) -> list[Service]:
    """The requested services plus their dependencies, in start order; unknown names are an error."""
    services = registry()
    wanted = list(names or services)
    unknown = [n for n in wanted if n not in services]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)!s}; choose from: {', '.join(services)}")
    closure: set[str] = set()

    def visit(name: str) -> None:
        if name not in closure:
            closure.add(name)
            for dep in services[name].depends_on:
                visit(dep)

    for name in wanted:
        visit(name)
    return [svc for name, svc in services.items() if name in closure]


def install(names: Iterable[str] | None, console: Console) -> None:
    """Build the named services (all by default); with no names, the deploy CLIs (helm, helmfile) too."""
    for svc in resolve(names):
        svc.install(console)
    if not names:
        for build in deploy_tool_builds():
            ensure_built(build, console)


def up(ctx: StackContext, names: Iterable[str] | None = None) -> dict[str, ServiceRecord]:
    """Start what is not already running; a second `up` is harmless."""
    records = ctx.load_state()
    for svc in resolve(names):
        current = records.get(svc.name)
        if current and svc.healthy(current):
            ctx.console.print(f"[green]✓[/] {svc.name} already running")
            continue
        if current:
            svc.stop(current)  # a half-dead earlier start: clean it before starting over
        svc.install(ctx.console)
        deps = {d: records[d] for d in svc.depends_on}
        with ctx.console.status(f"starting {svc.name} …"):
            records[svc.name] = svc.start(ctx, deps)
        ctx.save_state(records)
        ctx.console.print(f"[green]✓[/] {svc.name} up  {_describe(records[svc.name])}")
        _announce(ctx, records, changed=svc.name)
    return records


def down(ctx: StackContext, names: Iterable[str] | None = None) -> list[str]:
    """Stop services (all by default) in reverse start order; returns the names stopped.

    Recorded services stop in order, each gracefully; then every process still marked as one of
    them goes too: one whose start was interrupted before it was recorded, or a child that left
    its service's process group.
    """
    records = ctx.load_state()
    services = registry()
    targets = [s.name for s in resolve(names)] if names else list(services)
    stopped = []
    for name in reversed([n for n in services if n in targets and n in records]):
        services[name].stop(records.pop(name))
        stopped.append(name)
        ctx.save_state(records)
    if stopped:
        _announce(ctx, records)
    strays = stop_marked_processes(ctx.stack_dir, targets if names else None)
    if strays:
        ctx.console.print(f"stopped {len(strays)} unrecorded process(es) of the stack: " + "; ".join(strays))
    return stopped


def _announce(ctx: StackContext, records: dict[str, ServiceRecord], changed: str = "") -> None:
    """Tell every other running service that the stack changed (Prometheus rewrites its targets)."""
    services = registry()
    for name in list(records):
        if name != changed and name in services:
            try:
                services[name].stack_changed(ctx, records)
            except Exception as exc:  # a hook must not keep the stack from starting
                ctx.console.print(f"[yellow]warning:[/] {name} did not follow the stack's change: {exc}")


def status_table(ctx: StackContext) -> tuple[Table, bool]:
    """A table of every recorded service and whether it answers; second value: all healthy."""
    records = ctx.load_state()
    services = registry()
    table = Table("service", "state", "endpoints", "log")
    all_ok = True
    for name, rec in records.items():
        ok = services[name].healthy(rec) if name in services else False
        all_ok &= ok
        table.add_row(name, "[green]up[/]" if ok else "[red]down[/]", _describe(rec), rec.log)
    return table, all_ok


def _describe(rec: ServiceRecord) -> str:
    return " ".join(f"{k}={v}" for k, v in rec.endpoints.items())


def load_endpoints(stack_dir: Path) -> dict[str, ServiceRecord]:
    """Read a running stack's records (what other commands and tests connect with)."""
    return StackContext(stack_dir).load_state()
