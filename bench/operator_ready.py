"""Operator benchmark: 50 FraudPipelines applied at once until all are Ready, apply → Ready per
pipeline, and the operator's peak RSS; against one pipeline alone on the same operator.

What runs (all on this machine): the local stack's real kube-apiserver + etcd with the Strimzi CRDs
(`fraudlake stack` code, kube service) and its chDB data directory (clickhouse service); the
FraudPipeline CRD applied with kubectl; ClickHouse (see --clickhouse below); the operator as its
own process (`fraudlake operator run --namespace …`, default settings), reading the ClickHouse DSN
from the pipelines' Secret as in any cluster; and a Strimzi stand-in. There is no Strimzi here, so the
integration tests' `FakeStrimzi` (tests/integration/fake_strimzi.py) writes the status Strimzi
writes on success (observedGeneration + Ready) to every KafkaTopic and KafkaConnector the operator
creates, polling every 0.2 s: no Kafka topic or connector is made, so the figures are the
operator's work (API reads/writes, DDL in ClickHouse, retries) plus a prompt Strimzi.

ClickHouse, `--clickhouse`:

- `http` (default, the production shape): the local ClickHouse server (`fraudlake clickhouse serve`,
  the HTTP interface in front of chDB) runs as its own process on the stack's chDB data directory,
  started once for all runs; the Secret holds its http://user:password@… DSN, so the operator talks
  HTTP as to a ClickHouse server in a cluster and never loads chDB. The server's RSS is reported
  apart from the operator's (its peak per run: the kernel's high-water mark, reset at each run's start).
- `chdb`: the operator itself opens the chdb:// DSN and hosts the engine (one engine per process),
  as before the server existed; its RSS then includes the engine, whose share is measured in a
  reference process (the operator's imports, a chDB engine on a scratch directory, the same DDL for
  as many databases as the run created): peak − share estimates the operator alone.

Each run starts a fresh operator, reconciles one warm-up pipeline (its first ClickHouse call opens
the HTTP connection pool, or the chDB engine), then:

- reference: one pipeline applied alone, apply → Ready (× 50 = the same work done one by one);
- batch: 50 pipelines in one `kubectl apply` (the integration tests' pipeline: 4 topics, the lake
  sink connector, the default rules; deletionPolicy Delete); per pipeline the time from the start
  of the apply to the watch event that shows it Ready (condition Ready=True for its current
  generation), p50/p95; the batch time is the last of them;
- the operator's handler attempts per pipeline (from its log: retries while Strimzi catches up);
- the operator's RSS: at idle, after the warm-up, after the batch (anonymous vs file-backed), and
  its peak (the kernel's high-water mark VmHWM; a 0.25 s sampler runs alongside);
- clean-up: every pipeline deleted (deletionPolicy Delete), timed until the finalizers are done.

Ratio printed: batch time / (50 × single-pipeline time); below 1 means the operator overlaps
pipelines rather than reconciling them one after another. Most of a lone pipeline's time is the
operator's retry delay (FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS, default 10 s): the first attempt
creates the children and finds them not yet Ready, the retry finds them Ready.

Medians over the runs are reported.

    uv run python bench/operator_ready.py                       # throw-away local stack, 3 runs, http
    uv run python bench/operator_ready.py --stack-dir .fraudlake/stack --runs 5 --pipelines 50
    uv run python bench/operator_ready.py --clickhouse chdb     # the operator hosts the engine

Writes bench/results/operator.json (and a timestamped copy). Goals: 50 Ready within 60 s, operator
RSS ≤ 250 MB (the operator process; in http mode the ClickHouse server is reported next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client, config, watch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fraudlake.common.background import BackgroundThread
from fraudlake.local.chdb_http.process import LocalClickHouseServer
from fraudlake.local.stack import manager
from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.process import free_port, run_checked, spawn, stop_process_group, wait_until
from fraudlake.local.stack.service import StackContext
from fraudlake.operator.crd_schema import packaged_crd_yaml
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GOALS = {"all_ready_s": 60.0, "rss_mb": 250.0}
console = Console(stderr=True)

# The chDB share of the operator's memory: a process with the operator's imports opens an engine on
# a scratch directory and applies the same DDL to as many databases as the run created.
ENGINE_CHILD = """
import json, sys
import fraudlake.operator.handlers
from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
def mb(field):
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024
before = mb("VmRSS")
client = connect("chdb://" + sys.argv[1])
for i in range(int(sys.argv[2])):
    apply_schema(client, render_statements(SchemaParams(f"engine_probe_{i}")))
print(json.dumps({"rss_before_engine_mb": before, "rss_peak_mb": mb("VmHWM"),
                  "rss_anon_mb": mb("RssAnon"), "rss_file_mb": mb("RssFile")}))
"""

sys.path.insert(0, str(REPO / "tests" / "integration"))
from fake_strimzi import FakeStrimzi  # noqa: E402 - the tests' Strimzi stand-in
from fraudpipeline_kit import dsn_secret, pipeline_manifest  # noqa: E402

# -- the world: API server, CRD, namespaces ------------------------------------------------------


class Cluster:
    """The stack's API server, the FraudPipeline CRD, and the bench's two namespaces."""

    def __init__(self, kubeconfig: str, dsn: str, workdir: Path) -> None:
        self.kubeconfig, self.dsn, self.workdir = kubeconfig, dsn, workdir
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.custom = client.CustomObjectsApi(self.api)
        self.kubectl = [str(kubectl_binary()), f"--kubeconfig={kubeconfig}", f"--cache-dir={workdir / 'kc'}"]
        suffix = uuid.uuid4().hex[:6]
        # A bare API server never finishes deleting a namespace: fresh names, created once.
        self.namespace, self.kafka_namespace = f"fpbench-{suffix}", f"fpbench-kafka-{suffix}"

    def prepare(self) -> None:
        crd = workdir_file(self.workdir, "crd.yaml", packaged_crd_yaml())
        log = self.workdir / "kubectl.log"
        run_checked(
            [*self.kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(crd)], log, "CRD"
        )
        name = yaml.safe_load(packaged_crd_yaml())["metadata"]["name"]
        run_checked([*self.kubectl, "wait", "--for=condition=Established", f"crd/{name}"], log, "CRD wait")
        core = client.CoreV1Api(self.api)
        for namespace in (self.namespace, self.kafka_namespace):
            core.create_namespace({"metadata": {"name": namespace}})
        core.create_namespaced_secret(self.namespace, dsn_secret(self.namespace, self.dsn))

    def manifests(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            pipeline_manifest(
                self.namespace,
                self.kafka_namespace,
                name,
                f"fpb_{name.replace('-', '_')}",
                deletionPolicy="Delete",
            )
            for name in names
        ]

    def apply(self, names: list[str]) -> float:
        """`kubectl apply` of the pipelines in one call; returns its wall time."""
        started = time.perf_counter()
        done = subprocess.run(
            [*self.kubectl, "apply", "-f", "-"],
            input=yaml.safe_dump_all(self.manifests(names)),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"kubectl apply failed: {done.stderr}")
        return time.perf_counter() - started

    def pipeline_names(self) -> list[str]:
        items = self.custom.list_namespaced_custom_object(
            naming.GROUP, naming.VERSION, self.namespace, naming.PLURAL
        )["items"]
        return [item["metadata"]["name"] for item in items]

    def delete_all(self, timeout: float) -> float:
        """Delete every pipeline and wait until the operator's finalizer let them go; wall time."""
        started = time.perf_counter()
        self.custom.delete_collection_namespaced_custom_object(
            naming.GROUP, naming.VERSION, self.namespace, naming.PLURAL
        )
        deadline = started + timeout
        while self.pipeline_names():
            if time.perf_counter() > deadline:
                raise SystemExit(f"pipelines not deleted within {timeout:.0f}s: {self.pipeline_names()}")
            time.sleep(0.25)
        return time.perf_counter() - started


def workdir_file(workdir: Path, name: str, text: str) -> Path:
    path = workdir / name
    path.write_text(text)
    return path


# -- observing: Ready times, RSS -----------------------------------------------------------------


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the current generation (what `kubectl wait --for=condition=Ready` waits for)."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))


class ReadyWatch(BackgroundThread):
    """Watches the namespace's FraudPipelines and records when each was first seen Ready."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.ready_at: dict[str, float] = {}
        listing = cluster.custom.list_namespaced_custom_object(
            naming.GROUP, naming.VERSION, cluster.namespace, naming.PLURAL
        )
        self._version = listing["metadata"]["resourceVersion"]
        super().__init__("ready-watch")

    def _run(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                self.cluster.custom.list_namespaced_custom_object,
                naming.GROUP,
                naming.VERSION,
                self.cluster.namespace,
                naming.PLURAL,
                resource_version=self._version,
                timeout_seconds=2,
            )
            for event in stream:
                seen = time.perf_counter()
                obj = event["object"]
                self._version = obj["metadata"]["resourceVersion"]
                name = obj["metadata"]["name"]
                if event["type"] != "DELETED" and name not in self.ready_at and is_ready(obj):
                    self.ready_at[name] = seen

    def wait(self, names: list[str], timeout: float, progress: Progress | None = None) -> None:
        task = progress.add_task("pipelines Ready", total=len(names)) if progress else None
        deadline = time.perf_counter() + timeout
        while (done := sum(name in self.ready_at for name in names)) < len(names):
            if progress and task is not None:
                progress.update(task, completed=done)
            if time.perf_counter() > deadline:
                missing = [n for n in names if n not in self.ready_at]
                raise SystemExit(
                    f"not Ready within {timeout:.0f}s: {len(missing)} pipelines, e.g. {missing[:3]}"
                )
            time.sleep(0.05)
        if progress and task is not None:
            progress.update(task, completed=len(names))


class RssSampler(BackgroundThread):
    """Samples a process's resident set (VmRSS) from /proc; `peak_mb` also reads the kernel's VmHWM."""

    join_timeout = 5.0

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.samples_mb: list[float] = []
        super().__init__("rss-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples_mb.append(proc_status_mb(self.pid, "VmRSS"))

    def peak_mb(self) -> float:
        return proc_status_mb(self.pid, "VmHWM")


def proc_status_mb(pid: int, field: str) -> float:
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


def maps_chdb(pid: int) -> bool:
    """Whether the process has chDB's engine library mapped (it must not, on an HTTP DSN)."""
    return "chdb" in Path(f"/proc/{pid}/maps").read_text()


def reset_peak_rss(pid: int) -> None:
    """Reset the kernel's high-water mark (VmHWM) of our own child to its current RSS (proc(5) clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# -- the operator process ------------------------------------------------------------------------

_HANDLER_LINE = re.compile(
    r"\[(?P<ns>[^/\]\s]+)/(?P<name>[^\]\s]+)\] Handler 'reconcile_pipeline' (?P<what>\w+)"
)


class Operator:
    """`fraudlake operator run` in its own process group, ready when its liveness probe answers."""

    def __init__(self, cluster: Cluster, log: Path) -> None:
        self.cluster, self.log = cluster, log
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "fraudlake.cli",
            "operator",
            "run",
            f"--namespace={cluster.namespace}",
            f"--liveness=http://127.0.0.1:{self.port}/healthz",
        ]
        self.pid = spawn("operator", argv, log, {"KUBECONFIG": cluster.kubeconfig})
        wait_until("operator", self._live, self.pid, log, timeout=120, what="for /healthz")

    def _live(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def handler_attempts(self, names: list[str]) -> dict[str, int]:
        """reconcile_pipeline attempts per pipeline (successes + temporary failures) from the log."""
        wanted = set(names)
        counts: Counter[str] = Counter()
        for match in _HANDLER_LINE.finditer(self.log.read_text(errors="replace")):
            if match["ns"] == self.cluster.namespace and match["name"] in wanted:
                counts[match["name"]] += 1
        return {name: counts[name] for name in names}

    def stop(self) -> None:
        stop_process_group(self.pid)


# -- one run ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed_ready(cluster: Cluster, names: list[str], timeout: float, progress: Progress | None = None) -> dict:
    """Apply `names` in one kubectl call; seconds from the start of the apply to each one Ready."""
    with ReadyWatch(cluster) as watcher:
        started = time.perf_counter()
        apply_s = cluster.apply(names)
        watcher.wait(names, timeout, progress)
    latencies = [watcher.ready_at[name] - started for name in names]
    return {"apply_s": apply_s, "ready_s": latencies, "all_ready_s": max(latencies)}


def one_run(
    cluster: Cluster, run: int, pipelines: int, timeout: float, server: LocalClickHouseServer | None
) -> dict:
    """One fresh operator through warm-up, single, batch and clean-up; `server`: the http mode's."""
    log = cluster.workdir / f"operator-run{run}.log"
    if server:
        reset_peak_rss(server.pid)
    operator = Operator(cluster, log)
    try:
        with RssSampler(operator.pid) as rss:
            memory = {"rss_idle_mb": proc_status_mb(operator.pid, "VmRSS")}
            timed_ready(cluster, [f"warmup-{run}"], timeout)
            cluster.delete_all(timeout)
            memory["rss_after_warmup_mb"] = proc_status_mb(operator.pid, "VmRSS")
            single = timed_ready(cluster, [f"single-{run}"], timeout)["all_ready_s"]
            cluster.delete_all(timeout)
            names = [f"p{run}-{i:03d}" for i in range(pipelines)]
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console, transient=True) as progress:
                batch = timed_ready(cluster, names, timeout, progress)
            memory |= {
                f"rss_{kind}_after_batch_mb": proc_status_mb(operator.pid, field)
                for kind, field in (("total", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile"))
            }
            attempts = operator.handler_attempts(names)
            memory["operator_maps_chdb"] = maps_chdb(operator.pid)
            cleanup_s = cluster.delete_all(timeout)
            memory["rss_peak_mb"] = rss.peak_mb()
        memory["rss_peak_sampled_mb"] = max(rss.samples_mb, default=0.0)
    finally:
        operator.stop()
    if server:
        memory |= {
            "server_rss_after_run_mb": proc_status_mb(server.pid, "VmRSS"),
            "server_rss_peak_mb": proc_status_mb(server.pid, "VmHWM"),
        }
    else:
        engine = engine_reference(cluster.workdir / f"engine-run{run}", pipelines + 2)
        engine_share = engine["rss_peak_mb"] - engine["rss_before_engine_mb"]
        memory |= {
            "engine_reference": engine,
            "engine_share_mb": engine_share,
            "rss_peak_without_engine_mb": memory["rss_peak_mb"] - engine_share,
        }
    ready = batch["ready_s"]
    return {
        "single_ready_s": single,
        "apply_s": batch["apply_s"],
        "all_ready_s": batch["all_ready_s"],
        "p50_ready_s": percentile(ready, 50),
        "p95_ready_s": percentile(ready, 95),
        "ratio_vs_sequential": batch["all_ready_s"] / (pipelines * single),
        "handler_attempts": dict(Counter(attempts.values())),
        "cleanup_s": cleanup_s,
        **memory,
        "ready_s": ready,
        "operator_log": str(log),
    }


def engine_reference(data_dir: Path, schemas: int) -> dict[str, float]:
    """RSS of a process with the operator's imports and a chDB engine holding `schemas` databases."""
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_CHILD, str(data_dir), str(schemas)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"engine reference failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- report ----------------------------------------------------------------------------------------


def summarize(runs: list[dict], pipelines: int, clickhouse: str) -> dict:
    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    keys = [
        "single_ready_s",
        "apply_s",
        "all_ready_s",
        "p50_ready_s",
        "p95_ready_s",
        "ratio_vs_sequential",
        "cleanup_s",
        "rss_idle_mb",
        "rss_after_warmup_mb",
        "rss_total_after_batch_mb",
        "rss_anon_after_batch_mb",
        "rss_file_after_batch_mb",
        "rss_peak_mb",
    ]
    if clickhouse == "http":
        keys += ["server_rss_after_run_mb", "server_rss_peak_mb"]
    else:
        keys += ["engine_share_mb", "rss_peak_without_engine_mb"]
    medians = {f"median_{key}": median(key) for key in keys}
    summary = {
        "pipelines": pipelines,
        "runs": len(runs),
        "clickhouse": clickhouse,
        **medians,
        "max_rss_peak_mb": max(run["rss_peak_mb"] for run in runs),
        "operator_maps_chdb": any(run["operator_maps_chdb"] for run in runs),
        "goals": GOALS,
        "ready_goal_met": medians["median_all_ready_s"] <= GOALS["all_ready_s"],
        "rss_goal_met": medians["median_rss_peak_mb"] <= GOALS["rss_mb"],
    }
    if clickhouse == "chdb":
        summary["rss_goal_met_without_engine"] = (
            medians["median_rss_peak_without_engine_mb"] <= GOALS["rss_mb"]
        )
    return summary


def summary_lines(summary: dict) -> list[str]:
    s, n = summary, summary["pipelines"]
    lines = [
        f"{n} pipelines Ready in {s['median_all_ready_s']:.1f} s (goal ≤ {GOALS['all_ready_s']:.0f} s: "
        f"{'met' if s['ready_goal_met'] else 'missed'}); apply → Ready p50 {s['median_p50_ready_s']:.1f} s, "
        f"p95 {s['median_p95_ready_s']:.1f} s",
        f"one pipeline alone {s['median_single_ready_s']:.1f} s: batch = "
        f"{s['median_ratio_vs_sequential']:.2f} × ({n} × single = {n * s['median_single_ready_s']:.0f} s); "
        f"kubectl apply of {n} {s['median_apply_s']:.1f} s; deletion of {n} {s['median_cleanup_s']:.1f} s",
        f"operator peak RSS {s['median_rss_peak_mb']:.0f} MB (max {s['max_rss_peak_mb']:.0f}; goal ≤ "
        f"{GOALS['rss_mb']:.0f} MB: {'met' if s['rss_goal_met'] else 'missed'}; ClickHouse over "
        f"{s['clickhouse']}, chDB {'loaded' if s['operator_maps_chdb'] else 'not loaded'}); "
        f"idle {s['median_rss_idle_mb']:.0f} MB, after {n}: anon "
        f"{s['median_rss_anon_after_batch_mb']:.0f} + file-backed "
        f"{s['median_rss_file_after_batch_mb']:.0f} MB",
    ]
    if s["clickhouse"] == "http":
        lines.append(
            f"local ClickHouse server (its own process, the chDB engine): peak RSS "
            f"{s['median_server_rss_peak_mb']:.0f} MB per run, {s['median_server_rss_after_run_mb']:.0f} MB "
            "after the run"
        )
    else:
        lines.append(
            f"in-process chDB engine share {s['median_engine_share_mb']:.0f} MB (reference process); "
            f"peak without it ≈ {s['median_rss_peak_without_engine_mb']:.0f} MB "
            f"({'met' if s['rss_goal_met_without_engine'] else 'missed'} for an operator on an HTTP DSN)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--stack-dir", type=Path, help="use (and keep) this local stack; default: a temporary one"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for Ready or deletion")
    parser.add_argument(
        "--clickhouse",
        choices=("http", "chdb"),
        default="http",
        help="http: the local ClickHouse server as its own process (default); chdb: in the operator",
    )
    args = parser.parse_args()

    temporary = args.stack_dir is None
    ctx = StackContext(args.stack_dir or Path(tempfile.mkdtemp(prefix="fraudlake-bench-operator-")))
    workdir = Path(tempfile.mkdtemp(prefix="fraudlake-bench-operator-work-"))
    load_before = os.getloadavg()
    runs = []
    server: LocalClickHouseServer | None = None
    try:
        services = manager.up(ctx, ["kube", "clickhouse"])
        dsn = services["clickhouse"].endpoints["dsn"]
        if args.clickhouse == "http":
            server = LocalClickHouseServer(
                Path(urlsplit(dsn).path),
                workdir / "clickhouse-server.log",
                password=secrets.token_urlsafe(12),
            )
            server.start()
            dsn = server.dsn
        cluster = Cluster(services["kube"].endpoints["kubeconfig"], dsn, workdir)
        cluster.prepare()
        with FakeStrimzi(cluster.api):
            for run in range(args.runs):
                runs.append(one_run(cluster, run, args.pipelines, args.timeout, server))
                print(run_line(runs[-1], run, args.runs, args.pipelines), flush=True)
    finally:
        if server:
            server.stop()
        if temporary:
            manager.down(ctx)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "clickhouse": args.clickhouse,
        "operator_settings": OperatorSettings().model_dump(),
        "strimzi": "FakeStrimzi status writer (tests/integration/fake_strimzi.py), 0.2 s poll",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": runs,
    }
    result["summary"] = summarize(runs, args.pipelines, args.clickhouse)
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / "operator.json").write_text(text + "\n")
    (RESULTS / f"operator-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(text + "\n")
    print(json.dumps(result["summary"], indent=2))
    for line in summary_lines(result["summary"]):
        print(line)


def run_line(r: dict, run: int, runs: int, pipelines: int) -> str:
    clickhouse = (
        f"server peak RSS {r['server_rss_peak_mb']:.0f} MB"
        if "server_rss_peak_mb" in r
        else f"engine share {r['engine_share_mb']:.0f} MB"
    )
    return (
        f"run {run + 1}/{runs}: {pipelines} Ready in {r['all_ready_s']:.1f} s "
        f"(p50 {r['p50_ready_s']:.1f} s, p95 {r['p95_ready_s']:.1f} s), single "
        f"{r['single_ready_s']:.1f} s, ratio {r['ratio_vs_sequential']:.2f}, "
        f"operator peak RSS {r['rss_peak_mb']:.0f} MB ({clickhouse}), "
        f"handler attempts per pipeline {r['handler_attempts']}"
    )


if __name__ == "__main__":
    main()
