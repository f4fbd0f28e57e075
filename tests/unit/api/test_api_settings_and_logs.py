"""Settings fail fast without echoing secrets; logs are JSON lines with request ids."""

from __future__ import annotations

import json
import logging
import queue
import re
from collections.abc import Iterator
from typing import Any

import pytest
from api_kit import API_KEY, AUTH
from typer.testing import CliRunner

from fraudlake.agent.settings import AgentSettings
from fraudlake.api import logs
from fraudlake.api.logs import JsonFormatter, configure_logging, set_request_id
from fraudlake.api.main import create_app
from fraudlake.api.models import ANALYST_HEADER, analyst_from_header
from fraudlake.api.settings import SettingsError, load_settings
from fraudlake.cli import app as fraudlake_cli

pytestmark = pytest.mark.unit


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("FRAUDLAKE_API_KEYS", "FRAUDLAKE_API_KEY", "FRAUDLAKE_MODEL_URI", "FRAUDLAKE_S3_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_api_keys_are_required(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="FRAUDLAKE_API_KEYS: Field required"):
        load_settings()


@pytest.mark.parametrize(
    ("keys", "message"),
    [("changeme-changeme-changeme", "placeholder"), ("<your-api-key-goes-here>", "placeholder"),
     ("sh0rt-k3y", "shorter than 16")],
)  # fmt: skip
def test_placeholder_and_weak_keys_are_refused_without_echoing_them(
    clean_env: pytest.MonkeyPatch, keys: str, message: str
) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", f"{API_KEY},{keys}")
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings()
    assert API_KEY not in str(raised.value)
    assert keys not in str(raised.value)


def test_an_empty_key_list_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", " , ")
    with pytest.raises(SettingsError, match="one or more"):
        load_settings()


def test_keys_from_either_variable_and_comma_separated(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", f" {API_KEY} , second-key-0123456789 ")
    assert [k.get_secret_value() for k in load_settings().api_keys] == [API_KEY, "second-key-0123456789"]
    clean_env.delenv("FRAUDLAKE_API_KEYS")
    clean_env.setenv("FRAUDLAKE_API_KEY", API_KEY)  # the Helm chart's single-key name
    assert [k.get_secret_value() for k in load_settings().api_keys] == [API_KEY]


def test_placeholder_store_secret_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    clean_env.setenv("FRAUDLAKE_S3_SECRET_KEY", "CHANGEME")
    with pytest.raises(SettingsError, match="FRAUDLAKE_S3_SECRET_KEY"):
        load_settings()


@pytest.mark.parametrize(
    ("uri", "location"),
    [(None, ("s3", "fraudlake", "models")), ("s3://lake/prod/models", ("s3", "lake", "prod/models")),
     ("file:///srv/lake/models", ("file", "/srv/lake", "models"))],
)  # fmt: skip
def test_model_location(
    clean_env: pytest.MonkeyPatch, uri: str | None, location: tuple[str, str, str]
) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    if uri:
        clean_env.setenv("FRAUDLAKE_MODEL_URI", uri)
    assert load_settings().model_location() == location


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("FRAUDLAKE_AGENT_SQL_MAX_ROWS", "0", "greater than or equal to 1"),
     ("FRAUDLAKE_LLM_PROVIDER", "gpt-4", "'auto', 'bedrock' or 'offline'"),
     ("FRAUDLAKE_MODEL_POLL_SECONDS", "soon", "valid number")],
)  # fmt: skip
def test_a_bad_setting_of_any_part_stops_the_start_naming_its_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}: .*{re.escape(message)}"):
        create_app()
    result = CliRunner().invoke(fraudlake_cli, ["api", "serve"])
    assert result.exit_code == 2
    assert variable in result.output


def test_the_agent_settings_are_the_api_s_one_settings_object(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    clean_env.setenv("FRAUDLAKE_AGENT_SQL_MAX_ROWS", "7")
    settings = load_settings(clickhouse_database="cards")
    assert isinstance(settings, AgentSettings)
    assert (settings.agent_sql_max_rows, settings.collection_name()) == (7, "fraudlake_cards")


def test_json_log_lines_carry_the_request_id() -> None:
    set_request_id("req-42")
    record = logging.LogRecord("fraudlake.api", logging.INFO, __file__, 1, "scored %d", (3,), None)
    record.decision = "review"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "scored 3"
    assert line["request_id"] == "req-42"
    assert line["decision"] == "review"
    assert line["level"] == "info"
    assert line["ts"].endswith("Z")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    logs._stop_writer()
    root.handlers[:], root.level = handlers, level


def test_the_writer_thread_keeps_each_line_s_request_id_and_message(
    restore_root_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    log = logging.getLogger("fraudlake.api.test")
    values = [1]
    set_request_id("req-1")
    log.info("scored %s", values)
    values.append(2)  # changed after the call: the line shows what was logged
    set_request_id("req-2")  # the next request: the queued line keeps its own id
    log.debug("below the level")
    logs._stop_writer()  # flushes the queue
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert [(line["message"], line["request_id"]) for line in lines] == [("scored [1]", "req-1")]


def test_a_full_log_buffer_drops_and_counts_instead_of_blocking() -> None:
    records = logs._RecordBuffer(1)
    handler = logs._RequestQueueHandler(records)
    for n in range(3):
        handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "line %d", (n,), None))
    assert [records.get_nowait().getMessage()] == ["line 0"]
    assert handler.dropped == 2
    handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "line 3", None, None))
    # Room for one: the notice of the drops goes first, the new line is dropped (and counted) in turn.
    assert records.get_nowait().getMessage() == "2 log records dropped: the log writer fell behind"
    assert handler.dropped == 1
    handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "line 4", None, None))
    records.put_nowait(None)  # the writer's stop sentinel gets in even when the buffer is full
    assert [records.get_nowait(), records.get_nowait()][1] is None
    with pytest.raises(queue.Empty):
        records.get_nowait()


def test_each_request_writes_one_access_line_with_its_id(
    client: Any, transactions: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fraudlake.api.access"):
        response = client.post("/v1/score", json=transactions[1500], headers=AUTH)
    (line,) = [r for r in caplog.records if r.name == "fraudlake.api.access"]
    assert line.request_id == response.headers["x-request-id"]
    assert (line.route, line.status) == ("/v1/score", 200)
    assert line.duration_ms > 0
    assert API_KEY not in JsonFormatter().format(line)


def test_the_access_line_names_the_analyst_a_console_acts_for(
    client: Any, transactions: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    def access_line(**headers: str) -> logging.LogRecord:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="fraudlake.api.access"):
            client.post("/v1/score", json=transactions[1500], headers={**AUTH, **headers})
        (line,) = [r for r in caplog.records if r.name == "fraudlake.api.access"]
        return line

    # Percent-encoded UTF-8, as the console sends it (fraudlake.ui.client).
    encoded = "Ren%C3%A9e%20Roe%40bank.example"
    assert access_line(**{ANALYST_HEADER: encoded}).analyst == "Renée Roe@bank.example"
    assert not hasattr(access_line(), "analyst")
    assert access_line(**{ANALYST_HEADER: "%FF%FE"}).analyst == "<unreadable>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("  ", None), ("ana%40bank.example", "ana@bank.example"), ("local", "local")],
)
def test_analyst_header_values(raw: str | None, expected: str | None) -> None:
    assert analyst_from_header(raw) == expected


@pytest.mark.parametrize("raw", ["%FF", "a%0Ab", "x" * 255, "%E2%80%8Ftab%09"])
def test_unreadable_analyst_names_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=ANALYST_HEADER):
        analyst_from_header(raw)
