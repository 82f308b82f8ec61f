"""`fraudstream bench quality`: how well the rules catch labelled fraud.

The simulator's generator (fixed seed) yields legitimate traffic with a fixed
number of injected attacks of every scenario, evenly spread in event time,
plus the ground-truth label of each attack transaction. The stream goes
through the run's job (the default catalogue) and, in the same run on the
same topic, through a second job instance with only the ``seed-baseline``
pack enabled, which writes to its own alerts topic. Alerts are read back as a
read-committed consumer and scored by ``metrics.evaluate``.

The stream's event time ends at about the moment sending starts (a replay of
the recent past at the sending rate), so each card keeps a customer's
rhythm; a tail of legitimate traffic after the last attack lets event-time
windows close. Bank ids are suffixed with the run id so the run's archive
rows can be told apart and removed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from fraudstream.bench import report
from fraudstream.bench.loadgen import PacedProducer
from fraudstream.bench.metrics import AlertSeen, evaluate
from fraudstream.bench.probes import AlertListener, Archive
from fraudstream.bench.resources import machine
from fraudstream.bench.session import Pipeline
from fraudstream.records import FraudLabel

log = logging.getLogger(__name__)

BASELINE_PACK = "seed-baseline"
TAIL_SECONDS = 120.0  # legitimate traffic after the stream's horizon
LONGEST_SCENARIO_SECONDS = 55 * 60.0
WARMUP_SHARE = 0.3
"""Share of the span before the first attack: cards build some history first."""


@dataclass(frozen=True)
class QualityOptions:
    seed: int = 42
    transactions: int = 90_000  # legitimate transactions before the tail
    per_scenario: int = 20
    lookalikes: int = 20  # honest look-alike episodes of each kind, besides the banks' rate
    span_seconds: float = 3 * 3600.0  # event time covered by the stream
    rate: float = 2000.0
    baseline: bool = True
    settle_seconds: float = 45.0
    quiet_seconds: float = 8.0


@dataclass
class Stream:
    records: list[tuple[str, bytes, bytes]]  # (transaction_id, key, value) in send order
    labels: list[FraudLabel]
    scenarios: dict[str, int]  # scenario -> instances injected
    bank_ids: list[str]
    event_at: dict[str, float]  # transaction id -> event time (epoch s)
    event_start: float
    event_end: float


def build_rows(
    options: QualityOptions, *, now: float | None = None
) -> tuple[list[tuple[Any, Any]], dict[str, int], float, float]:
    """The labelled stream as simulator rows with their labels (None for
    honest ones), the attacks injected per scenario, and the event-time
    start and end; reproducible from ``options.seed``."""
    from fraudstream.simulator.banks import load_banks
    from fraudstream.simulator.generator import Generator
    from fraudstream.simulator.scenarios import LOOKALIKES, SCENARIOS

    banks = load_banks()
    if options.span_seconds < LONGEST_SCENARIO_SECONDS * 1.5:
        raise ValueError(f"span must be at least {LONGEST_SCENARIO_SECONDS * 1.5:.0f}s")
    total_rate = options.transactions / options.span_seconds
    configured = sum(b.rate for b in banks)
    clock_rates = {b.bank_id: total_rate * b.rate / configured for b in banks}
    tail = int(total_rate * TAIL_SECONDS) + 1
    # Ends about now: the stream is the recent past, replayed fast.
    end = (time.time() if now is None else now) - TAIL_SECONDS
    start = end - options.span_seconds
    gen = Generator(
        banks=banks,
        seed=options.seed,
        fraud_rate=0.0,
        start=start,
        clock_rates=clock_rates,
        horizon=end,
    )
    names = sorted(SCENARIOS)
    injected = dict.fromkeys(names, 0)
    slots = options.per_scenario * len(names)
    first = start + WARMUP_SHARE * options.span_seconds
    last = end - LONGEST_SCENARIO_SECONDS
    for slot in range(slots):
        name = names[slot % len(names)]
        at = first + (last - first) * slot / max(1, slots - 1)
        if gen.inject(name, at=at):
            injected[name] += 1
    honest = sorted(LOOKALIKES)
    slots = options.lookalikes * len(honest)
    for slot in range(slots):
        at = first + (last - first) * (slot + 0.5) / max(1, slots)
        gen.inject_lookalike(honest[slot % len(honest)], at=at)
    rows: list[tuple[Any, Any]] = []
    legit = 0
    while legit < options.transactions + tail:
        for row, label in gen.batch(min(1000, options.transactions + tail - legit)):
            rows.append((row, label))
            if label is None:
                legit += 1
    while gen.pending:
        rows.append(gen.pop_pending())
    return rows, injected, start, end + TAIL_SECONDS


def build_stream(options: QualityOptions, run_id: str, *, now: float | None = None) -> Stream:
    """The labelled stream, reproducible from ``options.seed`` (ids included)."""
    from fraudstream.simulator.rows import Timestamps, encode

    rows, injected, start, end = build_rows(options, now=now)
    suffix = f"-{run_id}"
    stamp = Timestamps()
    records: list[tuple[str, bytes, bytes]] = []
    labels: list[FraudLabel] = []
    bank_ids: set[str] = set()
    event_at: dict[str, float] = {}

    def add(row: Any, label: Any) -> None:
        event_at[row[0]] = row[9]
        bank = row[1] + suffix
        bank_ids.add(bank)
        tagged = (row[0], bank, *row[2:])
        # Keyed by user id, as the simulated banks key theirs (never by card
        # number: a key is stored in clear): a user's transactions, over all
        # their cards, stay in order in one partition.
        records.append((row[0], str(row[4]).encode(), encode(tagged, stamp)))
        if label is not None:
            labels.append(
                FraudLabel(
                    label.transaction_id,
                    label.scenario_id,
                    label.scenario,
                    label.step,
                    label.is_trigger,
                )
            )

    for row, label in rows:
        add(row, label)
    return Stream(records, labels, injected, sorted(bank_ids), event_at, start, end)


class _ListSource:
    def __init__(self, records: list[tuple[str, bytes, bytes]]) -> None:
        self._iter = iter(records)

    def make(self) -> tuple[str, bytes, bytes, bool]:
        tx_id, key, value = next(self._iter)
        return tx_id, key, value, True


def run(pipe: Pipeline, options: QualityOptions) -> dict[str, Any]:
    result: dict[str, Any] = {
        "kind": "quality",
        "machine": machine(),
        "options": asdict(options),
        "job": pipe.job_info(),
    }
    try:
        stream = build_stream(options, pipe.run_id)
    except ImportError as exc:
        result["stream"] = {"available": False, "detail": f"simulator not available: {exc}"}
        return result
    result["stream"] = {
        "available": True,
        "transactions": len(stream.records),
        "fraud_transactions": len(stream.labels),
        "scenarios": stream.scenarios,
        "bank_ids": stream.bank_ids,
        "event_span_seconds": round(stream.event_end - stream.event_start),
    }
    pipe.bank_ids.extend(stream.bank_ids)
    if pipe.job is None:
        return result

    rule_sets: dict[str, str] = {"catalogue": pipe.settings.topic_alerts}
    if options.baseline:
        handle = pipe.extra_jobs.get("baseline")
        if handle is not None:
            rule_sets[BASELINE_PACK] = handle.alerts_topic
            result["baseline"] = {"available": True, "job_id": handle.job_id}
        else:
            result["baseline"] = {"available": False, "detail": pipe.baseline_missing}
            log.warning("baseline pack not measured: %s", pipe.baseline_missing)

    seen: dict[str, list[AlertSeen]] = {name: [] for name in rule_sets}
    lock = threading.Lock()
    listeners = []
    for name, topic in rule_sets.items():

        def on_alert(alert: dict[str, Any], received: float, name: str = name) -> None:
            with lock:
                seen[name].append(
                    AlertSeen(
                        str(alert.get("alert_id")),
                        str(alert.get("rule_id")),
                        str(alert.get("transaction_id")),
                        received,
                        str(alert.get("last_transaction_id") or ""),
                        tuple(str(t) for t in alert.get("evidence") or ()),
                        str(alert.get("case_id") or ""),
                    )
                )

        listeners.append(AlertListener(pipe.settings, topic, on_alert).start())

    sent_at: dict[str, float] = {}

    def on_ack(tx_id: str, appended: float, acked: float) -> None:
        del acked
        sent_at[tx_id] = appended

    producer = PacedProducer(
        pipe.settings,
        pipe.settings.topic_transactions,
        _ListSource(stream.records),
        on_ack=on_ack,
        track=lambda _: True,
    )
    archives = [Archive(pipe.settings, bank) for bank in stream.bank_ids]
    try:
        log.info(
            "quality: sending %d transactions (%d fraud, %s) at %.0f tx/s",
            len(stream.records),
            len(stream.labels),
            stream.scenarios,
            options.rate,
        )
        started = time.monotonic()
        while not producer.exhausted:
            producer.run(options.rate, 5.0)
            with lock:
                counts = {k: len(v) for k, v in seen.items()}
            log.info(
                "  %4.0fs  sent %d/%d  alerts %s",
                time.monotonic() - started,
                producer.stats.acked,
                len(stream.records),
                counts,
            )
        producer.flush(30)
        deadline = time.monotonic() + options.settle_seconds
        while time.monotonic() < deadline:
            archived = sum(a.transactions() for a in archives)
            quiet = min(time.monotonic() - listener.last_seen for listener in listeners)
            if archived >= len(stream.records) and quiet >= options.quiet_seconds:
                break
            time.sleep(1.0)
        result["archived"] = sum(a.transactions() for a in archives)
    finally:
        for listener in listeners:
            listener.stop()
        for archive in archives:
            archive.close()
        producer.flush(10)
    result["sent"] = producer.stats.acked
    scores: dict[str, Any] = {}
    for name in rule_sets:
        scored = evaluate(
            stream.labels,
            seen[name],
            sent_at,
            total_transactions=len(stream.records),
            event_at=stream.event_at,
        )
        scores[name] = scored.to_dict()
    result["rule_sets"] = scores
    return result


def markdown(result: dict[str, Any], images: list[str]) -> str:
    lines = [
        "# Detection quality",
        "",
        report.machine_lines(result["machine"]),
        report.job_line(result["job"]),
    ]
    stream = result.get("stream", {})
    if not stream.get("available"):
        lines.append(f"**Labelled stream: not available** ({stream.get('detail')}).\n")
        return "\n".join(lines)
    opts = result["options"]
    lines.append(
        f"Stream: seed {opts['seed']}, {report.fmt(stream['transactions'])} transactions "
        f"({report.fmt(stream['fraud_transactions'])} fraudulent) over "
        f"{stream['event_span_seconds']} s of event time, sent at {opts['rate']:.0f} tx/s; "
        f"attacks per scenario: {stream['scenarios']}.\n"
    )
    if not result["job"]["available"]:
        lines.append(
            f"**Detection job: not available** ({result['job']['detail']}); nothing was scored.\n"
        )
        return "\n".join(lines)
    baseline = result.get("baseline")
    if baseline and not baseline.get("available"):
        lines.append(f"**seed-baseline pack: not measured** ({baseline.get('detail')}).\n")
    sets = result.get("rule_sets", {})
    lines.append("## Overall\n")
    rows = []
    for name, scored in sets.items():
        o = scored["overall"]
        rows.append(
            [
                name,
                scored["alerts"],
                scored["false_positive_alerts"],
                o["precision"],
                scored.get("precision_strict"),
                o["recall"],
                o["f1"],
                f"{o['detected']}/{o['positives']}",
            ]
        )
    lines.append(
        report.table(
            [
                "rule set",
                "alerts",
                "false-positive alerts",
                "precision",
                "precision (strict)",
                "recall (attacks)",
                "F1",
                "attacks caught",
            ],
            rows,
        )
    )
    lines.append("\n## Per scenario\n")
    rows = []
    for name, scored in sets.items():
        for scenario, s in scored["per_scenario"].items():
            attack = scored.get("attack_time_to_detect_ms", {}).get(scenario, {})
            t2a = scored["trigger_to_alert_ms"].get(scenario, {})
            per_attack = scored.get("alerts_per_attack", {}).get(scenario)
            rows.append(
                [
                    name,
                    scenario,
                    s["precision"],
                    s["recall"],
                    s["f1"],
                    f"{s['detected']}/{s['positives']}",
                    per_attack,
                    scored.get("cases_per_attack", {}).get(scenario),
                    _sec(attack.get("p50")),
                    _sec(attack.get("max")),
                    _sec(t2a.get("p50")),
                    _sec(t2a.get("max")),
                ]
            )
    lines.append(
        report.table(
            [
                "rule set",
                "scenario",
                "precision",
                "recall",
                "F1",
                "caught",
                "alerts per caught attack",
                "cases per caught attack",
                "into the attack p50 s",
                "into the attack max s",
                "trigger→alert p50 s",
                "trigger→alert max s",
            ],
            rows,
        )
    )
    lines.append(
        "\n*precision*: an alert is right when a transaction it names (its own, a later "
        "hit of its episode, or its evidence) is fraudulent, as `fraudstream backtest` "
        "counts it; *strict*: its own and later hits only. "
        "*alerts per caught attack*: distinct alerts (alert ids) that report any of a "
        "caught attack's transactions, on average; an episode's later hits update its "
        "alert and count once; *cases*: the distinct cases of those alerts (a user's "
        "alerts over all their cards within the case cool-down form one case, the "
        "unit of triage). "
        "*into the attack*: event time from the attack's first transaction to the "
        "first one that drew an alert (how long a victim's card was abused before an "
        "alert). *trigger→alert*: wall time from the append of the trigger transaction "
        "to the alert, as a read-committed consumer sees it (the pipeline's delay).\n"
    )
    lines.append("\n## Per rule\n")
    rows = []
    for name, scored in sets.items():
        for rule, s in scored["per_rule"].items():
            caught = scored["rule_by_scenario"].get(rule, {})
            where = ", ".join(f"{k} {v}" for k, v in caught.items() if v) or "–"
            rows.append(
                [
                    name,
                    rule,
                    s["true_positives"] + s["false_positives"],
                    s["precision"],
                    s["recall"],
                    s["f1"],
                    where,
                ]
            )
    lines.append(
        report.table(
            [
                "rule set",
                "rule",
                "alerts",
                "precision",
                "recall",
                "F1",
                "attacks caught by scenario",
            ],
            rows,
        )
    )
    lines += ["", *[f"![{name}]({name})" for name in images], ""]
    return "\n".join(lines)


def _sec(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 2)


def plots(result: dict[str, Any], run: report.RunDir) -> list[str]:
    sets = result.get("rule_sets") or {}
    if not sets:
        return []
    paths = report.plot_quality(
        {k: v["per_scenario"] for k, v in sets.items()},
        run.path,
        "quality_per_scenario.png",
        "Per scenario",
    )
    paths += report.plot_quality(
        {k: v["per_rule"] for k, v in sets.items()}, run.path, "quality_per_rule.png", "Per rule"
    )
    return [p.name for p in paths]
