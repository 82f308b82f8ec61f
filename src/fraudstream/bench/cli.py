"""Sub-commands of the bench area: ``fraudstream bench throughput|latency|quality|drain|chaos``.

Each run submits its own detection job on its own topics, writes
``results/<timestamp>-<kind>/`` (result.json, report.md, PNG plots), logs its
progress while it runs, and stops by itself within a bounded time.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of rates: {text}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return tuple(sorted(rates))


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    bench = sub.add_parser(
        "bench",
        help="measure throughput, latency and detection quality",
        description="Benchmarks against the running stack. Each run uses its own topics and "
        "job instance(s), cleans up after itself and writes results/<timestamp>-<kind>/.",
    )
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND")
    kinds.required = True

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--results-dir",
            type=Path,
            default=Path("results"),
            help="where run folders go (default: ./results)",
        )
        parser.add_argument(
            "--short",
            action="store_true",
            help="a quick run (seconds, not minutes) for tests and smoke checks",
        )
        parser.add_argument(
            "--rules",
            type=Path,
            default=None,
            help="rule catalogue YAML for the job (default: the bundled one)",
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the run's topics and archive rows afterwards"
        )

    tp = kinds.add_parser("throughput", help="highest rate the whole pipeline sustains")
    common(tp)
    tp.add_argument(
        "--rates",
        type=_rates,
        default=None,
        help="offered rates in tx/s, comma-separated (default 1000,...,50000)",
    )
    tp.add_argument(
        "--step-seconds",
        type=_positive,
        default=None,
        help="seconds per rate step (default 60, --short 8)",
    )
    tp.add_argument(
        "--lag-bound-seconds",
        type=_positive,
        default=None,
        help="a step fails when the job's backlog exceeds this many seconds of traffic "
        "(default: 5 s; the archive flushes every 200 ms)",
    )
    tp.set_defaults(func=_throughput)

    lat = kinds.add_parser("latency", help="append-to-alert and append-to-archive latency")
    common(lat)
    lat.add_argument("--rate", type=_positive, default=None, help="tx/s (default 500)")
    lat.add_argument(
        "--duration", type=_positive, default=None, help="measured seconds (default 60, --short 10)"
    )
    lat.add_argument(
        "--alert-every",
        type=int,
        default=20,
        help="one transaction in N is designed to alert (default 20)",
    )
    lat.set_defaults(func=_latency)

    qual = kinds.add_parser("quality", help="precision/recall/F1 on a labelled scenario stream")
    common(qual)
    qual.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    qual.add_argument(
        "--transactions",
        type=int,
        default=None,
        help="legitimate transactions in the stream (default 90000 over 3 h of event time, "
        "--short 3000 over 1.5 h)",
    )
    qual.add_argument(
        "--scenarios",
        type=int,
        default=None,
        help="injected attacks per scenario type (default 20, --short 3)",
    )
    qual.add_argument(
        "--rate", type=_positive, default=None, help="sending rate tx/s (default 2000)"
    )
    qual.add_argument(
        "--no-baseline", action="store_true", help="skip the seed-baseline rule pack comparison"
    )
    qual.set_defaults(func=_quality)

    drain = kinds.add_parser(
        "drain",
        help="how fast the job works through a backlog (its capacity)",
        description="Produce a backlog into the run's topic, then start the job on it and time "
        "how fast the archive fills. No producer competes with the job while it is measured.",
    )
    common(drain)
    drain.add_argument(
        "--transactions",
        type=int,
        default=None,
        help="transactions in the backlog (default 500000, --short 5000)",
    )
    drain.add_argument(
        "--cards",
        type=int,
        default=None,
        help="distinct cards in the backlog (default 20000: ~25 transactions per card, so "
        "every card has history; --short 500)",
    )
    drain.set_defaults(func=_drain)

    chaos = kinds.add_parser(
        "chaos",
        help="kill stack processes one at a time under load; reconcile archive and alerts",
        description="Send the labelled stream at a steady rate while a broker, the "
        "TaskManager, the JobManager, PostgreSQL (and a controller, with three) are killed "
        "with SIGKILL one at a time and restarted by the supervisor; then reconcile every "
        "transaction id against the archive and every expected alert against the alerts "
        "topic, and report each fault's recovery time. Needs the local stack.",
    )
    common(chaos)
    chaos.add_argument("--rate", type=_positive, default=None, help="tx/s (default 1000)")
    chaos.add_argument(
        "--faults",
        default=None,
        help="comma-separated, in order (default broker,taskmanager,jobmanager,postgres,"
        "controller; --short taskmanager); controller only with FRAUDSTREAM_KAFKA_CONTROLLERS=3",
    )
    chaos.add_argument(
        "--fault-interval",
        type=_positive,
        default=None,
        help="seconds from one kill to the next, at least (default 90, --short 40)",
    )
    chaos.add_argument(
        "--current-within",
        type=_positive,
        default=5.0,
        help="a sink is current when it holds everything appended more than this many "
        "seconds ago (default 5)",
    )
    chaos.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    chaos.set_defaults(func=_chaos)


def _execute(
    args: argparse.Namespace,
    kind: str,
    body: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any], list[str]], str],
    plots: Callable[[dict[str, Any], Any], list[str]],
    run_dir_hook: dict[str, Path] | None = None,
    **pipeline_kw: Any,
) -> int:
    from fraudstream.bench import report, session
    from fraudstream.config import load_settings

    if args.rules is not None:
        from fraudstream.cli import UserError
        from fraudstream.detection.rules import CatalogueError, load_catalogue

        try:
            load_catalogue(args.rules)
        except CatalogueError as exc:
            raise UserError(str(exc)) from exc
    settings = load_settings()
    run_dir = report.RunDir.create(args.results_dir, kind)
    if run_dir_hook is not None:
        run_dir_hook["path"] = run_dir.path
    log.info("bench %s: results in %s", kind, run_dir.path)
    try:
        with session.pipeline(settings, keep=args.keep, rules=args.rules, **pipeline_kw) as pipe:
            result = body(pipe)
    except Exception as exc:
        # Leave a trace of the failed run next to the successful ones.
        run_dir.write_json({"kind": kind, "error": f"{type(exc).__name__}: {exc}"})
        raise
    result["short"] = bool(args.short)
    result["started"] = run_dir.started.isoformat()
    result["command"] = "fraudstream bench " + " ".join(args.argv_echo)
    images = plots(result, run_dir)
    run_dir.write_json(result)
    run_dir.write_markdown(markdown(result, images))
    print(run_dir.path)
    if not result["job"]["available"]:
        log.error("the detection job was not available: %s", result["job"]["detail"])
        return 1
    return 0


def _throughput(args: argparse.Namespace) -> int:
    from fraudstream.bench import throughput as tp

    options = tp.ThroughputOptions(
        rates=args.rates or (tp.SHORT_RATES if args.short else tp.DEFAULT_RATES),
        step_seconds=args.step_seconds or (8.0 if args.short else 60.0),
        lag_bound_seconds=args.lag_bound_seconds,
        progress_every=2.0 if args.short else 5.0,
    )
    args.argv_echo = _echo(args, "throughput")
    return _execute(args, "throughput", lambda p: tp.run(p, options), tp.markdown, tp.plots)


def _latency(args: argparse.Namespace) -> int:
    from fraudstream.bench import latency as lat

    options = lat.LatencyOptions(
        rate=args.rate or 500.0,
        duration=args.duration or (10.0 if args.short else 60.0),
        alert_every=max(1, args.alert_every),
        warmup_seconds=3.0 if args.short else 10.0,
        settle_seconds=15.0 if args.short else 30.0,
    )
    args.argv_echo = _echo(args, "latency")
    return _execute(args, "latency", lambda p: lat.run(p, options), lat.markdown, lat.plots)


def _quality(args: argparse.Namespace) -> int:
    from fraudstream.bench import quality as q

    options = q.QualityOptions(
        seed=args.seed,
        transactions=args.transactions or (3000 if args.short else 90000),
        span_seconds=5400.0 if args.short else 10800.0,
        per_scenario=args.scenarios or (3 if args.short else 20),
        lookalikes=1 if args.short else 20,
        rate=args.rate or 2000.0,
        baseline=not args.no_baseline,
        settle_seconds=20.0 if args.short else 90.0,
    )
    args.argv_echo = _echo(args, "quality")
    return _execute(
        args,
        "quality",
        lambda p: q.run(p, options),
        q.markdown,
        q.plots,
        baseline_pack=None if args.no_baseline else q.BASELINE_PACK,
    )


def _drain(args: argparse.Namespace) -> int:
    from fraudstream.bench import drain as dr

    count = args.transactions or (5000 if args.short else 500_000)
    cards = args.cards or (500 if args.short else 20_000)
    if count <= 0 or cards <= 0:
        from fraudstream.cli import UserError

        raise UserError("--transactions and --cards must be positive")
    options = dr.DrainOptions(
        transactions=count,
        cards=cards,
        timeout_seconds=120.0 if args.short else 900.0,
    )
    args.argv_echo = _echo(args, "drain")
    return _execute(
        args, "drain", lambda p: dr.run(p, options), dr.markdown, dr.plots, submit_job=False
    )


def _chaos(args: argparse.Namespace) -> int:
    from fraudstream.bench import chaos as ch
    from fraudstream.cli import UserError
    from fraudstream.config import load_settings

    settings = load_settings()
    if not (settings.kafka_local and settings.flink_local and settings.postgres_local):
        raise UserError(
            "bench chaos kills and restarts the local stack's processes; it cannot run "
            "against an external Kafka, Flink or PostgreSQL"
        )
    wanted = (
        tuple(f.strip() for f in args.faults.split(",") if f.strip())
        if args.faults
        else (("taskmanager",) if args.short else ch.DEFAULT_ORDER)
    )
    try:
        ch.applicable_faults(settings, wanted)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    short = bool(args.short)
    options = ch.ChaosOptions(
        rate=args.rate or (200.0 if short else 1000.0),
        faults=wanted,
        warmup_seconds=15.0 if short else 30.0,
        fault_interval=args.fault_interval or (40.0 if short else 90.0),
        quiet_seconds=5.0 if short else 15.0,
        tail_seconds=10.0 if short else 30.0,
        recovery_timeout=120.0 if short else 180.0,
        current_within=args.current_within,
        seed=args.seed,
        per_scenario=3 if short else 40,
        settle_seconds=60.0 if short else 120.0,
        progress_every=3.0 if short else 5.0,
    )
    args.argv_echo = _echo(args, "chaos")
    folder: dict[str, Path] = {}

    def body(pipe: Any) -> dict[str, Any]:
        return ch.run(pipe, options, folder["path"])

    def markdown(result: dict[str, Any], images: list[str]) -> str:
        for line in ch.summary_lines(result):
            log.info("chaos: %s", line)
        return ch.markdown(result, images)

    return _execute(args, "chaos", body, markdown, ch.plots, run_dir_hook=folder)


def _echo(args: argparse.Namespace, kind: str) -> list[str]:
    import sys

    argv = sys.argv[1:]
    if kind in argv:
        return argv[argv.index(kind) :]
    return [kind]
