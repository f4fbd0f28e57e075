"""The Cases tab in a real headless browser against the real API and the stack's ClickHouse: a case's
summary asked of the agent (offline: no AWS here) and an action clicked. The browser test's parts
(tests/e2e/test_ui_browser.py): the agent tests' generated world in the stack's ClickHouse, whose alerts
the case rollup groups into cases; Debian's headless chromium over the DevTools protocol. The API runs
in-process without Kubernetes (the Cases tab needs none) and the console under `streamlit run`."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

# The console browser test's parts, shared (tests/ is on sys.path: e2e is a namespace package).
from e2e.test_ui_browser import API_KEY, ARTIFACTS, Browser, _running, _wait_for, browser, lake_database

from fraudlake.api.main import create_app
from fraudlake.api.settings import ApiSettings
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.ui.cli import streamlit_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
__all__ = ["browser", "lake_database"]  # fixtures
# A button's text ends with its label (an icon's name may come first).
CLICK = """(() => {
  const button = [...document.querySelectorAll('button')].find(b => b.innerText.trim().endsWith('%s'));
  if (!button) return false;
  button.click();
  return true;
})()"""


@pytest.fixture(scope="module")
def api_url(clickhouse: ServiceRecord, lake_database: str) -> Iterator[str]:
    settings = ApiSettings(
        api_keys=API_KEY, model_poll_seconds=3600, startup_model_wait_seconds=0,
        clickhouse_dsn=clickhouse.endpoints["dsn"], clickhouse_database=lake_database, llm_provider="offline",
    )  # fmt: skip
    app = create_app(settings, ModelRegistry(MemoryStore(), "models"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, "API up", 120)
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def ui_url(api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "streamlit.log"
    env = os.environ | {"FRAUDLAKE_API_URL": api_url, "FRAUDLAKE_API_KEY": API_KEY}
    with log.open("wb") as out:
        process = subprocess.Popen(
            streamlit_command(port, "127.0.0.1"), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: httpx.get(f"{url}/_stcore/health").status_code == 200, "UI up", 90)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_cases_tab_shows_the_queue_summarises_a_case_and_records_an_escalation(
    ui_url: str, api_url: str, browser: Browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    auth = {"X-API-Key": API_KEY}
    queue = httpx.get(f"{api_url}/v1/cases", headers=auth, timeout=60).json()["cases"]
    assert queue, "the generated world's alerts opened no case"
    top = queue[0]["case_id"]

    text = browser.open_until(f"{ui_url}/?tab=Cases", f"Case {top}", ARTIFACTS / "cases.png")
    assert "Labels from analysts" in text
    assert "Linked cases" in text
    assert "Traceback" not in text
    browser.screenshot(ARTIFACTS / "cases.png", height=2400)
    assert "What happened:" not in text  # the summary is asked for: with Bedrock it is an LLM call

    assert browser.evaluate(CLICK % "Summarise") is True
    _wait(lambda: "Suggested next step:" in browser.text() and not _running(browser.text()), "the summary")
    text = browser.text()
    assert "Offline template" in text
    summary = httpx.post(f"{api_url}/v1/cases/{top}/summary", headers=auth, timeout=60).json()
    assert summary["offline"] is True
    happened = summary["summary"].split("\n\n")[0]
    assert happened.startswith("What happened: ")
    assert happened in text  # the page shows the API's summary, amounts and all
    browser.screenshot(ARTIFACTS / "cases_summary.png", height=2400)

    assert browser.evaluate(CLICK % "Escalate") is True
    _wait(lambda: "Escalate recorded for" in browser.text() and not _running(browser.text()), "the action")
    browser.screenshot(ARTIFACTS / "cases_escalated.png", height=2400)

    trail = httpx.get(f"{api_url}/v1/cases/{top}", headers=auth, timeout=60).json()["actions"]
    assert [(a["action"], a["status"]) for a in trail] == [("escalate", "escalated")]
    assert trail[0]["actor"]
