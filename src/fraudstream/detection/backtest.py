"""``fraudstream backtest``: what a rule catalogue would have raised on past traffic.

Transactions come from a JSONL file in the bank contract (what ``fraudstream
produce --output`` writes) or from the archive's ``transactions`` table
between two event times. Each one goes through ``Engine`` exactly as the
Flink job's keyed operators drive it: per user id, its cards' ``CardProfile``
and its ``UserProfile`` (``engine/holder.py``, as the job keeps them), a
``MerchantProfile`` per merchant when the catalogue has rules of that scope,
and the
block list as a snapshot read once from PostgreSQL. File lines are validated
with ``records.parse_transaction`` like the job's ``Validate`` operator;
invalid lines are counted per reason and skipped.

Alert emissions are deterministic: alert ids derive from rule and transaction
ids, and ``detected_at`` is the transaction's ingestion time (for a file,
which has none, its event time), so two runs on the same input write the
same alerts file.

With ground-truth labels (a sibling ``FILE.labels.jsonl``, ``--labels FILE``
or the archive's ``fraud_labels``) the result also scores the catalogue:
an alert is a true positive when its transaction, its episode's latest
transaction or its evidence is labelled fraud; an attack (one ``scenario_id``)
is detected when a true-positive alert touches one of its transactions.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from fraudstream.config import Settings, SettingsError
from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.holder import UserProfiles
from fraudstream.detection.engine.lookups import Entries, load_blocklist
from fraudstream.detection.engine.merchant import MerchantProfile
from fraudstream.detection.engine.tx import Tx, from_transaction
from fraudstream.detection.rules.catalogue import load_catalogue
from fraudstream.records import MAX_AMOUNT, Alert, FraudLabel, InvalidRecord, parse_transaction

log = logging.getLogger(__name__)

PROGRESS_EVERY_S: Final = 2.0
CHECK_CLOCK_EVERY: Final = 1024
"""Transactions between two looks at the clock (a syscall per record costs)."""
MAX_EXAMPLES: Final = 5
"""Invalid lines kept, with their line number, to show the user."""
MAX_MISSED: Final = 20
"""Undetected attack ids listed per scenario in the report."""
FETCH_ROWS: Final = 5000

# Columns in Tx field order: each row becomes a Tx with Tx._make.
ARCHIVE_SQL: Final = """
SELECT transaction_id, bank_id, payment_system, card_masked, card_token, user_id,
       amount::float8, currency, merchant, country,
       (extract(epoch FROM event_time) * 1000)::bigint,
       merchant_category, channel,
       (extract(epoch FROM COALESCE(ingested_at, event_time)) * 1000)::bigint,
       quality_flags
FROM transactions
WHERE event_time >= %s AND event_time < %s
ORDER BY COALESCE(ingested_at, event_time), event_time, transaction_id
"""

ARCHIVE_LABELS_SQL: Final = """
SELECT l.transaction_id, l.scenario_id, l.scenario, l.step, l.is_trigger
FROM fraud_labels l JOIN transactions t USING (transaction_id)
WHERE t.event_time >= %s AND t.event_time < %s
"""


class BacktestError(Exception):
    """The backtest cannot run as asked (missing input, unreachable archive)."""


# -- inputs -------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidLine:
    line: int
    reason: str
    detail: str


@dataclass
class InputStats:
    """What the reader saw, filled in while the transactions stream by."""

    read: int = 0
    """records read (file lines that are not blank, or archive rows)"""
    blank: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    examples: list[InvalidLine] = field(default_factory=list)

    def reject(self, line: int, exc: InvalidRecord) -> None:
        self.invalid[exc.reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(InvalidLine(line, exc.reason, exc.detail))


def read_jsonl(
    path: Path, key: str, now: datetime, stats: InputStats, max_amount: float = MAX_AMOUNT
) -> Iterator[Tx]:
    """Valid transactions of a contract JSONL file, in file order.

    Each line is validated as the job validates a Kafka value, with ``now``
    standing for the Kafka timestamp (the future-timestamp check). A file has
    no ingestion time, so a transaction's event time stands in for it.
    """
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                stats.blank += 1
                continue
            stats.read += 1
            try:
                record = parse_transaction(raw, now=now, max_amount=max_amount)
            except InvalidRecord as exc:
                stats.reject(number, exc)
                continue
            tx = from_transaction(record, key, 0)
            yield tx._replace(ingested_ms=tx.event_ms)


def read_archive(dsn: str, start: datetime, end: datetime, stats: InputStats) -> Iterator[Tx]:
    """Archived transactions with start <= event time < end, in ingestion order.

    Rows are already validated and tokenised. A row without ``ingested_at``
    (archived before that column was filled) sorts by its event time.
    """
    import psycopg

    try:
        conn = psycopg.connect(dsn, connect_timeout=5)
    except psycopg.Error as exc:
        raise BacktestError(f"archive not reachable: {exc}".strip()) from exc
    # A server-side cursor streams the window instead of loading it whole.
    with conn, conn.cursor(name="fraudstream_backtest") as cursor:
        cursor.itersize = FETCH_ROWS
        try:
            cursor.execute(ARCHIVE_SQL, (start, end))
        except psycopg.Error as exc:
            raise BacktestError(f"cannot read transactions: {exc}".strip()) from exc
        make = Tx._make
        try:
            for row in cursor:
                stats.read += 1
                yield make(row)
        except psycopg.Error as exc:
            raise BacktestError(f"archive read failed after {stats.read} rows: {exc}") from exc


def read_labels_file(path: Path) -> list[FraudLabel]:
    """Labels as ``fraudstream produce --output`` writes them (one JSON object a line)."""
    labels: list[FraudLabel] = []
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                labels.append(
                    FraudLabel(
                        transaction_id=str(data["transaction_id"]),
                        scenario_id=str(data["scenario_id"]),
                        scenario=str(data["scenario"]),
                        step=int(data.get("step", 0)),
                        is_trigger=bool(data.get("is_trigger", False)),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
    if bad:
        log.warning("%s: %d label line(s) unreadable, ignored", path, bad)
    return labels


def read_archive_labels(dsn: str, start: datetime, end: datetime) -> list[FraudLabel]:
    """Labels of the archived transactions in the window."""
    import psycopg

    try:
        conn = psycopg.connect(dsn, connect_timeout=5)
    except psycopg.Error as exc:
        raise BacktestError(f"archive not reachable: {exc}".strip()) from exc
    try:
        with conn:
            rows = conn.execute(ARCHIVE_LABELS_SQL, (start, end)).fetchall()
    except psycopg.Error as exc:
        raise BacktestError(f"cannot read fraud_labels: {exc}".strip()) from exc
    return [FraudLabel(r[0], r[1], r[2], int(r[3]), bool(r[4])) for r in rows]


def labels_path_for(path: Path) -> Path:
    """``out.jsonl`` -> ``out.labels.jsonl``, where ``produce --output`` puts labels."""
    return path.with_name(path.stem + ".labels" + (path.suffix or ".jsonl"))


# -- replay -------------------------------------------------------------------


@dataclass
class AlertTrace:
    """One distinct alert (by id) over all its emissions."""

    rule_id: str
    emissions: int = 0
    fraud: set[str] = field(default_factory=set)
    """labelled fraud transactions it touched (its own, the latest or evidence)"""
    case_id: str | None = None


class Replayer:
    """Drives ``Engine`` like the job's ``Profiles`` (card and user rules, keyed
    by user) and ``MerchantRules`` operators."""

    def __init__(
        self,
        engine: Engine,
        blocklist: Entries | None = None,
        fraud_ids: Iterable[str] = (),
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.engine = engine
        self.blocklist = blocklist
        self.fraud_ids = frozenset(fraud_ids)
        self.on_alert = on_alert
        self.traces: dict[str, AlertTrace] = {}
        self.replayed = 0
        self.emissions = 0
        self.out_of_order = 0
        self.out_of_order_user = 0
        self.out_of_order_merchant = 0
        self.fraud_replayed: set[str] = set()
        # The job keeps profiles in Flink state with a time-to-live refreshed
        # on write (processing time, which only moves forward); the latest
        # ingestion time seen is its replayable stand-in.
        self._ttl_ms = engine.ttl_s * 1000
        self._users: dict[int, UserProfiles] = {}
        self._merchants: dict[str, tuple[MerchantProfile, int]] = {}

    @property
    def cards(self) -> int:
        return sum(len(holder.cards) for holder in self._users.values())

    @property
    def users(self) -> int:
        return sum(holder.user is not None for holder in self._users.values())

    @property
    def merchants(self) -> int:
        return len(self._merchants)

    def feed(self, tx: Tx) -> list[Alert]:
        """Every alert emission the job would publish for ``tx``."""
        engine = self.engine
        counters = engine.counters
        now = tx.ingested_ms
        self.replayed += 1
        if tx.transaction_id in self.fraud_ids:
            self.fraud_replayed.add(tx.transaction_id)

        holder = self._users.get(tx.user_id)
        if holder is None:
            holder = self._users[tx.user_id] = UserProfiles()
        late = counters.out_of_order
        alerts = holder.feed_card(engine, tx, now, self.blocklist)
        self.out_of_order += counters.out_of_order - late
        late = counters.out_of_order
        alerts += holder.feed_user(engine, tx, now)
        self.out_of_order_user += counters.out_of_order - late

        if engine.has_merchant_rules:
            known = self._merchants.get(tx.merchant)
            merchant = (
                known[0]
                if known is not None and now - known[1] <= self._ttl_ms
                else MerchantProfile()
            )
            late = counters.out_of_order
            alerts += engine.merchant(merchant, tx, now)
            self.out_of_order_merchant += counters.out_of_order - late
            self._merchants[tx.merchant] = (
                merchant,
                now if known is None else max(now, known[1]),
            )

        for alert in alerts:
            self._trace(alert)
            if self.on_alert is not None:
                self.on_alert(alert)
        return alerts

    def _trace(self, alert: Alert) -> None:
        self.emissions += 1
        trace = self.traces.get(alert.alert_id)
        if trace is None:
            trace = self.traces[alert.alert_id] = AlertTrace(alert.rule_id, case_id=alert.case_id)
        trace.emissions += 1
        if self.fraud_ids:
            touched = {alert.transaction_id, *alert.evidence}
            if alert.last_transaction_id:
                touched.add(alert.last_transaction_id)
            trace.fraud.update(touched & self.fraud_ids)


# -- scoring ------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded, or None when there is nothing to divide by."""
    return None if denominator == 0 else round(numerator / denominator, 4)


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    rule_type: str
    severity: str
    scope: str
    """card, user, merchant or blocklist: which profile the rule reads"""
    alerts: int
    """distinct alert ids"""
    emissions: int
    """alert messages published (an episode publishes its alert on every hit)"""
    true_positives: int | None = None
    precision: float | None = None
    attacks_detected: int | None = None
    deferred: int = 0
    """findings of a deferring rule that joined another rule's open alert on the
    card (on a later transaction, or on the one that alert fired on)"""


@dataclass(frozen=True)
class ScenarioScore:
    scenario: str
    attacks: int
    detected: int
    recall: float | None
    alerts: int
    """distinct alerts touching this scenario's transactions"""
    alerts_per_attack: float | None
    missed: tuple[str, ...] = ()
    """scenario ids of attacks no alert touched (at most MAX_MISSED)"""
    cases_per_attack: float | None = None
    """distinct cases of the alerts touching each attack, over the attacks"""


@dataclass(frozen=True)
class Quality:
    labelled_transactions: int
    labels_not_replayed: int
    """labelled transactions absent from the replayed input (invalid or outside it)"""
    attacks: int
    detected: int
    recall: float | None
    true_positive_alerts: int
    false_positive_alerts: int
    precision: float | None
    alerts_per_attack: float | None
    """every distinct alert / attacks: the triage load per real attack"""
    scenarios: tuple[ScenarioScore, ...]
    cases_per_attack: float | None = None
    """every distinct case / attacks: the same load counted in cases"""


def score(
    traces: Mapping[str, AlertTrace], labels: Sequence[FraudLabel], replayed: set[str]
) -> tuple[Quality, dict[str, tuple[int, int]]]:
    """Quality of the alerts against the labels, and per rule (true positives,
    attacks detected).

    Attacks count only when at least one of their transactions was replayed:
    an attack the input does not contain cannot be caught.
    """
    by_tx = {label.transaction_id: label for label in labels}
    members: dict[str, list[FraudLabel]] = {}
    for label in labels:
        members.setdefault(label.scenario_id, []).append(label)
    attacks = {
        sid: group[0].scenario
        for sid, group in members.items()
        if any(m.transaction_id in replayed for m in group)
    }
    detected: set[str] = set()
    per_rule_tp: Counter[str] = Counter()
    per_rule_attacks: dict[str, set[str]] = {}
    scenario_alerts: Counter[str] = Counter()
    attack_cases: dict[str, set[str]] = {}
    true_positives = 0
    for alert_id, trace in traces.items():
        if not trace.fraud:
            continue
        true_positives += 1
        per_rule_tp[trace.rule_id] += 1
        hit = {by_tx[t].scenario_id for t in trace.fraud}
        detected |= hit
        per_rule_attacks.setdefault(trace.rule_id, set()).update(hit)
        for sid in hit:
            attack_cases.setdefault(sid, set()).add(trace.case_id or alert_id)
        for scenario in {by_tx[t].scenario for t in trace.fraud}:
            scenario_alerts[scenario] += 1
    scenarios = []
    for name in sorted(set(attacks.values())):
        ids = sorted(sid for sid, s in attacks.items() if s == name)
        caught = [sid for sid in ids if sid in detected]
        scenarios.append(
            ScenarioScore(
                scenario=name,
                attacks=len(ids),
                detected=len(caught),
                recall=ratio(len(caught), len(ids)),
                alerts=scenario_alerts[name],
                alerts_per_attack=ratio(scenario_alerts[name], len(ids)),
                missed=tuple(sid for sid in ids if sid not in detected)[:MAX_MISSED],
                cases_per_attack=ratio(
                    sum(len(attack_cases.get(sid, ())) for sid in ids), len(ids)
                ),
            )
        )
    total = len(traces)
    caught_total = len(detected & set(attacks))
    quality = Quality(
        labelled_transactions=len(by_tx),
        labels_not_replayed=len(set(by_tx) - replayed),
        attacks=len(attacks),
        detected=caught_total,
        recall=ratio(caught_total, len(attacks)),
        true_positive_alerts=true_positives,
        false_positive_alerts=total - true_positives,
        precision=ratio(true_positives, total),
        alerts_per_attack=ratio(total, len(attacks)),
        scenarios=tuple(scenarios),
        cases_per_attack=ratio(
            len({t.case_id or alert_id for alert_id, t in traces.items()}), len(attacks)
        ),
    )
    per_rule = {
        rule: (per_rule_tp[rule], len(per_rule_attacks.get(rule, set())))
        for rule in {t.rule_id for t in traces.values()}
    }
    return quality, per_rule


def rule_counts(
    engine: Engine,
    traces: Mapping[str, AlertTrace],
    per_rule: Mapping[str, tuple[int, int]] | None,
    order: Sequence[str] = (),
) -> tuple[RuleCount, ...]:
    """One row per enabled rule (zero when it never fired), in ``order`` (the
    catalogue's) when given."""
    alerts: Counter[str] = Counter()
    emissions: Counter[str] = Counter()
    for trace in traces.values():
        alerts[trace.rule_id] += 1
        emissions[trace.rule_id] += trace.emissions
    rows = []
    every = (
        *engine.card_rules,
        *engine.blocklist_rules,
        *engine.user_rules,
        *engine.merchant_rules,
    )
    for rule in every:
        count = alerts[rule.id]
        tp, caught = per_rule.get(rule.id, (0, 0)) if per_rule is not None else (None, None)
        rows.append(
            RuleCount(
                rule_id=rule.id,
                rule_type=rule.type,
                severity=rule.severity,
                scope=rule.scope,
                alerts=count,
                emissions=emissions[rule.id],
                true_positives=tp,
                precision=ratio(tp, count) if tp is not None else None,
                attacks_detected=caught,
                deferred=engine.deferred.get(rule.id, 0),
            )
        )
    rank = {rule_id: index for index, rule_id in enumerate(order)}
    return tuple(sorted(rows, key=lambda row: rank.get(row.rule_id, len(rank))))


# -- driver -------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestOptions:
    input: Path | None = None
    """contract JSONL file; None: the archive between ``start`` and ``end``"""
    start: datetime | None = None
    end: datetime | None = None
    labels: Path | None = None
    """labels file (default: FILE.labels.jsonl next to the input, or fraud_labels)"""
    rules: Path | None = None
    packs: tuple[str, ...] = ()
    output: Path | None = None
    report: Path | None = None
    blocklist: bool = True
    """read the block list from PostgreSQL when a block-list rule is enabled"""


@dataclass(frozen=True)
class ProgressInfo:
    read: int
    replayed: int
    alerts: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class BacktestResult:
    source: str
    catalogue: str
    packs: tuple[str, ...]
    labels: str | None
    read: int
    replayed: int
    blank: int
    invalid: dict[str, int]
    invalid_examples: tuple[InvalidLine, ...]
    alerts: int
    emissions: int
    rules: tuple[RuleCount, ...]
    out_of_order: int
    """transactions older than their card's latest (card profile)"""
    out_of_order_user: int
    """transactions whose user window had already closed"""
    cards: int
    users: int
    merchants: int
    cases: int
    """distinct case ids (alerts of one card, user or merchant grouped)"""
    blocklist: str
    elapsed_s: float
    quality: Quality | None
    unjudged: int = 0
    """transactions a rule could not judge (impossible_travel: a country without coordinates)"""

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())

    @property
    def tx_per_s(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["elapsed_s"] = round(self.elapsed_s, 3)
        data["tx_per_s"] = round(self.tx_per_s, 1)
        return data


def _describe_blocklist(
    engine: Engine, settings: Settings, wanted: bool, given: Entries | None
) -> tuple[Entries | None, str]:
    if not engine.blocklist_rules:
        return None, "no block-list rule enabled"
    if given is not None:
        return given, f"{len(given)} entries (given)"
    if not wanted:
        return None, "not read (--no-blocklist): no block-list alerts"
    params = engine.blocklist_rules[0].params
    try:
        entries = load_blocklist(settings.dsn, params.cache_max_rows)
    except Exception as exc:  # any failure: the rest of the catalogue still runs
        log.warning(
            "block list not read from %s, no block-list alerts: %s",
            settings.dsn_redacted,
            str(exc).strip() or exc.__class__.__name__,
        )
        return None, f"not readable ({exc.__class__.__name__}): no block-list alerts"
    return entries, f"{len(entries)} entries read once from PostgreSQL"


def run_backtest(
    settings: Settings,
    options: BacktestOptions,
    *,
    progress: Callable[[ProgressInfo], None] | None = None,
    blocklist: Entries | None = None,
    now: datetime | None = None,
) -> BacktestResult:
    """Replay the input through the catalogue; write --output and --report if asked.

    ``blocklist`` replaces the PostgreSQL snapshot (tests); ``now`` is the
    time file lines are validated against (default: when the run starts).
    Raises ``BacktestError`` and ``CatalogueError`` for the user to fix.
    """
    catalogue = load_catalogue(options.rules, options.packs)
    engine = Engine(catalogue)
    stats = InputStats()
    if options.input is not None:
        if not options.input.is_file():
            raise BacktestError(f"{options.input} is not a readable file")
        source = str(options.input)
        labels_file = options.labels or labels_path_for(options.input)
        if options.labels is not None and not labels_file.is_file():
            raise BacktestError(f"labels file {labels_file} is not a readable file")
        labels = read_labels_file(labels_file) if labels_file.is_file() else []
        labels_source = str(labels_file) if labels_file.is_file() else None
        try:
            key = settings.card_token_secret()
        except SettingsError as exc:
            raise BacktestError(str(exc)) from None
        transactions = read_jsonl(
            options.input, key, now or datetime.now(UTC), stats, settings.max_amount
        )
    else:
        if options.start is None or options.end is None:
            raise BacktestError("give a JSONL file, or --from and --to for the archive")
        if options.start >= options.end:
            raise BacktestError("--from must be before --to")
        source = f"archive {options.start.isoformat()} .. {options.end.isoformat()}"
        if options.labels is not None:
            if not options.labels.is_file():
                raise BacktestError(f"labels file {options.labels} is not a readable file")
            labels, labels_source = read_labels_file(options.labels), str(options.labels)
        else:
            labels = read_archive_labels(settings.dsn, options.start, options.end)
            labels_source = "fraud_labels" if labels else None
        transactions = read_archive(settings.dsn, options.start, options.end, stats)

    entries, blocklist_status = _describe_blocklist(engine, settings, options.blocklist, blocklist)
    out: IO[str] | None = None
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        out = options.output.open("w", encoding="utf-8")

    def write(alert: Alert) -> None:
        assert out is not None
        out.write(json.dumps(alert.to_dict(), separators=(",", ":")) + "\n")

    replayer = Replayer(
        engine,
        entries,
        fraud_ids=(label.transaction_id for label in labels),
        on_alert=write if out is not None else None,
    )
    started = time.monotonic()
    next_report = started + PROGRESS_EVERY_S
    try:
        feed = replayer.feed
        for count, tx in enumerate(transactions, 1):
            feed(tx)
            if progress is not None and count % CHECK_CLOCK_EVERY == 0:
                clock = time.monotonic()
                if clock >= next_report:
                    next_report = clock + PROGRESS_EVERY_S
                    progress(
                        ProgressInfo(
                            stats.read, replayer.replayed, len(replayer.traces), clock - started
                        )
                    )
    finally:
        if out is not None:
            out.close()
    elapsed = time.monotonic() - started

    quality: Quality | None = None
    per_rule: dict[str, tuple[int, int]] | None = None
    if labels:
        quality, per_rule = score(replayer.traces, labels, replayer.fraud_replayed)
        if quality.labels_not_replayed:
            log.warning(
                "%d labelled transaction(s) not in the replayed input (invalid or absent)",
                quality.labels_not_replayed,
            )
    result = BacktestResult(
        source=source,
        catalogue=str(options.rules) if options.rules else "bundled rules.yaml",
        packs=options.packs,
        labels=labels_source,
        read=stats.read,
        replayed=replayer.replayed,
        blank=stats.blank,
        invalid=dict(sorted(stats.invalid.items())),
        invalid_examples=tuple(stats.examples),
        alerts=len(replayer.traces),
        emissions=replayer.emissions,
        rules=rule_counts(engine, replayer.traces, per_rule, [r.id for r in catalogue.enabled()]),
        out_of_order=replayer.out_of_order,
        out_of_order_user=replayer.out_of_order_user,
        cards=replayer.cards,
        users=replayer.users,
        merchants=replayer.merchants,
        cases=len({t.case_id or alert for alert, t in replayer.traces.items()}),
        blocklist=blocklist_status,
        elapsed_s=elapsed,
        quality=quality,
        unjudged=engine.counters.unjudged,
    )
    if options.report is not None:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result
