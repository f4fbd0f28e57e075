"""Does the Airflow image carry what the chart values configure? Checked inside a rehearsed image.

The upstream Airflow chart (helm/values/airflow.yaml) picks an executor, a metadata database and remote
task logging; each needs a provider or driver in the image, and a missing one only shows when a pod
starts on the cluster. Here the values are turned into Airflow's own environment (AIRFLOW__SECTION__KEY)
and the image's Python is asked to load what Airflow itself would load at start-up: the executor class
through Airflow's ExecutorLoader, the metadata database's SQLAlchemy dialect and DB-API driver, and the
logging settings module, which imports the remote log handler for the configured URL scheme.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Runs inside the image's interpreter; prints one marked line per requirement it could load (Airflow logs
# its own warnings on stdout too).
_PROBE = """
from airflow.configuration import conf
from airflow.executors.executor_loader import ExecutorLoader
executor, _ = ExecutorLoader.import_default_executor_cls()
print("REQ executor", executor.__module__ + "." + executor.__qualname__)
import sqlalchemy
engine = sqlalchemy.create_engine(conf.get("database", "sql_alchemy_conn"))
print("REQ metadata-db", engine.dialect.name, engine.dialect.driver)
from airflow.config_templates import airflow_local_settings as settings
print("REQ remote-logging", type(settings.REMOTE_TASK_LOG).__name__ if settings.REMOTE_LOGGING else "off")
"""


class AirflowImageError(Exception):
    """The image lacks a provider or driver the chart values need; the message says which."""


def airflow_environment(values: Mapping[str, Any], metadata_url: str) -> dict[str, str]:
    """The AIRFLOW__* variables the chart derives from `values` (executor, config sections, metadata DB)."""
    env = {
        "AIRFLOW__CORE__EXECUTOR": str(values["executor"]),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
    }
    for section, options in (values.get("config") or {}).items():
        for key, value in options.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return env


def check_airflow_image(
    python: Path, values: Mapping[str, Any], metadata_url: str, airflow_home: Path
) -> dict[str, str]:
    """Load the configured executor, DB driver and remote log handler in `python`; what each resolved to.

    Raises AirflowImageError with the interpreter's last error line (e.g. the missing provider module).
    """
    env = {**os.environ, **airflow_environment(values, metadata_url), "AIRFLOW_HOME": str(airflow_home)}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    airflow_home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(python), "-c", _PROBE],
        cwd=airflow_home,  # not the checkout: its operator/ folder would shadow the stdlib module
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        reason = next((ln for ln in reversed(result.stderr.splitlines()) if ln.strip()), "no output")
        raise AirflowImageError(
            f"the image cannot run the configured Airflow (executor {values['executor']}, "
            f"metadata DB {metadata_url.split(':', 1)[0]}://…): {reason}"
        )
    found = (line.split(" ", 2) for line in result.stdout.splitlines() if line.startswith("REQ "))
    return {name: what for _, name, what in found}
