"""MinIO command line and per-stack root credentials."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fraudlake.local.stack.services.minio import root_credentials, server_args, server_env

pytestmark = pytest.mark.unit


def test_root_credentials_are_random_per_stack_and_stable_within_one(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first = root_credentials(tmp_path / "a")
    again = root_credentials(tmp_path / "a")
    (tmp_path / "b").mkdir()
    other = root_credentials(tmp_path / "b")
    assert first == again
    assert other["secret_key"] != first["secret_key"]
    assert len(first["secret_key"]) >= 24  # MinIO needs >= 8 characters; we want far more
    assert stat.S_IMODE((tmp_path / "a" / "root-credentials.json").stat().st_mode) == 0o600


def test_server_listens_on_loopback_only(tmp_path: Path) -> None:
    args = server_args(Path("/bin/minio"), tmp_path, 9000, 9001)
    assert args[:3] == ["/bin/minio", "server", str(tmp_path)]
    assert "--address=127.0.0.1:9000" in args
    assert "--console-address=127.0.0.1:9001" in args


def test_server_env_sets_root_credentials_and_disables_update_checks() -> None:
    env = server_env({"access_key": "ak", "secret_key": "sk"})
    assert env["MINIO_ROOT_USER"] == "ak"
    assert env["MINIO_ROOT_PASSWORD"] == "sk"
    assert env["MINIO_UPDATE"] == "off"
