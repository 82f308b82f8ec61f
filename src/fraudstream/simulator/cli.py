"""``fraudstream produce`` and ``fraudstream replay``."""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from fraudstream.config import Settings, load_settings
from fraudstream.simulator.banks import Bank, BankConfigError, load_banks, select_banks
from fraudstream.simulator.generator import DEFAULT_FRAUD_RATE, SCENARIO_SPAN_S, Generator
from fraudstream.simulator.producer import (
    LABEL_MODES,
    Counts,
    FileSink,
    KafkaSink,
    LabelStore,
    Progress,
    Sink,
    labels_path_for,
    run,
)

log = logging.getLogger(__name__)

# Simulated transactions per second of an unpaced run: above any rate we reach,
# so event time lags and is pulled forward to the wall clock, never ahead.
WALL_CLOCK_RATE = 10_000_000.0
DEFAULT_POPULATION_SEED = 1


def register(sub: Any) -> None:
    """Add ``produce`` and ``replay`` to the ``fraudstream`` parser."""
    produce = sub.add_parser(
        "produce",
        help="simulate banks: card transactions with labelled fraud scenarios, to Kafka or JSONL",
        description="Simulate the configured banks. Without --count or --duration it runs "
        "until Ctrl-C or SIGTERM, then flushes and exits 0.",
    )
    produce.add_argument(
        "--bank",
        action="append",
        metavar="ID",
        help="bank to simulate (repeatable, or 'all'); default: every configured bank",
    )
    produce.add_argument(
        "--rate",
        metavar="TX_PER_S",
        help="total send rate in transactions/s, split across the banks in their configured "
        "proportions, or 'max' for as fast as possible (default: the banks' configured rates; "
        "'max' with --output)",
    )
    stop_group = produce.add_mutually_exclusive_group()
    stop_group.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this many seconds"
    )
    stop_group.add_argument("--count", type=int, metavar="N", help="stop after N transactions")
    produce.add_argument(
        "--fraud-rate",
        type=float,
        default=DEFAULT_FRAUD_RATE,
        metavar="P",
        help="chance per transaction slot that a fraud scenario starts "
        f"(default {DEFAULT_FRAUD_RATE})",
    )
    produce.add_argument(
        "--seed",
        type=int,
        help="seed of the population and the stream: the same seed, banks and options give "
        "the same transactions, ids included (default: a random seed, logged at start)",
    )
    produce.add_argument(
        "--population-seed",
        type=int,
        default=None,
        help="seed of the users and cards alone (default: --seed when given, else "
        f"{DEFAULT_POPULATION_SEED}: the same customers every run, with a new stream)",
    )
    produce.add_argument(
        "--output",
        type=Path,
        metavar="FILE.jsonl",
        help="write JSONL here instead of Kafka (labels to FILE.labels.jsonl)",
    )
    produce.add_argument(
        "--banks-config",
        type=Path,
        metavar="FILE.yaml",
        help="bank configuration (default: the bundled banks.yaml)",
    )
    produce.add_argument(
        "--topic", help="transactions topic (default: FRAUDSTREAM_TOPIC_TRANSACTIONS)"
    )
    produce.add_argument("--labels-topic", help="labels topic (default: FRAUDSTREAM_TOPIC_LABELS)")
    produce.add_argument(
        "--labels",
        choices=LABEL_MODES,
        default="auto",
        help="where labels go: kafka (labels topic), postgres (fraud_labels), both, none; "
        "auto = both when PostgreSQL is reachable, else kafka (default auto)",
    )
    produce.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="producer processes sharing the rate; users are split between them (default 1)",
    )
    produce.set_defaults(func=cmd_produce)

    rep = sub.add_parser(
        "replay",
        help="validate a JSONL file of transactions and send the valid lines to Kafka",
        description="Each line is checked against the transaction contract; invalid lines are "
        "reported with their line number and reason and are not sent. Exit 0 when every line "
        "was valid and delivered, 1 otherwise.",
    )
    rep.add_argument("file", type=Path, metavar="FILE.jsonl", help="one transaction per line")
    rep.add_argument(
        "--rate",
        metavar="TX_PER_S",
        default="max",
        help="send rate in transactions/s, or 'max' (default max)",
    )
    rep.add_argument("--topic", help="target topic (default: FRAUDSTREAM_TOPIC_TRANSACTIONS)")
    rep.set_defaults(func=cmd_replay)


def _user_error(message: str) -> Exception:
    from fraudstream.cli import UserError

    return UserError(message)


def parse_rate(text: str | None) -> float | None:
    """'max' -> None (unlimited); otherwise a positive number."""
    if text is None or text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise _user_error(f"--rate must be a number or 'max', got {text!r}") from None
    if value <= 0:
        raise _user_error("--rate must be positive")
    return value


@dataclass(frozen=True)
class ProduceJob:
    """Everything one producer process needs (picklable for --processes)."""

    settings: Settings
    banks: tuple[Bank, ...]
    rate: float | None
    count: int | None
    duration: float | None
    fraud_rate: float
    seed: int
    population_seed: int
    output: Path | None
    topic: str
    labels_topic: str | None
    labels_db: bool
    label_file: bool
    start: float
    clock_rates: dict[str, float]
    follow_wall: bool = False
    part: int = 0
    parts: int = 1

    @property
    def title(self) -> str:
        return ",".join(b.bank_id for b in self.banks)


def plan(args: argparse.Namespace, settings: Settings) -> ProduceJob:
    try:
        banks = select_banks(load_banks(args.banks_config), args.bank)
    except BankConfigError as exc:
        raise _user_error(str(exc)) from None
    if args.rate is None and args.output is not None:
        rate: float | None = None
    elif args.rate is None:
        rate = sum(b.rate for b in banks)
    else:
        rate = parse_rate(args.rate)
    if args.count is not None and args.count <= 0:
        raise _user_error("--count must be positive")
    if args.duration is not None and args.duration <= 0:
        raise _user_error("--duration must be positive")
    if not 0 <= args.fraud_rate <= 1:
        raise _user_error("--fraud-rate must be between 0 and 1")
    if args.processes < 1:
        raise _user_error("--processes must be at least 1")
    if args.output is not None and rate is None and args.count is None:
        raise _user_error("--output at 'max' rate needs --count")
    configured = sum(b.rate for b in banks)
    now = time.time()
    follow_wall = False
    if rate is None and args.count is not None:
        # A bounded batch as fast as possible: the recent past at the banks'
        # own rhythm, so per-card behaviour is realistic and nothing is future.
        total_clock = configured
        start = now - args.count / total_clock - SCENARIO_SPAN_S
    elif rate is None:
        # Unbounded and unpaced: event time follows the wall clock.
        total_clock, follow_wall = WALL_CLOCK_RATE, True
        start = now
    else:
        # Paced: one simulated second per second, event time = send time.
        total_clock = rate
        start = now
    clock_rates = {b.bank_id: b.rate * total_clock / configured for b in banks}
    mode = args.labels
    if args.output is not None:
        labels_topic, labels_db, label_file = None, False, mode != "none"
    else:
        if mode == "auto":
            mode = "both" if LabelStore.reachable(settings.dsn) else "kafka"
            log.info("labels go to %s", "Kafka and PostgreSQL" if mode == "both" else "Kafka")
        labels_topic = (
            (args.labels_topic or settings.topic_labels) if mode in ("kafka", "both") else None
        )
        labels_db, label_file = mode in ("postgres", "both"), False
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    log.info("seed %d (pass --seed %d to reproduce this stream)", seed, seed)
    # Without --seed the stream is new each run but the banks' customers are
    # the same ones: a card keeps its home country and habits across restarts
    # (the detection job keeps their profiles).
    population_seed = args.population_seed
    if population_seed is None:
        population_seed = seed if args.seed is not None else DEFAULT_POPULATION_SEED
    return ProduceJob(
        settings=settings,
        banks=tuple(banks),
        rate=rate,
        count=args.count,
        duration=args.duration,
        fraud_rate=args.fraud_rate,
        seed=seed,
        population_seed=population_seed,
        output=args.output,
        topic=args.topic or settings.topic_transactions,
        labels_topic=labels_topic,
        labels_db=labels_db,
        label_file=label_file,
        start=start,
        clock_rates=clock_rates,
        follow_wall=follow_wall,
        parts=args.processes,
    )


def _share(total: int | None, part: int, parts: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if part < total % parts else 0)


def make_sink(job: ProduceJob) -> Sink:
    if job.output is not None:
        path = job.output
        if job.parts > 1:
            path = path.with_name(f"{path.stem}.part{job.part}{path.suffix}")
        return FileSink(path, labels_path_for(path) if job.label_file else None)
    store = LabelStore(job.settings.dsn) if job.labels_db else None
    return KafkaSink(job.settings, job.topic, labels_topic=job.labels_topic, label_store=store)


def horizon(job: ProduceJob) -> float | None:
    """Event time by which a bounded run's scenarios must end (None: unbounded).

    Scenario steps add records on top of the slots, so a run of N records
    ends before N slots of simulated time: keep a margin for that.
    """
    if job.duration is not None:
        return job.start + job.duration
    if job.count is not None:
        return job.start + 0.8 * job.count / sum(job.clock_rates.values())
    return None


def produce_part(
    job: ProduceJob,
    stop: threading.Event | Any,
    progress: Progress | None,
    on_tick: Any = None,
) -> Counts:
    gen = Generator(
        job.banks,
        seed=job.seed,
        population_seed=job.population_seed,
        fraud_rate=job.fraud_rate,
        start=job.start,
        clock_rates=job.clock_rates,
        follow_wall=job.follow_wall,
        part=job.part,
        parts=job.parts,
        horizon=horizon(job),
    )
    rate = None if job.rate is None else job.rate / job.parts
    return run(
        gen,
        make_sink(job),
        rate=rate,
        count=_share(job.count, job.part, job.parts),
        duration=job.duration,
        stop=stop,
        progress=progress,
        on_tick=on_tick,
    )


def _install_stop(stop: Any) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame, signum
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _report(title: str, counts: Counts, elapsed: float) -> int:
    # Time spent sending, without building the population or starting processes.
    elapsed = counts.elapsed or elapsed
    rate = counts.delivered / elapsed if elapsed > 0 else 0.0
    print(
        f"{title}: sent {counts.sent:,}, delivered {counts.delivered:,}, failed {counts.failed:,}, "
        f"labels {counts.labels:,} in {elapsed:.1f} s ({rate:,.0f} tx/s delivered)",
        flush=True,
    )
    if counts.errors:
        print(f"errors: {counts.error_summary()}", file=sys.stderr)
    return 0 if counts.failed == 0 and counts.labels_failed == 0 else 1


def cmd_produce(args: argparse.Namespace) -> int:
    job = plan(args, load_settings())
    started = time.monotonic()
    if job.parts == 1:
        stop = threading.Event()
        _install_stop(stop)
        counts = produce_part(job, stop, Progress(job.title))
    else:
        counts = _produce_parallel(job)
    return _report(job.title, counts, time.monotonic() - started)


FIELDS = 5  # sent, delivered, failed, labels, elapsed ms per child


def _child(job: ProduceJob, stop: Any, counters: Any) -> None:
    _install_stop(stop)
    logging.basicConfig(level=logging.WARNING)
    base = job.part * FIELDS

    def tick(counts: Counts) -> None:
        counters[base : base + FIELDS] = [
            counts.sent,
            counts.delivered,
            counts.failed,
            counts.labels,
            int(counts.elapsed * 1000),
        ]

    counts = produce_part(job, stop, None, on_tick=tick)
    if counts.errors:
        print(f"part {job.part} errors: {counts.error_summary()}", file=sys.stderr)
    if counts.failed or counts.labels_failed:
        sys.exit(1)


def _produce_parallel(job: ProduceJob) -> Counts:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    counters = ctx.Array("q", FIELDS * job.parts, lock=False)
    _install_stop(stop)
    children = [
        ctx.Process(target=_child, args=(replace(job, part=p), stop, counters), daemon=False)
        for p in range(job.parts)
    ]
    for child in children:
        child.start()
    progress = Progress(f"{job.title} x{job.parts}")
    started = time.monotonic()

    def total() -> Counts:
        values = list(counters)
        sent, delivered, failed, labels = (sum(values[i::FIELDS]) for i in range(4))
        elapsed = max(values[4::FIELDS]) / 1000.0
        return Counts(sent, delivered, failed, labels, elapsed=elapsed)

    while any(c.is_alive() for c in children):
        stop.wait(0.5)
        elapsed = time.monotonic() - started
        counts = total()
        progress.show(counts.sent / elapsed if elapsed else 0.0, counts)
        if stop.is_set():
            break
    for child in children:
        child.join()
    counts = total()
    progress.show(counts.sent / max(1e-9, time.monotonic() - started), counts, final=True)
    broken = [c.exitcode for c in children if c.exitcode != 0]
    if broken:
        counts.errors[f"{len(broken)} producer process(es) reported failures: {broken}"] += 1
        counts.failed = max(counts.failed, 1)
    return counts


def cmd_replay(args: argparse.Namespace) -> int:
    from fraudstream.simulator.replay import Rejected, replay

    settings = load_settings()
    if not args.file.is_file():
        raise _user_error(f"{args.file} is not a readable file")
    rate = parse_rate(args.rate)
    stop = threading.Event()
    _install_stop(stop)

    def on_reject(item: Rejected) -> None:
        print(f"{args.file}:{item.line}: {item.reason}: {item.detail}", file=sys.stderr)

    sink = KafkaSink(settings, args.topic or settings.topic_transactions)
    started = time.monotonic()
    report = replay(
        sink, args.file, rate=rate, stop=stop, progress=Progress("replay"), on_reject=on_reject
    )
    _report(f"replay {args.file}", report.counts, time.monotonic() - started)
    print(f"valid lines {report.valid:,}, invalid {len(report.rejected):,}, blank {report.blank:,}")
    return 0 if report.complete and not report.rejected else 1
