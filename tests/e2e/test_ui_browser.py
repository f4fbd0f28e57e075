"""The analyst console in a real headless browser against the real API with a small trained model.

The API runs in-process (uvicorn on a free port, the small model of tests/model_kit.py in an
in-memory registry), reads FraudPipelines from the stack's real kube-apiserver (`kube` fixture:
CRD installed, three pipelines whose status is written the way the operator writes it) and the
pipeline's tables from the stack's ClickHouse (chDB in this process, loaded with the agent tests'
generated world: two weeks of transactions, alerts, predictions); the console runs under
`streamlit run` as a separate process. Debian's
headless chromium, driven over the DevTools protocol, renders each tab; the page text is asserted and
a screenshot saved for a person to look at (test-artifacts/ui/*.png). There are no clicks: each tab
is opened and driven through the console's shareable links (`?tab=Score&score=example`, `?tab=Agent&ask=…`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websocket
import yaml

# tests/ is on sys.path (the root conftest), so tests/integration imports as a namespace package:
# the Live tab shows the same generated world the agent's integration tests check their answers on.
from integration.agent_kit import generate_world, load_world
from kubernetes import client, config
from model_kit import trained_model

from fraudlake.api.main import create_app
from fraudlake.api.settings import ApiSettings
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.operator import conditions
from fraudlake.operator.crd_schema import packaged_crd_yaml
from fraudlake.pipeline import naming
from fraudlake.pipeline.status import CONNECTORS_READY, TABLES_READY, TOPICS_READY
from fraudlake.ui.cli import streamlit_command

pytestmark = pytest.mark.e2e

API_KEY = "e2e-ui-key-5b0f6c2d9e8a7143"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1440


EXAMPLE_PIPELINE = Path(__file__).resolve().parents[2] / "operator" / "examples" / "pipeline.yaml"


def install_crd(kubeconfig: str) -> None:
    """The FraudPipeline CRD, applied and Established (as `kubectl apply` would install it)."""
    kubectl = [str(kubectl_binary()), f"--kubeconfig={kubeconfig}"]
    apply = [*kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-"]
    subprocess.run(apply, input=packaged_crd_yaml(), text=True, check=True, capture_output=True, timeout=120)
    crd = f"crd/{naming.PLURAL}.{naming.GROUP}"
    wait = [*kubectl, "wait", "--for=condition=Established", crd, "--timeout=60s"]
    subprocess.run(wait, check=True, capture_output=True, timeout=90)


def pipeline_status(namespace: str, name: str, connector_running: bool) -> dict[str, Any]:
    """The status the operator writes for a pipeline whose lake connector is (not) running."""
    topics = [naming.topic_name(namespace, name, stream) for stream in naming.STREAMS]
    connector, database = naming.connector_name(namespace, name), name.replace("-", "_")
    connector_condition = (
        conditions.condition(
            CONNECTORS_READY,
            True,
            "ConnectorReady",
            f"KafkaConnector kafka/{connector} is running",
        )
        if connector_running
        else conditions.condition(
            CONNECTORS_READY,
            False,
            "ConnectorNotReady",
            f"waiting for KafkaConnector kafka/{connector}: task 0 is FAILED (S3 access denied)",
        )
    )
    parts = [
        conditions.condition(TOPICS_READY, True, "TopicsReady", "4 KafkaTopics ready in namespace kafka"),
        connector_condition,
        conditions.condition(
            TABLES_READY,
            True,
            "TablesReady",
            f"13 tables and views present in ClickHouse database {database}",
        ),
    ]
    return {
        "observedGeneration": 1,
        "topics": topics,
        "topicsReady": "4/4",
        "connector": connector,
        "database": database,
        "tablesReady": "13/13",
        "conditions": conditions.merge(None, [*parts, conditions.ready_from_parts(parts)], conditions.now()),
    }


@pytest.fixture(scope="module")
def pipelines_namespace(kube: ServiceRecord) -> str:
    """A namespace with pipelines as an analyst meets them: ready, failing (spec since changed), new."""
    kubeconfig = kube.endpoints["kubeconfig"]
    install_crd(kubeconfig)
    api = config.new_client_from_config(config_file=kubeconfig)
    custom = client.CustomObjectsApi(api)
    namespace = f"fraud-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    example = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
    for name in ("cards-eu", "cards-us", "atm"):
        body = example | {"metadata": {"name": name, "namespace": namespace}}
        custom.create_namespaced_custom_object(naming.GROUP, naming.VERSION, namespace, naming.PLURAL, body)
    for name, running in (("cards-eu", True), ("cards-us", False)):
        custom.patch_namespaced_custom_object_status(
            naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name,
            {"status": pipeline_status(namespace, name, running)},
        )  # fmt: skip
    # A spec change the operator has not reconciled yet: generation 2, observedGeneration 1.
    custom.patch_namespaced_custom_object(
        naming.GROUP,
        naming.VERSION,
        namespace,
        naming.PLURAL,
        "cards-us",
        {"spec": {"scoring": {"thresholds": {"review": 0.6}}}},
    )
    return namespace


@pytest.fixture(scope="module")
def lake_database(clickhouse: ServiceRecord) -> str:
    """A pipeline database holding the agent tests' generated world (what the Live tab reads)."""
    database = f"ui_{uuid.uuid4().hex[:6]}"
    load_world(connect(clickhouse.endpoints["dsn"]), database, generate_world())
    return database


@pytest.fixture(scope="module")
def api_url(
    kube: ServiceRecord, pipelines_namespace: str, clickhouse: ServiceRecord, lake_database: str
) -> Iterator[str]:
    registry = ModelRegistry(MemoryStore(), "models")
    registry.publish(trained_model()[0])
    settings = ApiSettings(
        api_keys=API_KEY,
        model_poll_seconds=3600,
        kubeconfig=kube.endpoints["kubeconfig"],
        pipelines_namespace=pipelines_namespace,
        clickhouse_dsn=clickhouse.endpoints["dsn"],
        clickhouse_database=lake_database,
    )
    app = create_app(settings, registry)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, "API ready", 120)
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


def _wait_for(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class Browser:
    """Headless Debian chromium driven over the DevTools protocol (no driver download needed)."""

    def __init__(self, profile: Path):
        assert CHROMIUM, "chromium is not installed: apt-get install -y chromium"
        port = free_port()
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={WIDTH},1100",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/json/version").status_code == 200, "chromium", 60
        )
        page = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0

    def send(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText") or "")

    def open_until(self, url: str, expected: str, shot: Path, timeout: float = 180) -> str:
        """Navigate, wait until the page shows `expected` and has stopped running; the page text.

        The screenshot is saved either way, so a failure can be looked at.
        """
        self.send("Page.navigate", url=url)
        try:
            _wait_for(lambda: expected in self.text() and not _running(self.text()), expected, timeout)
        except AssertionError:
            self.screenshot(shot)
            raise AssertionError(f"{expected!r} never showed; page text:\n{self.text()[:3000]}") from None
        time.sleep(2)  # let charts finish drawing before the screenshot
        return self.text()

    def screenshot(self, path: Path, height: int | None = None) -> None:
        """The window as a PNG; `height` makes the window that tall for this shot (long pages)."""
        if height:
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            time.sleep(2)  # Streamlit re-lays out the page for the new size
        try:
            path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        finally:
            if height:
                self.send("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(10)


def _running(text: str) -> bool:
    """Streamlit shows a Stop button in its header while the script runs."""
    return "\nStop\n" in f"\n{text}\n"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    browser = Browser(tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


QUESTION = "Which merchants had the most fraud this week?"
TABS = {
    # tab: (query string, text the rendered page must contain)
    "score": ("tab=Score&score=example", "Fraud probability"),
    "agent": (f"tab=Agent&ask={QUESTION.replace(' ', '+')}", QUESTION),
}


@pytest.mark.parametrize("tab", list(TABS))
def test_each_tab_renders_from_the_real_api(ui_url: str, browser: Browser, tab: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    query, expected = TABS[tab]
    text = browser.open_until(f"{ui_url}/?{query}", expected, ARTIFACTS / f"{tab}.png")
    browser.screenshot(ARTIFACTS / f"{tab}.png")
    assert "Fraud analyst console" in text
    assert "Traceback" not in text
    assert "API connected" in text, text[:2000]
    assert (ARTIFACTS / f"{tab}.png").stat().st_size > 10_000


def test_serve_command_exists() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fraudlake.cli", "ui", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "--port" in done.stdout


def test_pipelines_tab_shows_the_clusters_pipelines_and_why_one_is_not_ready(
    ui_url: str, browser: Browser, pipelines_namespace: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "pipelines.png"
    text = browser.open_until(f"{ui_url}/?tab=Pipelines", "ConnectorNotReady", shot)
    browser.screenshot(shot, height=1350)
    assert "API connected" in text
    assert "Traceback" not in text
    for name in ("cards-eu", "cards-us", "atm"):
        assert f"{pipelines_namespace}/{name}" in text
    assert "1 / 2" in text  # cards-us: reconciled generation 1 of 2
    assert "task 0 is FAILED (S3 access denied)" in text  # its expander is open: it is not ready
    assert "No conditions yet" in text  # atm: never reconciled


def test_live_tab_shows_alerts_fraud_rate_and_top_merchants_from_clickhouse(
    ui_url: str, browser: Browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "live.png"
    text = browser.open_until(f"{ui_url}/?tab=Live", "SQL playground", shot)
    charts = "document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length"
    _wait_for(lambda: browser.evaluate(charts) >= 2, "fraud-rate and top-merchant charts", 60)
    browser.screenshot(shot, height=1350)
    for heading in ("Recent alerts", "Fraud rate, last 7 days", "Top merchants", "Top MCCs"):
        assert heading in text
    assert "API connected" in text
    for failure in ("Traceback", "not configured", "The API answered", "unreachable"):
        assert failure not in text


# The Model tab's charts, counted in its own panel (other tabs' charts are in the page too, hidden).
MODEL_CHARTS = """[...document.querySelectorAll('[role="tabpanel"]')]
  .filter(p => p.textContent.includes('Served model'))
  .map(p => [...p.querySelectorAll('.vega-embed canvas, .vega-embed svg')]
    .filter(c => c.getBoundingClientRect().width > 100).length)[0] || 0"""


def test_model_tab_shows_the_served_version_why_it_won_and_its_charts(
    ui_url: str, api_url: str, browser: Browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "model.png"
    report = httpx.get(f"{api_url}/v1/model/report", headers={"X-API-Key": API_KEY}, timeout=60).json()
    served = report["served"]
    text = browser.open_until(f"{ui_url}/?tab=Model", f"Served model {served['version']}", shot)
    # PR curves, metric bars with intervals, feature importance, outcomes by threshold.
    _wait_for(lambda: browser.evaluate(MODEL_CHARTS) >= 4, "the Model tab's four charts", 60)
    browser.screenshot(shot, height=2600)
    assert f"Why it won: {served['reason']}" in text
    for heading in (
        "How the candidates compare (test period)",
        "Precision-recall curves",
        "Metrics with 95% intervals",
        "Feature importance",
        "Decision thresholds",
        "Decision table (test period)",
    ):
        assert heading in text
    assert "Review at ≥" in text
    assert report["pr_curves"] is not None  # the test model is trained by the current code
    assert "API connected" in text
    for failure in ("Traceback", "not offered", "The API answered", "unreachable"):
        assert failure not in text
    assert shot.stat().st_size > 50_000
