"""Start, probe and stop the stack's child processes.

Every service runs in its own session (process group), so stopping it also stops the JVMs and
workers it forks, and `stack down` in another shell can find it again by pid. Each is also marked
with its stack's folder in its environment (`owner_env`), which every process it forks inherits,
even one that leaves the group: `stop_marked_processes` finds what a start interrupted before its
pid was recorded, and what escaped its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import psutil

from fraudlake.local.stack.errors import ServiceFailedError, StackError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, service: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(f"port {port} requested for {service} is busy ({exc.strerror})") from exc


def pinned_or_free_port(pinned: int | None, service: str) -> int:
    """The port the user pinned for `service` (checked free), else any free loopback port."""
    if pinned:
        ensure_port_free(pinned, service)
        return pinned
    return free_port()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def log_tail(log: Path, lines: int = 25) -> str:
    if not log.exists():
        return ""
    with log.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16_384))
        return "\n".join(fh.read().decode(errors="replace").splitlines()[-lines:])


def spawn(
    service: str,
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` detached in its own session, stdout+stderr appended to `log`; returns the pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ServiceFailedError(
                service, f"could not start {argv[0]!r} ({exc.strerror})", str(log)
            ) from exc
    return proc.pid


def wait_until(
    service: str,
    ready: Callable[[], bool],
    pid: int,
    log: Path,
    timeout: float,
    what: str = "to become ready",
) -> None:
    """Poll `ready` until it is true; fail fast with the log's tail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise ServiceFailedError(service, "exited during start-up", str(log), log_tail(log))
        try:
            if ready():
                return
        except Exception:  # noqa: S110 - probes fail routinely until the service is up
            pass
        time.sleep(0.25)
    raise ServiceFailedError(
        service, f"did not come up within {timeout:.0f}s waiting {what}", str(log), log_tail(log)
    )


def stop_process_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads (spawn's), then SIGKILL what is left after `grace` seconds.

    The group id is the pid itself: asking the kernel for it would fail once the leader is gone,
    and leave its children running.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid) and not _group_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    time.sleep(0.1)
    pid_alive(pid)  # reap


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OWNER_ENV = "FRAUDLAKE_STACK_OWNER"
SERVICE_ENV = "FRAUDLAKE_STACK_SERVICE"


def owner_env(stack_dir: Path, service: str) -> dict[str, str]:
    """Environment marking a process, and all it forks, as `service` of the stack in `stack_dir`."""
    return {OWNER_ENV: str(stack_dir.resolve()), SERVICE_ENV: service}


def marked_processes(stack_dir: Path, services: Iterable[str] | None = None) -> list[psutil.Process]:
    """Live processes marked as (some of `services` of) the stack in `stack_dir`; never this one."""
    owner, wanted = str(stack_dir.resolve()), set(services) if services is not None else None
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone, a zombie, or another user's
            continue
        if env.get(OWNER_ENV) == owner and (wanted is None or env.get(SERVICE_ENV) in wanted):
            found.append(proc)
    return found


def stop_marked_processes(
    stack_dir: Path, services: Iterable[str] | None = None, grace: float = 10.0
) -> list[str]:
    """SIGTERM every process `marked_processes` finds, SIGKILL what outlives `grace`; their commands."""
    procs = marked_processes(stack_dir, services)
    stopped = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            stopped.append(" ".join(proc.cmdline())[:200])
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return stopped


def run_checked(
    argv: Sequence[str],
    log: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    registry: str | None = None,
) -> None:
    """Run an install/set-up step to completion, its output in `log`; raise one clear line on failure."""
    from fraudlake.local.stack.errors import DownloadFailedError

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {' '.join(argv)}\n".encode())
        out.flush()
        try:
            code = subprocess.call(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )
        except FileNotFoundError as exc:
            raise StackError(f"{argv[0]} not found on PATH (needed for {what})") from exc
    if code != 0:
        if registry:
            raise DownloadFailedError(registry, what, str(log))
        raise StackError(f"{what} failed (exit {code}); log: {log}\n{log_tail(log, 15)}")
