"""The rule engine: a catalogue compiled into a list of pure evaluations.

``Engine.card`` runs every card-scope rule (and the block list) on one
transaction against its card's profile, then adds the transaction to the
profile; ``Engine.user`` does the same for user-scope rules. Both return the
alerts to publish. The Flink job's keyed operators and ``fraudstream
backtest`` call exactly these methods, so they raise the same alerts.

One alert per episode: while an episodic rule keeps firing on a card, the
first hit raises an alert (its id is ``md5(rule_id:transaction_id)`` of that
first transaction) and later hits publish the same alert again with the hit
count, the last transaction and the newest reason. An episode ends once the
rule has not fired for its cool-down (event time).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from fraudstream.detection.engine.profile import CardProfile, Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx, iso
from fraudstream.detection.rules.catalogue import Catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.base import UNJUDGED, Finding
from fraudstream.records import Alert, alert_id

MAX_EVIDENCE: Final = 50
"""Transaction ids an episode's alert names at most (the first ones and the last)."""
MIN_TTL_S: Final = 3600


@dataclass(frozen=True)
class CompiledRule:
    id: str
    type: str
    severity: str
    scope: str
    episodic: bool
    cooldown_ms: int
    params: Any
    evaluate: Callable[[Any, Any, Tx], Finding | None]


@dataclass
class Counters:
    """What the engine has seen, for metrics and reports."""

    transactions: int = 0
    out_of_order: int = 0
    alerts: int = 0
    updates: int = 0
    unjudged: int = 0
    """(rule, transaction) pairs a rule could not judge (a country without coordinates)"""


def compile_rules(catalogue: Catalogue) -> tuple[CompiledRule, ...]:
    rules = []
    for rule in catalogue.enabled():
        rule_type = REGISTRY[rule.type]
        params = rule.typed_params()
        cooldown = rule.cooldown_seconds
        if cooldown is None:
            cooldown = rule_type.cooldown(params)
        rules.append(
            CompiledRule(
                id=rule.id,
                type=rule.type,
                severity=rule.severity,
                scope=rule_type.scope,
                episodic=rule_type.episodic,
                cooldown_ms=cooldown * 1000,
                params=params,
                evaluate=rule_type.evaluate,
            )
        )
    return tuple(rules)


class Engine:
    """The enabled rules of one catalogue, ready to evaluate."""

    def __init__(self, catalogue: Catalogue) -> None:
        rules = compile_rules(catalogue)
        self.card_rules = tuple(r for r in rules if r.scope == "card")
        self.user_rules = tuple(r for r in rules if r.scope == "user")
        self.blocklist_rules = tuple(r for r in rules if r.scope == "blocklist")
        sizes = Sizes()
        user_widths: set[int] = set()
        for rule in rules:
            rule_sizes = REGISTRY[rule.type].sizes(rule.params)
            sizes = sizes.merge(rule_sizes)
            if rule.scope == "user":
                user_widths.add(rule_sizes.window_s)
        self.sizes = sizes
        self.user_widths = tuple(sorted(user_widths))
        self.ttl_s = max(MIN_TTL_S, sizes.window_s, *(r.cooldown_ms // 1000 for r in rules))
        """A profile unseen for this long has nothing any rule would read."""
        self.counters = Counters()
        self._cooldowns = {r.id: r.cooldown_ms for r in rules if r.episodic}

    @property
    def has_user_rules(self) -> bool:
        return bool(self.user_rules)

    def card(
        self,
        profile: CardProfile,
        tx: Tx,
        now_ms: int,
        blocklist: Any = None,
    ) -> list[Alert]:
        """Evaluate the card's rules on ``tx``, then add it to ``profile``."""
        alerts: list[Alert] = []
        for rule in self.card_rules:
            finding = rule.evaluate(rule.params, profile, tx)
            if finding is UNJUDGED:
                self.counters.unjudged += 1
            elif finding is not None:
                alerts.append(self._raise(rule, finding, tx, now_ms, profile.episodes))
        if blocklist:
            for rule in self.blocklist_rules:
                finding = rule.evaluate(rule.params, blocklist, tx)
                if finding is not None:
                    alerts.append(self._raise(rule, finding, tx, now_ms, profile.episodes))
        if profile.episodes:
            self._close_episodes(profile.episodes, tx.event_ms)
        self._count(profile.update(tx, self.sizes), alerts)
        return alerts

    def user(self, profile: UserProfile, tx: Tx, now_ms: int) -> list[Alert]:
        """Evaluate the user's rules on ``tx``, then add it to ``profile``."""
        alerts: list[Alert] = []
        for rule in self.user_rules:
            finding = rule.evaluate(rule.params, profile, tx)
            if finding is UNJUDGED:
                self.counters.unjudged += 1
            elif finding is not None:
                alerts.append(self._raise(rule, finding, tx, now_ms, profile.episodes))
        if profile.episodes:
            self._close_episodes(profile.episodes, tx.event_ms)
        late = profile.update(tx, self.user_widths)
        # The card scope counts transactions; this adds only what is its own.
        self._count(late, alerts, transaction=False)
        return alerts

    def _close_episodes(self, episodes: dict[str, list[Any]], now_event_ms: int) -> None:
        """Forget episodes past their cool-down, and those of rules no longer enabled."""
        for rule_id, episode in list(episodes.items()):
            cooldown = self._cooldowns.get(rule_id)
            if cooldown is None or now_event_ms - episode[1] > cooldown:
                del episodes[rule_id]

    def _count(self, late: bool, alerts: list[Alert], *, transaction: bool = True) -> None:
        counters = self.counters
        counters.transactions += transaction
        if late:
            counters.out_of_order += 1
        for alert in alerts:
            if alert.hits > 1:
                counters.updates += 1
            else:
                counters.alerts += 1

    def _raise(
        self,
        rule: CompiledRule,
        finding: Finding,
        tx: Tx,
        now_ms: int,
        episodes: dict[str, list[Any]],
    ) -> Alert:
        if rule.episodic:
            episode = episodes.get(rule.id)
            if episode is not None and abs(tx.event_ms - episode[1]) <= rule.cooldown_ms:
                return _continue(episode, finding, tx)
        alert = Alert(
            alert_id=alert_id(rule.id, tx.transaction_id),
            rule_id=rule.id,
            rule_type=rule.type,
            severity=rule.severity,
            score=round(finding.score, 4),
            reason=finding.reason,
            transaction_id=tx.transaction_id,
            card_masked=tx.card_masked,
            card_token=tx.card_token,
            bank_id=tx.bank_id,
            user_id=tx.user_id,
            amount=tx.amount,
            currency=tx.currency,
            merchant=tx.merchant,
            country=tx.country,
            payment_system=tx.payment_system,
            event_time=iso(tx.event_ms),
            detected_at=iso(now_ms),
            evidence=finding.evidence[:MAX_EVIDENCE],
            hits=1,
            last_transaction_id=tx.transaction_id,
        )
        if rule.episodic:
            episodes[rule.id] = [_values(alert), tx.event_ms]
        return alert


def _values(alert: Alert) -> tuple[Any, ...]:
    return tuple(getattr(alert, name) for name in Alert.__dataclass_fields__)


def _continue(episode: list[Any], finding: Finding, tx: Tx) -> Alert:
    """The episode's alert again, with this hit counted (and the episode kept open)."""
    first = Alert(*episode[0])
    seen = set(first.evidence)
    evidence = first.evidence + tuple(t for t in finding.evidence if t not in seen)
    if len(evidence) > MAX_EVIDENCE:
        evidence = evidence[: MAX_EVIDENCE - 1] + evidence[-1:]
    alert = replace(
        first,
        score=max(first.score, round(finding.score, 4)),
        reason=finding.reason,
        evidence=evidence,
        hits=first.hits + 1,
        last_transaction_id=tx.transaction_id,
    )
    episode[0] = _values(alert)
    episode[1] = max(episode[1], tx.event_ms)
    return alert


def alert_json(alert: Alert) -> str:
    """The alert as published on the alerts topic."""
    return json.dumps(alert.to_dict(), separators=(",", ":"))
