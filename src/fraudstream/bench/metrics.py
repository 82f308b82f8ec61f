"""Pure arithmetic of the benchmarks: percentiles and detection-quality scores.

Kept free of I/O so every figure the reports print can be checked by a unit
test against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fraudstream.records import FraudLabel


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks.

    Same definition as NumPy's default (``method="linear"``), so figures can be
    reproduced from the raw samples in result.json with any common tool.
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    weight = position - low
    # This form returns exactly the value when both neighbours are equal.
    return float(ordered[low] + (ordered[high] - ordered[low]) * weight)


@dataclass(frozen=True)
class LatencySummary:
    """Distribution of one latency, in milliseconds."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> LatencySummary:
        if not samples_ms:
            return cls(0, None, None, None, None, None)
        return cls(
            count=len(samples_ms),
            p50=round(percentile(samples_ms, 50), 2),
            p95=round(percentile(samples_ms, 95), 2),
            p99=round(percentile(samples_ms, 99), 2),
            max=round(max(samples_ms), 2),
            mean=round(sum(samples_ms) / len(samples_ms), 2),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def safe_ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when undefined (nothing to divide by)."""
    if denominator == 0:
        return None
    return numerator / denominator


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Score:
    """Precision, recall and F1 with the counts they come from."""

    true_positives: int
    false_positives: int
    positives: int  # what recall is measured against (instances or transactions)
    detected: int  # how many of ``positives`` were caught
    precision: float | None
    recall: float | None
    f1: float | None

    @classmethod
    def of(cls, *, tp: int, fp: int, positives: int, detected: int) -> Score:
        precision = safe_ratio(tp, tp + fp)
        recall = safe_ratio(detected, positives)
        return cls(tp, fp, positives, detected, precision, recall, f1(precision, recall))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("precision", "recall", "f1"):
            if data[key] is not None:
                data[key] = round(data[key], 4)
        return data


@dataclass(frozen=True)
class AlertSeen:
    """One emission of an alert (an episode publishes its alert again with
    each hit) and when the bench saw it."""

    alert_id: str
    rule_id: str
    transaction_id: str
    seen_at: float  # epoch seconds at which a read-committed consumer received it
    last_transaction_id: str = ""  # the episode's latest transaction this emission reports
    evidence: tuple[str, ...] = ()  # the transactions the alert names as its evidence
    case_id: str = ""  # the case the alert belongs to ("": none, the alert is its own)

    @property
    def reports(self) -> tuple[str, ...]:
        """The transactions this emission is about."""
        last = self.last_transaction_id
        return (
            (self.transaction_id,)
            if not last or last == self.transaction_id
            else (
                self.transaction_id,
                last,
            )
        )


@dataclass
class QualityResult:
    """Scores of one rule set on one labelled stream."""

    overall: Score
    per_scenario: dict[str, Score]
    per_rule: dict[str, Score]
    rule_by_scenario: dict[str, dict[str, int]]  # rule -> scenario -> instances caught
    time_to_detect_ms: dict[str, LatencySummary]  # scenario -> from first tx to first alert
    trigger_to_alert_ms: dict[str, LatencySummary]  # scenario -> from trigger tx to alert
    alerts: int
    false_positive_alerts: int
    missed_instances: dict[str, list[str]] = field(default_factory=dict)
    # scenario -> event time from the attack's first transaction to the first
    # transaction that drew an alert: how far into the attack it was caught.
    attack_time_to_detect_ms: dict[str, LatencySummary] = field(default_factory=dict)
    # scenario -> distinct alerts per caught attack (an episode counts once)
    alerts_per_attack: dict[str, float] = field(default_factory=dict)
    # alerts whose own and latest transactions are all honest, though their
    # evidence names a fraudulent one (false positives by the strict reading)
    false_positive_alerts_strict: int = 0
    # scenario -> distinct cases of the alerts on each caught attack, on average
    cases_per_attack: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "per_scenario": {k: v.to_dict() for k, v in sorted(self.per_scenario.items())},
            "per_rule": {k: v.to_dict() for k, v in sorted(self.per_rule.items())},
            "rule_by_scenario": self.rule_by_scenario,
            "time_to_detect_ms": {k: v.to_dict() for k, v in self.time_to_detect_ms.items()},
            "trigger_to_alert_ms": {k: v.to_dict() for k, v in self.trigger_to_alert_ms.items()},
            "alerts": self.alerts,
            "false_positive_alerts": self.false_positive_alerts,
            "false_positive_alerts_strict": self.false_positive_alerts_strict,
            "precision_strict": (
                round(1 - self.false_positive_alerts_strict / self.alerts, 4)
                if self.alerts
                else None
            ),
            "missed_instances": self.missed_instances,
            "attack_time_to_detect_ms": {
                k: v.to_dict() for k, v in self.attack_time_to_detect_ms.items()
            },
            "alerts_per_attack": self.alerts_per_attack,
            "cases_per_attack": self.cases_per_attack,
        }


def evaluate(
    labels: Iterable[FraudLabel],
    alerts: Iterable[AlertSeen],
    sent_at: Mapping[str, float],
    *,
    total_transactions: int,
    event_at: Mapping[str, float] | None = None,
) -> QualityResult:
    """Score alerts against ground truth.

    Definitions (also in docs/BENCHMARKS.md):

    * An alert is a true positive when a transaction it names is labelled
      fraud: its own, a later hit of its episode, or its evidence (as
      ``fraudstream backtest`` counts it); a false positive otherwise.
      Precision is counted over distinct alerts. The strict reading (own and
      later hits only) is reported beside it.
    * A scenario instance (one injected attack, ``scenario_id``) is detected
      when at least one alert names one of its transactions; recall is
      detected instances / instances.
    * Per scenario, precision is one-vs-legitimate: alerts on that scenario's
      transactions against alerts on unlabelled transactions (alerts on other
      scenarios' transactions are neither).
    * Per rule, precision uses that rule's alerts only and recall is over all
      instances of every scenario.
    * Time to detect of an instance runs from the append of its first
      transaction to the arrival of its first alert; trigger-to-alert runs
      from the append of its trigger transaction (the one that makes the
      attack recognisable) to the first alert on or after it. Both are wall
      time, so they measure the pipeline. With ``event_at`` (event time of
      each transaction), attack time to detect runs in event time from the
      attack's first transaction to the earliest transaction that drew an
      alert: how far into the attack it was caught.
    """
    labels = list(labels)
    by_tx = {label.transaction_id: label for label in labels}
    instances: dict[str, list[FraudLabel]] = {}
    scenario_of: dict[str, str] = {}
    for label in labels:
        instances.setdefault(label.scenario_id, []).append(label)
        scenario_of[label.scenario_id] = label.scenario
    scenarios = sorted(set(scenario_of.values()))

    emissions = list(alerts)
    distinct: dict[str, AlertSeen] = {}
    reported: dict[str, set[str]] = {}
    named: dict[str, set[str]] = {}
    for alert in emissions:
        known = distinct.get(alert.alert_id)
        if known is None or alert.seen_at < known.seen_at:
            distinct[alert.alert_id] = alert
        reported.setdefault(alert.alert_id, set()).update(alert.reports)
        named.setdefault(alert.alert_id, set()).update(alert.reports, alert.evidence)
    all_alerts = list(distinct.values())

    # An alert is a true positive when any transaction it names (its own, a
    # later hit of its episode, or its evidence) is labelled fraud.
    tp_alerts = [a for a in all_alerts if any(t in by_tx for t in named[a.alert_id])]
    fp_alerts = [a for a in all_alerts if not any(t in by_tx for t in named[a.alert_id])]
    strict_fp = sum(1 for a in all_alerts if not any(t in by_tx for t in reported[a.alert_id]))

    # First alert per instance (any rule) and per (rule, instance), over every
    # emission: an episode's later hit on an attack detects it.
    first_alert: dict[str, float] = {}
    first_alerted_event: dict[str, float] = {}
    caught_by_rule: dict[str, set[str]] = {}
    hits: list[tuple[str, str, float]] = []  # (instance, transaction, seen_at)
    for alert in emissions:
        for tx in alert.reports:
            if tx not in by_tx:
                continue
            instance = by_tx[tx].scenario_id
            hits.append((instance, tx, alert.seen_at))
            first_alert[instance] = min(first_alert.get(instance, math.inf), alert.seen_at)
            caught_by_rule.setdefault(alert.rule_id, set()).add(instance)
            if event_at is not None and tx in event_at:
                first_alerted_event[instance] = min(
                    first_alerted_event.get(instance, math.inf), event_at[tx]
                )

    detected = set(first_alert)
    overall = Score.of(
        tp=len(tp_alerts), fp=len(fp_alerts), positives=len(instances), detected=len(detected)
    )

    per_scenario: dict[str, Score] = {}
    attack_ttd: dict[str, LatencySummary] = {}
    ttd: dict[str, LatencySummary] = {}
    t2a: dict[str, LatencySummary] = {}
    missed: dict[str, list[str]] = {}
    for scenario in scenarios:
        ids = [i for i, s in scenario_of.items() if s == scenario]
        tp = sum(
            1
            for a in tp_alerts
            if any(t in by_tx and by_tx[t].scenario == scenario for t in named[a.alert_id])
        )
        caught = [i for i in ids if i in detected]
        per_scenario[scenario] = Score.of(
            tp=tp, fp=len(fp_alerts), positives=len(ids), detected=len(caught)
        )
        missed_ids = sorted(i for i in ids if i not in detected)
        if missed_ids:
            missed[scenario] = missed_ids
        ttd_samples: list[float] = []
        t2a_samples: list[float] = []
        attack_samples: list[float] = []
        for instance in caught:
            members = instances[instance]
            if event_at is not None and instance in first_alerted_event:
                began = [
                    event_at[m.transaction_id] for m in members if m.transaction_id in event_at
                ]
                if began:
                    attack_samples.append((first_alerted_event[instance] - min(began)) * 1000)
            starts = [sent_at[m.transaction_id] for m in members if m.transaction_id in sent_at]
            if starts:
                ttd_samples.append((first_alert[instance] - min(starts)) * 1000)
            triggers = [
                sent_at[m.transaction_id]
                for m in members
                if m.is_trigger and m.transaction_id in sent_at
            ]
            if triggers:
                trigger = min(triggers)
                after = [
                    seen
                    for hit_instance, tx, seen in hits
                    if hit_instance == instance and sent_at.get(tx, -math.inf) >= trigger
                ]
                if after:
                    t2a_samples.append((min(after) - trigger) * 1000)
        ttd[scenario] = LatencySummary.of(ttd_samples)
        if event_at is not None:
            attack_ttd[scenario] = LatencySummary.of(attack_samples)
        t2a[scenario] = LatencySummary.of(t2a_samples)

    per_rule: dict[str, Score] = {}
    rule_by_scenario: dict[str, dict[str, int]] = {}
    for rule in sorted({a.rule_id for a in all_alerts}):
        rule_tp = sum(1 for a in tp_alerts if a.rule_id == rule)
        rule_fp = sum(1 for a in fp_alerts if a.rule_id == rule)
        rule_caught = caught_by_rule.get(rule, set())
        per_rule[rule] = Score.of(
            tp=rule_tp, fp=rule_fp, positives=len(instances), detected=len(rule_caught)
        )
        rule_by_scenario[rule] = {
            scenario: sum(1 for i in rule_caught if scenario_of[i] == scenario)
            for scenario in scenarios
        }
    alert_ids_of: dict[str, set[str]] = {}
    case_ids_of: dict[str, set[str]] = {}
    for alert in emissions:
        for tx in alert.reports:
            if tx in by_tx:
                alert_ids_of.setdefault(by_tx[tx].scenario_id, set()).add(alert.alert_id)
                case = alert.case_id or alert.alert_id
                case_ids_of.setdefault(by_tx[tx].scenario_id, set()).add(case)
    per_attack: dict[str, float] = {}
    cases_per_attack: dict[str, float] = {}
    for scenario in scenarios:
        caught_ids = [i for i, s in scenario_of.items() if s == scenario and i in detected]
        if caught_ids:
            total = sum(len(alert_ids_of.get(i, ())) for i in caught_ids)
            per_attack[scenario] = round(total / len(caught_ids), 2)
            cases = sum(len(case_ids_of.get(i, ())) for i in caught_ids)
            cases_per_attack[scenario] = round(cases / len(caught_ids), 2)
    del total_transactions  # kept in the signature for the report's context
    return QualityResult(
        overall=overall,
        per_scenario=per_scenario,
        per_rule=per_rule,
        rule_by_scenario=rule_by_scenario,
        time_to_detect_ms=ttd,
        trigger_to_alert_ms=t2a,
        alerts=len(all_alerts),
        false_positive_alerts=len(fp_alerts),
        missed_instances=missed,
        attack_time_to_detect_ms=attack_ttd,
        alerts_per_attack=per_attack,
        false_positive_alerts_strict=strict_fp,
        cases_per_attack=cases_per_attack,
    )


@dataclass(frozen=True)
class StepVerdict:
    sustained: bool
    reason: str


def judge_step(
    *,
    offered_rate: float,
    acked_rate: float,
    backlog_max_seconds: float,
    drain_seconds: float | None,
    bound_seconds: float,
    ack_tolerance: float = 0.95,
) -> StepVerdict:
    """Did the pipeline sustain one step of the throughput ramp?

    The job's backlog (records in Kafka not yet archived) is expressed in
    seconds of traffic. It is never zero — the archive commits on the job's
    checkpoints — so "bounded" means: the backlog sampled during the step
    never exceeded ``bound_seconds`` of traffic, and once the producer
    paused the archive caught up within ``bound_seconds`` (``drain_seconds``
    None: it did not). The producer must also have had (almost) the offered
    rate acknowledged, otherwise the step measured the producer.
    """
    if acked_rate < offered_rate * ack_tolerance:
        return StepVerdict(
            False, f"producer got {acked_rate:.0f}/s acknowledged of {offered_rate:.0f}/s offered"
        )
    if backlog_max_seconds > bound_seconds:
        return StepVerdict(
            False,
            f"backlog reached {backlog_max_seconds:.1f}s of traffic (bound {bound_seconds:.0f}s)",
        )
    if drain_seconds is None or drain_seconds > bound_seconds:
        return StepVerdict(False, f"archive did not catch up within {bound_seconds:.0f}s")
    return StepVerdict(
        True, f"backlog ≤ {backlog_max_seconds:.1f}s of traffic, caught up in {drain_seconds:.1f}s"
    )
