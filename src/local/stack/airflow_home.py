"""One Airflow installation per local stack, shared by its processes and by in-process DAG runs.

The stack's `airflow` service runs the api-server (UI + REST API) and the dag-processor against a
SQLite metadata DB in its AIRFLOW_HOME. DAGs do not run in a scheduler locally: chDB allows one
engine per process, so the process that owns ClickHouse (the demo driver, the test session) runs
them with ``dag.test()``, and the UI shows those runs because they land in the same metadata DB.

Everything the processes must agree on (paths, DAG bundles, auth, the Fernet and JWT secrets) is
set by environment variables built in one place, :func:`airflow_env`, so the service's processes
and an in-process caller cannot drift apart.

Typical in-process use (before or after ``airflow`` was imported)::

    import_errors = prepare_dag_test(Path(record.endpoints["airflow_home"]))
    dag.test()
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from fraudlake.local.stack.paths import REPO_ROOT

DAGS_FOLDER = REPO_ROOT / "dags"
# The name Airflow gives the DAGs folder bundle; `airflow dags reserialize`/the UI use it too.
DAGS_BUNDLE = "dags-folder"
ADMIN_USER = "admin"

_SECRETS_FILE = "fraudlake-secrets.json"
_PASSWORDS_FILE = "simple_auth_manager_passwords.json"
_METADATA_DB = "airflow.db"
# host:port of the stack's StatsD exporter, written by the airflow service when it starts one.
STATSD_ADDRESS_FILE = "statsd-exporter.address"
# A new file in dags/ shows up in the UI within this many seconds (Airflow's default is 5 min).
_BUNDLE_REFRESH_SECONDS = 30


class AirflowNotInitializedError(RuntimeError):
    """The AIRFLOW_HOME has no migrated metadata DB: the stack's airflow service never started."""


def airflow_env(airflow_home: Path, extra_bundles: Mapping[str, Path] | None = None) -> dict[str, str]:
    """Environment for any Airflow process of the stack rooted at `airflow_home`.

    Creates the stack's secrets and admin password on first use (kept in `airflow_home`, mode
    0600). `extra_bundles` (name -> folder) adds DAG folders besides dags/, e.g. test fixtures;
    the stack's dag-processor parses only the dags/ bundle and leaves the others alone.
    """
    home = airflow_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    keys = _stack_secrets(home)
    _ensure_admin_password(home)
    bundles = {DAGS_BUNDLE: DAGS_FOLDER, **(extra_bundles or {})}
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / _METADATA_DB}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / _PASSWORDS_FILE),
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        # Task logs of in-process runs land where the api-server looks for them.
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [_local_bundle(name, folder) for name, folder in bundles.items()]
        ),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(_BUNDLE_REFRESH_SECONDS),
        **statsd_env(home),
    }


def statsd_env(airflow_home: Path) -> dict[str, str]:
    """Airflow's [metrics] StatsD settings when the stack runs an exporter, as the Helm chart sets them.

    Every Airflow process of the stack, in-process DAG runs included, sends to the same exporter, so
    the lake loader's metrics (fraudlake.lake.metrics) reach the stack's Prometheus as in the cluster.
    """
    address_file = airflow_home / STATSD_ADDRESS_FILE
    if not address_file.exists():
        return {}
    host, port = address_file.read_text().strip().rsplit(":", 1)
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": host,
        "AIRFLOW__METRICS__STATSD_PORT": port,
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }


def admin_password(airflow_home: Path) -> str:
    """The generated password of the stack's `admin` user (SimpleAuthManager's passwords file)."""
    return _ensure_admin_password(airflow_home.resolve())


def prepare_dag_test(
    airflow_home: Path, extra_bundles: Mapping[str, Path] | None = None
) -> dict[str, dict[str, str]]:
    """Make ``dag.test()`` in this process run against the stack's Airflow; returns import errors.

    :func:`configure` then :func:`reserialize` (DESIGN §12: ``dag.test()`` expects the DAG in the
    metadata DB; Airflow 3.3's ``dag.test()`` also syncs its own bundle, but reserializing every
    bundle up front lists all DAGs in the UI and reports broken DAG files before anything runs).
    """
    configure(airflow_home, extra_bundles)
    return reserialize()


def configure(airflow_home: Path, extra_bundles: Mapping[str, Path] | None = None) -> None:
    """Point this process's Airflow at the stack's metadata DB, so ``dag.test()`` records runs there.

    Sets the variables of :func:`airflow_env` in ``os.environ``. If Airflow was already imported
    (its configuration is read at import time), its settings, ORM and logging are re-initialised
    from them. Raises AirflowNotInitializedError if the stack's airflow service never migrated the DB.
    """
    home = airflow_home.resolve()
    if not (home / _METADATA_DB).exists():
        raise AirflowNotInitializedError(
            f"no Airflow metadata DB in {home}: start the stack first (`fraudlake stack up airflow`)"
        )
    os.environ.update(airflow_env(home, extra_bundles))
    if "airflow.settings" in sys.modules:
        _reload_airflow_settings()


def reserialize(bundle_names: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Parse the configured DAG bundles and write their serialized DAGs to the metadata DB.

    The in-process equivalent of ``airflow dags reserialize``: afterwards the UI lists the DAGs
    and ``dag.test()`` finds them. Call :func:`configure` first. Returns the import errors per
    bundle (file -> traceback); empty dicts mean every DAG file imported.
    """
    from airflow.dag_processing.bundles.base import unpack_bundle_version
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    wanted = set(bundle_names) if bundle_names is not None else None
    manager = DagBundlesManager()
    # This process may see only part of the stack's bundles: never disable the others.
    manager.sync_bundles_to_db(deactivate_missing=False)
    errors: dict[str, dict[str, str]] = {}
    for bundle in manager.get_all_dag_bundles():
        if wanted is not None and bundle.name not in wanted:
            continue
        bundle.initialize()
        dag_bag = BundleDagBag(bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        version, version_data = unpack_bundle_version(bundle.get_current_version(), bundle)
        with create_session() as session:
            sync_bag_to_db(dag_bag, bundle.name, version, version_data=version_data, session=session)
        errors[bundle.name] = dict(dag_bag.import_errors)
    return errors


def _local_bundle(name: str, folder: Path) -> dict[str, object]:
    return {
        "name": name,
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(folder.resolve())},
    }


def _stack_secrets(home: Path) -> dict[str, str]:
    """Fernet key (encrypts connections/variables in the DB) and JWT/session secrets, once per stack."""
    path = home / _SECRETS_FILE
    if not path.exists():
        _write_private_once(
            path,
            {
                "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "jwt_secret": secrets.token_urlsafe(32),
                "api_secret_key": secrets.token_urlsafe(32),
            },
        )
    return json.loads(path.read_text())


def _ensure_admin_password(home: Path) -> str:
    """SimpleAuthManager reads passwords from this JSON file and only generates missing ones."""
    path = home / _PASSWORDS_FILE
    if not path.exists():
        _write_private_once(path, {ADMIN_USER: secrets.token_urlsafe(18)})
    return str(json.loads(path.read_text())[ADMIN_USER])


def _write_private_once(path: Path, content: dict[str, str]) -> None:
    """Create `path` (mode 0600) atomically; if another process won the race, keep its file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(content, fh)
    try:
        os.link(tmp, path)  # fails if it exists: first writer wins, nobody sees a half file
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _reload_airflow_settings() -> None:
    """Airflow read its config when imported; make it follow the environment we just set."""
    from airflow import settings
    from airflow.configuration import conf
    from airflow.logging_config import configure_logging

    conf.invalidate_cache()
    settings.configure_vars()
    settings.reconfigure_orm()
    configure_logging()
