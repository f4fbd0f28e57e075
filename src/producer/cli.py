"""`fraudlake produce` (records to the pipeline's Kafka topics) and `fraudlake generate` (files).

Heavy imports (numpy, pyarrow, librdkafka) happen inside the commands so `fraudlake --help` stays fast.
"""

from __future__ import annotations

import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)

Rows = Annotated[int | None, typer.Option(help="Generate this many transactions (default: 100,000).")]
Seed = Annotated[int, typer.Option(help="Generator seed: same seed, same rows.")]
Start = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day of generated data.")]
End = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Stop before this day.")]
Users = Annotated[
    int | None,
    typer.Option(
        min=1, help="Only the first N real users and their cards (a smaller bank: rows span more days)."
    ),
]
FraudRate = Annotated[float, typer.Option(help="Share of fraudulent transactions (real data: 0.00122).")]
World = Annotated[
    str,
    typer.Option(
        help="calibrated: the documented fraud mechanisms' parameters; varied: every mechanism's "
        "parameters drawn from the seed, with disguised cash-outs and collusive merchants "
        "(fraudlake.producer.fraud_config).",
    ),
]
WORLDS = ("calibrated", "varied")
DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder with sd254_users.csv / sd254_cards.csv "
        "(default: FRAUDLAKE_TABFORMER_DIR or the vendored sample in data/)."
    ),
]


def _generator_config(
    rows: int | None,
    seed: int,
    start: datetime,
    end: datetime | None,
    fraud_rate: float,
    users: int | None = None,
    world: str = "calibrated",
) -> Any:
    from fraudlake.producer.fraud_config import FraudConfig
    from fraudlake.producer.generator import GeneratorConfig

    if rows is None and end is None:
        rows = 100_000
    return GeneratorConfig(
        seed=seed,
        start=start.date(),
        end=end.date() if end else None,
        rows=rows,
        users=users,
        fraud=FraudConfig.varied(seed, fraud_rate) if world == "varied" else FraudConfig(rate=fraud_rate),
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=code)


def _parse_properties(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise _fail(f"--producer-property expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def produce(
    bootstrap: Annotated[
        str | None,
        typer.Option(
            envvar="FRAUDLAKE_KAFKA_BOOTSTRAP",
            help="Kafka bootstrap servers (a running local stack sets it).",
        ),
    ] = None,
    namespace: Annotated[
        str, typer.Option(help="Pipeline namespace (topic fraudlake.<ns>.<pipeline>.*).")
    ] = "fraud",
    pipeline: Annotated[str, typer.Option(help="Pipeline name.")] = "demo",
    from_csv: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Replay a Kaggle transactions CSV instead of generating."
        ),
    ] = None,
    rows: Rows = None,
    seed: Seed = 42,
    start: Start = datetime(2015, 1, 1),
    end: End = None,
    fraud_rate: FraudRate = 0.0012,
    users: Users = None,
    data_dir: DataDir = None,
    streams: Annotated[
        str, typer.Option(help="Comma-separated streams to send.")
    ] = "users,cards,transactions",
    rate: Annotated[
        float | None, typer.Option(help="Transactions per second (token bucket); default: max.")
    ] = None,
    speedup: Annotated[
        float | None, typer.Option(help="Event-time replay, N times faster than real time.")
    ] = None,
    compression: Annotated[str, typer.Option(help="lz4, zstd, snappy, gzip or none.")] = "lz4",
    linger_ms: Annotated[int, typer.Option(help="librdkafka linger.ms (batching delay).")] = 50,
    batch_bytes: Annotated[int, typer.Option(help="librdkafka batch.size in bytes.")] = 1 << 20,
    delivery_timeout: Annotated[
        float, typer.Option(help="Seconds before an unacknowledged record fails.")
    ] = 120,
    producer_property: Annotated[list[str] | None, typer.Option(help="Extra librdkafka KEY=VALUE.")] = None,
    value_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="connect-json (schema+payload envelope), json (payload), avro (with --schema-registry).",
        ),
    ] = "connect-json",
    schema_registry: Annotated[
        str | None,
        typer.Option(
            envvar="FRAUDLAKE_SCHEMA_REGISTRY_URL", help="Confluent-compatible Schema Registry URL."
        ),
    ] = None,
    create_topics: Annotated[
        int | None, typer.Option(help="Create missing topics with N partitions.")
    ] = None,
    check_topics: Annotated[bool, typer.Option(help="Fail fast if a topic is missing.")] = True,
    state_file: Annotated[
        Path | None, typer.Option(help="Checkpoint file (default: .fraudlake/producer/<ns>.<pipeline>.json).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run recorded in --state-file.")] = False,
    progress: Annotated[
        bool | None, typer.Option(help="Progress bar (default: when stderr is a terminal).")
    ] = None,
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            envvar="FRAUDLAKE_OTLP_ENDPOINT",
            help="Trace produced chunks to this OTLP/HTTP collector (context in the records' headers).",
        ),
    ] = None,
) -> None:
    """Send users, cards and transactions to the pipeline's Kafka topics (idempotent, acks=all)."""
    from fraudlake.common import tracing
    from fraudlake.common.card_token import load_token_key
    from fraudlake.pipeline.naming import topic_name
    from fraudlake.producer.encoders import VALUE_FORMATS
    from fraudlake.producer.entities import tabformer_dir
    from fraudlake.producer.kafka_producer import ProducerError, ProducerSettings, ensure_topics
    from fraudlake.producer.produce_run import ProduceRun
    from fraudlake.producer.progress import RichReporter, print_summary
    from fraudlake.producer.sources import csv_source, generator_source

    if not bootstrap:
        raise _fail("no Kafka: pass --bootstrap or start the local one with `fraudlake stack up kafka`")
    if value_format not in VALUE_FORMATS:
        raise _fail(f"--format must be one of {', '.join(VALUE_FORMATS)}")
    if value_format == "avro" and not schema_registry:
        raise _fail("--format avro needs --schema-registry URL")
    try:
        tracing.configure_tracing("fraudlake-producer", otlp_endpoint)
        topics = {
            s.strip(): topic_name(namespace, pipeline, s.strip()) for s in streams.split(",") if s.strip()
        }
        settings = ProducerSettings(
            bootstrap=bootstrap,
            compression=compression,
            linger_ms=linger_ms,
            batch_bytes=batch_bytes,
            delivery_timeout_ms=int(delivery_timeout * 1000),
            rate=rate,
            speedup=speedup,
            extra=_parse_properties(producer_property or []),
        )
        settings.librdkafka_config()
        data = data_dir or tabformer_dir()
        key = load_token_key()
        source = (
            csv_source(from_csv, key, data)
            if from_csv
            else generator_source(_generator_config(rows, seed, start, end, fraud_rate, users), key, data)
        )
        if check_topics or create_topics:
            ensure_topics(bootstrap, list(topics.values()), create_topics)
        state = state_file or Path(".fraudlake") / "producer" / f"{namespace}.{pipeline}.json"
        show = progress if progress is not None else sys.stderr.isatty()
        with RichReporter(console, enabled=show) as reporter:
            run = ProduceRun(
                settings,
                topics,
                source,
                state_file=state,
                resume=resume,
                value_format=value_format,
                schema_registry=schema_registry,
                reporter=reporter,
            )
            _stop_on_signals(run)
            result = run.run()
    except (ProducerError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc), code=1 if isinstance(exc, ProducerError) else 2) from None
    finally:
        tracing.shutdown_tracing()
    print_summary(console, result, topics, state, source.csv_report)
    raise typer.Exit(code=result.exit_code)


def _stop_on_signals(run: Any) -> None:
    """Ctrl-C / SIGTERM: stop at the next chunk and flush; a second one stops waiting for the flush."""

    def handler(_signum: int, _frame: Any) -> None:
        if not run.request_stop():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def generate(
    out: Annotated[Path, typer.Option(help="Output file: .csv (exact Kaggle format) or .parquet.")],
    rows: Rows = None,
    seed: Seed = 42,
    start: Start = datetime(2015, 1, 1),
    end: End = None,
    fraud_rate: FraudRate = 0.0012,
    users: Users = None,
    world: World = "calibrated",
    data_dir: DataDir = None,
    with_truth: Annotated[
        bool, typer.Option(help="Parquet only: add fraud_mechanism / fraud_event.")
    ] = False,
    ledger: Annotated[Path | None, typer.Option(help="Write the fraud ground truth (JSON) here.")] = None,
    progress: Annotated[
        bool | None, typer.Option(help="Progress bar (default: when stderr is a terminal).")
    ] = None,
    chargebacks: Annotated[
        Path | None,
        typer.Option(
            help="Write each fraud's chargeback (delayed up to the 7-day label delay) to this Parquet "
            "file, in the ClickHouse labels table's columns."
        ),
    ] = None,
) -> None:
    """Write generated transactions to a file (streaming: any size in constant memory)."""
    from fraudlake.common.card_token import load_token_key
    from fraudlake.producer.entities import tabformer_dir
    from fraudlake.producer.progress import write_generated

    if out.suffix not in {".csv", ".parquet"}:
        raise _fail("--out must end in .csv or .parquet")
    if chargebacks is not None and chargebacks.suffix != ".parquet":
        raise _fail("--chargebacks must end in .parquet")
    if with_truth and out.suffix != ".parquet":
        raise _fail("--with-truth needs a .parquet output (the Kaggle CSV format has no such columns)")
    if world not in WORLDS:
        raise _fail(f"--world must be one of {', '.join(WORLDS)}")
    config = _generator_config(rows, seed, start, end, fraud_rate, users, world)
    show = progress if progress is not None else sys.stderr.isatty()
    try:
        write_generated(
            console,
            config,
            load_token_key(),
            data_dir or tabformer_dir(),
            out,
            with_truth,
            ledger,
            show,
            chargebacks,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
