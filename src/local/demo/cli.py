"""`fraudlake demo`: the README's first command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fraudlake.local.demo.stages import FAIL_AT_ENV, DemoConsole
from fraudlake.local.stack.paths import default_stack_dir


def demo(
    rows: Annotated[int, typer.Option(help="Transactions to generate and stream.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Generator seed (same seed, same data).")] = 42,
    clean: Annotated[bool, typer.Option(help="Stop the stack and delete its data first.")] = False,
    serve: Annotated[bool, typer.Option(help="Keep the API and UI running until Ctrl-C.")] = True,
    live: Annotated[int, typer.Option(help="Live transactions to score through the API.")] = 1000,
    stream: Annotated[
        int, typer.Option(help="Live transactions the stream scorer decides from the topic (measured).")
    ] = 2000,
    keep_stack: Annotated[bool, typer.Option(help="Leave the services running at the end.")] = False,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the FraudPipeline to be Ready (stage 2).")
    ] = 120.0,
    stack_dir: Annotated[
        Path | None,
        typer.Option(envvar="FRAUDLAKE_STACK_DIR", help="Run folder [default: ./.fraudlake/stack]."),
    ] = None,
    fail_at: Annotated[
        str,
        typer.Option(envvar=FAIL_AT_ENV, hidden=True, help="Fail this stage (number or name) on purpose."),
    ] = "",
) -> None:
    """Run the whole platform end to end on the local stack of real services.

    Exit status: 0 done, 1 a stage failed (the line says which, and which log to read), 130 Ctrl-C,
    143 SIGTERM. The stack is stopped in every case, unless --keep-stack.
    """
    from fraudlake.local.demo.runner import DemoOptions, run_demo
    from fraudlake.local.demo.stages import StageError, Terminated
    from fraudlake.local.stack.errors import StackError

    # Bound to the terminal now: while the demo runs, sys.stdout is the run's log (library output).
    console = DemoConsole(file=sys.stdout)
    options = DemoOptions(
        stack_dir or default_stack_dir(),
        rows=rows,
        seed=seed,
        clean=clean,
        serve=serve,
        live=live,
        stream=stream,
        keep_stack=keep_stack,
        ready_timeout=ready_timeout,
        fail_at=fail_at,
    )
    try:
        run_demo(options, console)
    except StageError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    except StackError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    except Terminated:
        console.print("stopped (SIGTERM)")
        raise typer.Exit(code=143) from None
    except KeyboardInterrupt:
        console.print("stopped (Ctrl-C)")
        raise typer.Exit(code=130) from None
