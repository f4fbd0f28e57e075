"""Scoring API benchmark: single-score latency under a fixed open-loop load, and batch throughput,
each against the same work done in-process.

Three processes on 127.0.0.1: the API (`fraudlake api serve`, one uvicorn worker, the model from a
local registry directory), a load generator (this file with `--load-generator`), and this driver.

- Latency: the generator sends POST /v1/score at a fixed rate (open loop: request i leaves at
  t0 + i/rate whatever happened to earlier ones, over a pool of keep-alive connections) for a
  bounded time. Latency runs from the scheduled send time to the last response byte, so a stalled
  server is charged for the requests it delays (no coordinated omission). Reference: the same
  requests scored in-process (`score_transactions` on the parsed transaction; the API adds HTTP,
  JSON, validation, auth, middleware), half of them back to back and half paced at the API's
  rate: a process that idles between requests finds its caches cold, and on this kind of VM that
  alone multiplies the cost of a score. The API's own time per request (its access log's
  duration, without HTTP parsing and network) is reported too.
- Batch: POST /v1/score/batch with 1,000 transactions, one at a time; transactions/s against
  `score_transactions` of the same 1,000 in-process (reasons for flagged rows, as the API's default).
  The bare `bundle.evaluate` of 1,000 ready feature rows is reported for context.

The transactions are one time-ordered stream of the data's last period, consumed in the same order
by the API and by the in-process reference (each with its own online state), so both do the same
work per request. Within a run the API goes first, then its reference; medians of the runs are
reported.

    uv run python bench/api.py                          # 3 runs of 15 s at 200 req/s
    uv run python bench/api.py --runs 5 --seconds 30

The model is the model kit's BENCH recipe (generated data, the model code's training, a few hundred
trees), trained once and cached (tests/model_kit.py). Writes bench/results/api.json (and a
timestamped copy). Goals: p50 ≤ 2 ms, p99 ≤ 10 ms, batch ≥ 0.5 × in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
API_KEY = "benchmark-only-key-7c1e5a90d3"
GOALS = {"p50_ms": 2.0, "p99_ms": 10.0, "batch_ratio": 0.5}


# -- load generator (its own process) ------------------------------------------------------------


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket, pending: bytearray) -> int:
    """Status of one HTTP/1.1 response with Content-Length, read to its last byte (`pending`: bytes
    already received beyond the previous response)."""
    while b"\r\n\r\n" not in pending:
        pending += sock.recv(65536)
    end = pending.index(b"\r\n\r\n") + 4
    lines = pending[:end].decode("latin-1").split("\r\n")
    length = next(
        int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length"
    )
    while len(pending) < end + length:
        pending += sock.recv(65536)
    del pending[: end + length]
    return int(lines[0].split()[1])


class OpenLoop:
    """Sends request i at t0 + i/rate from one thread (a sleep, then a short spin: microsecond timing,
    unlike an event loop's millisecond timers) over a pool of keep-alive connections, each with a
    reader thread. A request waiting for a free connection is late, and that wait counts in its
    latency. Requests are encoded before the clock starts."""

    def __init__(self, port: int, connections: int):
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
        for sock in self.socks:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.free: queue.Queue[int] = queue.Queue()
        self.inflight: list[queue.Queue[tuple[float, float] | None]] = [queue.Queue() for _ in self.socks]
        self.results: list[tuple[float, float, int]] = []
        self.readers = [
            threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(connections)
        ]
        for i, reader in enumerate(self.readers):
            self.free.put(i)
            reader.start()

    def _read(self, conn: int) -> None:
        pending = bytearray()
        while (item := self.inflight[conn].get()) is not None:
            status = _read_response(self.socks[conn], pending)
            done = time.perf_counter()
            self.results.append((done - item[0], done - item[1], status))
            self.free.put(conn)

    def run(self, bodies: list[bytes], rate: float) -> list[tuple[float, float, int]]:
        """(latency from scheduled send, latency from actual send, status) per request."""
        requests = [_request("/v1/score", body) for body in bodies]
        start = time.perf_counter() + 0.05
        for i, request in enumerate(requests):
            scheduled = start + i / rate
            _wait_until(scheduled)
            conn = self.free.get()
            sent = time.perf_counter()
            self.socks[conn].sendall(request)
            self.inflight[conn].put((scheduled, sent))
        for conn in range(len(self.socks)):
            self.inflight[conn].put(None)
        for reader in self.readers:
            reader.join()
        return self.results


SPIN_SECONDS = 0.0005  # the last stretch before a send is spun, not slept: a sleep wakes up late


def _wait_until(moment: float) -> None:
    """Returns at `moment` (perf_counter), give or take microseconds: sleeps, then spins the last
    half millisecond. A late wake-up would be charged to the server as latency from the scheduled
    time (timer slack alone is 50 µs; thread wake-ups on a busy VM, more)."""
    if (delay := moment - time.perf_counter() - SPIN_SECONDS) > 0:
        time.sleep(delay)
    while time.perf_counter() < moment:
        pass


def load_generator(port: int, bodies_file: Path, rate: float, connections: int, out: Path) -> None:
    bodies = [line.encode() for line in bodies_file.read_text().splitlines()]
    out.write_text(json.dumps(OpenLoop(port, connections).run(bodies, rate)))


# -- driver --------------------------------------------------------------------------------------


def _model_dir(workdir: Path) -> tuple[Any, Any, str]:
    sys.path.insert(0, str(REPO / "tests"))
    from model_kit import BENCH, trained_model

    from fraudlake.ml.registry import LocalStore, ModelRegistry

    files, frame = trained_model(BENCH)
    version = ModelRegistry(LocalStore(workdir / "lake"), "models").publish(files).version
    return files, frame, version


def _stream(frame: Any, count: int) -> list[dict[str, Any]]:
    """The data's last `count` transactions in time order: one stream that the API and the in-process
    reference both consume in the same order, so their histories (and work per request) match."""
    from model_kit import frame_records

    return frame_records(frame, len(frame) - count)


def _start_server(workdir: Path) -> tuple[int, int, Path]:
    from fraudlake.local.stack.process import free_port, spawn, wait_until

    port, log = free_port(), workdir / "api.log"
    env = {
        "FRAUDLAKE_API_KEYS": API_KEY,
        "FRAUDLAKE_MODEL_URI": f"file://{workdir}/lake/models",
        "FRAUDLAKE_LOG_LEVEL": "INFO",
    }
    pid = spawn("api", [sys.executable, "-m", "fraudlake.cli", "api", "serve", "--port", str(port)], log, env)

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)

    wait_until("api", ready, pid, log, timeout=180)
    return port, pid, log


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def bench_latency(
    port: int, bodies: list[dict[str, Any]], rate: float, connections: int, workdir: Path
) -> dict[str, Any]:
    bodies_file, out = workdir / "bodies.jsonl", workdir / "latencies.json"
    bodies_file.write_text("\n".join(json.dumps(b) for b in bodies))
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--load-generator",
            "--port",
            str(port),
            "--rate",
            str(rate),
            "--connections",
            str(connections),
            "--bodies",
            str(bodies_file),
            "--out",
            str(out),
        ],
        check=True,
    )
    results = json.loads(out.read_text())
    statuses = [r[2] for r in results]
    return {
        "requests": len(results),
        "non_200": sum(s != 200 for s in statuses),
        "scheduled": _percentiles([r[0] for r in results]),
        "service": _percentiles([r[1] for r in results]),
    }


class InProcess:
    """The scoring path without HTTP: same bundle and state code the API runs."""

    def __init__(self, files: dict[str, bytes]):
        from fraudlake.ml.artifact import FraudModel
        from fraudlake.pipeline.spec import SEED_RULES
        from fraudlake.scoring.bundle import ModelBundle
        from fraudlake.scoring.state import ServingState

        self.bundle = ModelBundle.load(FraudModel(files), "bench")
        self.state = ServingState(self.bundle.model.feature_config, SEED_RULES)

    def single(self, bodies: list[dict[str, Any]], rate: float | None = None) -> dict[str, float]:
        """Percentiles of one score per call: back to back, or at `rate` calls/s (the process idles
        between calls, as the API does under the open-loop load)."""
        from fraudlake.scoring.core import score_transactions
        from fraudlake.scoring.models import TransactionIn

        txns = [TransactionIn.model_validate(b) for b in bodies]
        seconds = []
        t0 = time.perf_counter()
        for i, txn in enumerate(txns):
            if rate:
                _wait_until(t0 + i / rate)  # paced like the load generator's sends
            start = time.perf_counter()
            score_transactions(self.bundle, self.state, [txn], "all")
            seconds.append(time.perf_counter() - start)
        return _percentiles(seconds)

    def batch(self, bodies: list[dict[str, Any]]) -> tuple[float, float]:
        """(transactions/s of score_transactions, rows/s of bare bundle.evaluate) on the same batch."""
        from fraudlake.scoring.core import score_transactions
        from fraudlake.scoring.models import TransactionIn

        txns = [TransactionIn.model_validate(b) for b in bodies]
        start = time.perf_counter()
        score_transactions(self.bundle, self.state, txns, "flagged")
        scored = len(txns) / (time.perf_counter() - start)
        x = np.random.default_rng(0).normal(size=(len(txns), self.bundle.feature_count)).astype(np.float32)
        start = time.perf_counter()
        self.bundle.evaluate(x, "flagged")
        return scored, len(txns) / (time.perf_counter() - start)


def api_batch(port: int, bodies: list[dict[str, Any]]) -> float:
    """Transactions/s of one POST /v1/score/batch (keep-alive connection already warm)."""
    payload = json.dumps({"transactions": bodies}).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        sock.sendall(_request("/v1/score/batch", payload))
        status = _read_response(sock, bytearray())
        elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"batch request failed with HTTP {status}")
    return len(bodies) / elapsed


def _read_blocking(sock: socket.socket) -> int:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length"
    )
    while len(rest) < length:
        rest += sock.recv(1 << 20)
    return int(lines[0].split()[1])


def main() -> None:
    args = _parse()
    if args.load_generator:
        load_generator(args.port, Path(args.bodies), args.rate, args.connections, Path(args.out))
        return
    from fraudlake.local.stack.process import stop_process_group

    workdir = Path(tempfile.mkdtemp(prefix="fraudlake-bench-api-"))
    print("model: training or loading the cached BENCH model …", flush=True)
    files, frame, version = _model_dir(workdir)
    reference = InProcess(files)
    port, pid, log = _start_server(workdir)
    load_before = os.getloadavg()
    runs = []
    try:
        count = int(args.rate * args.seconds)
        per_run = count + args.batches * args.batch_size
        stream = iter(_stream(frame, args.runs * per_run))
        for run in range(args.runs):
            bodies = [next(stream) for _ in range(count)]
            batches = [[next(stream) for _ in range(args.batch_size)] for _ in range(args.batches)]
            latency = bench_latency(port, bodies, args.rate, args.connections, workdir)
            # The reference takes the API's stream in the same order: the first half back to back,
            # the second at the API's rate (the same requests under the API's idle gaps).
            half = len(bodies) // 2
            in_process = reference.single(bodies[:half])
            in_process_paced = reference.single(bodies[half:], args.rate)
            api_rates = [api_batch(port, batch) for batch in batches]
            ref_rates = [reference.batch(batch) for batch in batches]
            runs.append(
                {
                    "latency": latency,
                    "in_process_single": in_process,
                    "in_process_single_paced": in_process_paced,
                    "api_batch_txn_per_s": statistics.median(api_rates),
                    "in_process_batch_txn_per_s": statistics.median(r[0] for r in ref_rates),
                    "bare_evaluate_rows_per_s": statistics.median(r[1] for r in ref_rates),
                }
            )
            print(
                f"run {run + 1}/{args.runs}: p50 {latency['scheduled']['p50_ms']:.2f} ms, "
                f"p99 {latency['scheduled']['p99_ms']:.2f} ms "
                f"(in-process p50 {in_process['p50_ms']:.2f} ms, paced {in_process_paced['p50_ms']:.2f}); "
                f"batch {runs[-1]['api_batch_txn_per_s']:.0f} txn/s vs in-process "
                f"{runs[-1]['in_process_batch_txn_per_s']:.0f}",
                flush=True,
            )
    finally:
        stop_process_group(pid)
    _report(args, runs, version, files, load_before, log)


def _server_side_p50(log: Path) -> float | None:
    """p50 of the API's own time per POST /v1/score (its access log's duration_ms: from the request
    entering the app to the response leaving it; no HTTP parsing or network)."""
    durations = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"route": "/v1/score"' in line:
            durations.append(json.loads(line)["duration_ms"])
    return float(np.percentile(durations, 50)) if durations else None


def _report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    version: str,
    files: dict[str, bytes],
    load_before: tuple[float, float, float],
    log: Path,
) -> None:
    def median(path: list[str]) -> float:
        values = []
        for run in runs:
            value: Any = run
            for key in path:
                value = value[key]
            values.append(value)
        return float(statistics.median(values))

    p50, p99 = median(["latency", "scheduled", "p50_ms"]), median(["latency", "scheduled", "p99_ms"])
    ref_p50 = median(["in_process_single", "p50_ms"])
    paced_p50 = median(["in_process_single_paced", "p50_ms"])
    api_batch_rate, ref_batch_rate = median(["api_batch_txn_per_s"]), median(["in_process_batch_txn_per_s"])
    model = json.loads(files["xgboost.json"])["learner"]
    summary = {
        "single_p50_ms": p50,
        "single_p99_ms": p99,
        "in_process_single_p50_ms": ref_p50,
        "ratio_api_p50_over_in_process_p50": p50 / ref_p50,
        "in_process_single_paced_p50_ms": paced_p50,
        "ratio_api_p50_over_in_process_paced_p50": p50 / paced_p50,
        "server_side_p50_ms": _server_side_p50(log),
        "service_p50_ms": median(["latency", "service", "p50_ms"]),
        "service_p99_ms": median(["latency", "service", "p99_ms"]),
        "batch_api_txn_per_s": api_batch_rate,
        "batch_in_process_txn_per_s": ref_batch_rate,
        "ratio_batch_api_over_in_process": api_batch_rate / ref_batch_rate,
        "bare_evaluate_rows_per_s": median(["bare_evaluate_rows_per_s"]),
        "non_200": sum(r["latency"]["non_200"] for r in runs),
    }
    goals = {
        "p50": p50 <= GOALS["p50_ms"],
        "p99": p99 <= GOALS["p99_ms"],
        "batch": summary["ratio_batch_api_over_in_process"] >= GOALS["batch_ratio"],
    }
    result = {
        "benchmark": "api",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "config": {
            "rate_per_s": args.rate,
            "seconds": args.seconds,
            "runs": args.runs,
            "connections": args.connections,
            "batch_size": args.batch_size,
            "batches_per_run": args.batches,
            "workers": 1,
        },
        "model": {
            "version": version,
            "trees": len(model["gradient_booster"]["model"]["trees"]),
            "features": int(model["learner_model_param"]["num_feature"]),
        },
        "summary": summary,
        "goals": GOALS,
        "goals_met": goals,
        "runs": runs,
        "server_log": str(log),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / "api.json").write_text(text)
    (RESULTS / f"api-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text)
    print(json.dumps({"summary": summary, "goals_met": goals}, indent=2))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="single-score requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each latency run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections of the generator")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=3, help="batch requests per run")
    parser.add_argument("--load-generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
