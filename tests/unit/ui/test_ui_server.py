"""The console process serves /metrics from its start, before any browser opens the page."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from fraudlake.ui import metrics
from fraudlake.ui.cli import streamlit_command

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback http URL
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_metrics_are_up_before_any_page_is_opened(tmp_path: os.PathLike[str]) -> None:
    ui_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        metrics.METRICS_PORT_ENV: str(metrics_port),
        "FRAUDLAKE_API_URL": "http://127.0.0.1:9",
    }
    process = subprocess.Popen(
        streamlit_command(ui_port, "127.0.0.1"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, page, exposition = time.monotonic() + 60, None, None
        while time.monotonic() < deadline and not (page and exposition):
            assert process.poll() is None, "the console exited"
            # Streamlit's health endpoint: the server is up, and no session has run the page script.
            page = fetch(f"http://127.0.0.1:{ui_port}/_stcore/health")
            exposition = fetch(f"http://127.0.0.1:{metrics_port}/metrics")
            time.sleep(0.5)
        assert page == "ok", "Streamlit's server did not come up"
        assert exposition is not None, "no /metrics while no page was open"
        assert "fraudlake_ui_api_request_duration_seconds" in exposition
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
