"""Stage bookkeeping for the demo: every failure names its stage, component and log file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console


class StageError(Exception):
    """A demo stage failed; the message says which stage, which component and where to look."""

    def __init__(self, stage: str, component: str, log: str, cause: BaseException) -> None:
        super().__init__(f"stage '{stage}' failed in {component}: {cause}\n  read: {log}")
        self.stage, self.component, self.log = stage, component, log


@dataclass
class StageTimer:
    console: Console
    durations: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, component: str, log: str) -> Iterator[None]:
        """Run one stage: a header, its duration, and a StageError that names it on error."""
        self.console.rule(f"[bold]{name}")
        started = time.monotonic()
        try:
            yield
        except StageError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # any failure becomes one readable line naming the stage
            raise StageError(name, component, log, exc) from exc
        finally:
            self.durations[name] = time.monotonic() - started
        self.console.print(f"[green]✓[/] {name} ({self.durations[name]:.1f}s)")
