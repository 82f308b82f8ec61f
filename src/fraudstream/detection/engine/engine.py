"""The rule engine: a catalogue compiled into a list of pure evaluations.

``Engine.card`` runs every card-scope rule (and the block list) on one
transaction against its card's profile, then adds the transaction to the
profile; ``Engine.user`` and ``Engine.merchant`` do the same for user- and
merchant-scope rules. Each returns the alerts to publish. The Flink job's
keyed operators and ``fraudstream backtest`` call exactly these methods, so
they raise the same alerts.

One alert per episode: while an episodic rule keeps firing on a card, the
first hit raises an alert (its id is ``md5(rule_id:transaction_id)`` of that
first transaction, or of the transaction the finding names as its
``anchor``) and later hits publish the same alert again with the hit
count, the last transaction and the newest reason. An episode ends once the
rule has not fired for its cool-down (event time).

Deferring rules (``defer: true``, card scope) run after the others, the more
severe first. While another rule's episode is open on the card, a deferring
rule's finding joins that alert instead of opening one: the alert is
published again with the transaction as its latest hit, the joining rule's
reason after its own (``JOINED``) and the higher of the two severities.

Cases: the alerts of one user (card and user rules alike, over all the
user's cards) or of one merchant that follow each other with gaps of at most
the catalogue's ``cases.cooldown_seconds`` (event time) form one case, named
by the id of the alert that opened it (``case_id``). The open case lives in
the user's (merchant's) profile beside the episodes (under ``CASE_KEY``), so
the job and the backtest assign the same case ids. When no user profile is
kept (no user rule, no rule reading it), a card's alerts form its own cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from fraudstream.detection.engine.merchant import MerchantProfile
from fraudstream.detection.engine.profile import CardProfile, Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx, iso
from fraudstream.detection.rules.catalogue import Catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.base import UNJUDGED, Finding
from fraudstream.records import SEVERITY_RANK, Alert, alert_id

MAX_EVIDENCE: Final = 50
"""Transaction ids an episode's alert names at most (the first ones and the last)."""
MIN_TTL_S: Final = 3600
CASE_KEY: Final = "#case"
"""Key of the open case in a profile's episodes: [case id, latest alert event ms]
(rule ids cannot start with '#')."""


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
    defer: bool = False
    """Opens no alert while another rule's is open on the card: joins it."""


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
                defer=rule.defer,
            )
        )
    return tuple(rules)


class Engine:
    """The enabled rules of one catalogue, ready to evaluate."""

    def __init__(self, catalogue: Catalogue) -> None:
        rules = compile_rules(catalogue)
        # Rules that defer run after the others (the more severe first): a rule
        # firing on the same transaction is one they join, whatever the order
        # of the catalogue.
        self.card_rules = tuple(
            sorted(
                (r for r in rules if r.scope == "card"),
                key=lambda r: (r.defer, -SEVERITY_RANK[r.severity] if r.defer else 0),
            )
        )
        self.user_rules = tuple(r for r in rules if r.scope == "user")
        self.merchant_rules = tuple(r for r in rules if r.scope == "merchant")
        self.blocklist_rules = tuple(r for r in rules if r.scope == "blocklist")
        # Each scope's profile keeps what that scope's rules read, no more.
        sizes = {"card": Sizes(), "user": Sizes(), "merchant": Sizes()}
        user_widths: set[int] = set()
        reads_user = False
        for rule in rules:
            rule_type = REGISTRY[rule.type]
            rule_sizes = rule_type.sizes(rule.params)
            scope = "card" if rule.scope == "blocklist" else rule.scope
            sizes[scope] = sizes[scope].merge(rule_sizes)
            if rule_sizes.tumbling_s:
                user_widths.add(rule_sizes.tumbling_s)
            if rule_type.user_sizes is not None and scope == "card":
                sizes["user"] = sizes["user"].merge(rule_type.user_sizes(rule.params))
                reads_user = True
        self.sizes = sizes["card"]
        self.user_sizes = sizes["user"]
        self.merchant_sizes = sizes["merchant"]
        self.user_widths = tuple(sorted(user_widths))
        self.card_reads_user = reads_user
        """Whether a card rule reads the user's profile (``CardProfile.user``)."""
        self.case_gap_ms = catalogue.cases.cooldown_seconds * 1000
        self.ttl_s = max(
            MIN_TTL_S,
            *(s.window_s for s in sizes.values()),
            *(r.cooldown_ms // 1000 for r in rules),
            catalogue.cases.cooldown_seconds,
        )
        """A profile unseen for this long has nothing any rule would read."""
        admits = [(REGISTRY[r.type].admits, r.params) for r in self.merchant_rules]
        self._merchant_admits: tuple[tuple[Callable[[Any, Tx], bool], Any], ...] | None = (
            tuple((f, p) for f, p in admits if f is not None)
            if all(f is not None for f, _ in admits)
            else None
        )
        self.counters = Counters()
        self.deferred: dict[str, int] = {}
        """Per deferring rule: the findings that joined another rule's open alert
        instead of opening one, on a later transaction or on the one that alert
        fired on (``fraudstream backtest`` shows them)."""
        self._cooldowns = {r.id: r.cooldown_ms for r in rules if r.episodic}
        self._cooldowns[CASE_KEY] = self.case_gap_ms

    @property
    def has_user_rules(self) -> bool:
        return bool(self.user_rules)

    @property
    def keeps_users(self) -> bool:
        """Whether user profiles are kept: a user rule, or a card rule, reads them."""
        return bool(self.user_rules) or self.card_reads_user

    @property
    def has_merchant_rules(self) -> bool:
        return bool(self.merchant_rules)

    def merchant_admits(self, tx: Tx) -> bool:
        """Whether any merchant-scope rule reads ``tx`` (the others never reach
        the merchant's profile: ``Engine.merchant`` ignores them, and the job
        does not send them to its merchant operator)."""
        if not self.merchant_rules:
            return False
        admits = self._merchant_admits
        return admits is None or any(admit(params, tx) for admit, params in admits)

    def card(
        self,
        profile: CardProfile,
        tx: Tx,
        now_ms: int,
        blocklist: Any = None,
    ) -> list[Alert]:
        """Evaluate the card's rules on ``tx``, then add it to ``profile``. Their
        alerts join the case of the card's user (``profile.user``), or of the
        card when no user profile is given."""
        alerts: list[Alert] = []
        episodes = profile.episodes
        cases = profile.user.episodes if profile.user is not None else episodes
        for rule in self.card_rules:
            finding = rule.evaluate(rule.params, profile, tx)
            if finding is UNJUDGED:
                self.counters.unjudged += 1
            elif finding is not None:
                host = self._host(rule, episodes, tx.event_ms) if rule.defer else None
                if host is not None:
                    self.deferred[rule.id] = self.deferred.get(rule.id, 0) + 1
                    joined = _join(host, rule, finding, tx)
                    self._keep_case(cases, joined.case_id, tx.event_ms)
                    # Published once per transaction: the host's alert of this
                    # transaction, if any, is replaced by the joined one.
                    alerts = [a for a in alerts if a.alert_id != joined.alert_id]
                    alerts.append(joined)
                    continue
                alerts.append(self._raise(rule, finding, tx, now_ms, episodes, cases))
        if blocklist:
            for rule in self.blocklist_rules:
                finding = rule.evaluate(rule.params, blocklist, tx)
                if finding is not None:
                    alerts.append(self._raise(rule, finding, tx, now_ms, episodes, cases))
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
        late = profile.update(tx, self.user_widths, self.user_sizes)
        # The card scope counts transactions; this adds only what is its own.
        self._count(late, alerts, transaction=False)
        return alerts

    def merchant(self, profile: MerchantProfile, tx: Tx, now_ms: int) -> list[Alert]:
        """Evaluate the merchant's rules on ``tx``, then add it to ``profile``
        (nothing at all when no merchant rule admits it)."""
        alerts: list[Alert] = []
        if not self.merchant_admits(tx):
            return alerts
        for rule in self.merchant_rules:
            finding = rule.evaluate(rule.params, profile, tx)
            if finding is not None:
                alerts.append(self._raise(rule, finding, tx, now_ms, profile.episodes))
        if profile.episodes:
            self._close_episodes(profile.episodes, tx.event_ms)
        late = profile.update(tx, self.merchant_sizes)
        self._count(late, alerts, transaction=False)
        return alerts

    def _host(
        self, rule: CompiledRule, episodes: dict[str, list[Any]], event_ms: int
    ) -> list[Any] | None:
        """The open episode a deferring ``rule``'s finding joins: the latest of
        another rule's on the card, unless ``rule`` has one of its own open."""
        own = episodes.get(rule.id)
        if own is not None and abs(event_ms - own[1]) <= rule.cooldown_ms:
            return None
        host = None
        cooldowns = self._cooldowns
        for key, episode in episodes.items():
            if key == rule.id or key == CASE_KEY:
                continue
            cooldown = cooldowns.get(key)
            if cooldown is None or abs(event_ms - episode[1]) > cooldown:
                continue
            if host is None or episode[1] > host[1]:
                host = episode
        return host

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
        cases: dict[str, list[Any]] | None = None,
    ) -> Alert:
        """The alert of ``finding``: its episode's again, or a new one. The open
        case is kept in ``cases`` (default: ``episodes``, the same profile)."""
        if cases is None:
            cases = episodes
        if rule.episodic:
            episode = episodes.get(rule.id)
            if episode is not None and abs(tx.event_ms - episode[1]) <= rule.cooldown_ms:
                alert = _continue(episode, finding, tx)
                self._keep_case(cases, alert.case_id, tx.event_ms)
                return alert
        new_id = alert_id(rule.id, finding.anchor or tx.transaction_id)
        alert = Alert(
            alert_id=new_id,
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
            case_id=self._case_for(cases, new_id, tx.event_ms),
        )
        if rule.episodic:
            episodes[rule.id] = [_values(alert), tx.event_ms]
        return alert

    def _case_for(self, episodes: dict[str, list[Any]], new_alert_id: str, event_ms: int) -> str:
        """The open case of the profile (extended to ``event_ms``), or a new one
        named by this alert."""
        case = episodes.get(CASE_KEY)
        if case is not None and abs(event_ms - case[1]) <= self.case_gap_ms:
            case[1] = max(case[1], event_ms)
            return str(case[0])
        episodes[CASE_KEY] = [new_alert_id, event_ms]
        return new_alert_id

    def _keep_case(
        self, episodes: dict[str, list[Any]], case_id: str | None, event_ms: int
    ) -> None:
        """A later hit of an episode keeps its case open (or reopens it)."""
        if case_id is None:  # an episode opened before alerts had cases
            return
        case = episodes.get(CASE_KEY)
        if case is None or abs(event_ms - case[1]) > self.case_gap_ms:
            episodes[CASE_KEY] = [case_id, event_ms]
        elif case[0] == case_id:
            case[1] = max(case[1], event_ms)


def _values(alert: Alert) -> tuple[Any, ...]:
    return tuple(getattr(alert, name) for name in Alert.__dataclass_fields__)


JOINED: Final = "; and later, "
"""Separates an alert's own reason from the reasons of the deferring rules
that joined it, each written ``<rule id>: <its reason>``."""


def _joined_parts(reason: str) -> tuple[str, dict[str, str]]:
    """An alert's own reason and, per joining rule, its reason."""
    own, *parts = reason.split(JOINED)
    joined: dict[str, str] = {}
    for part in parts:
        rule_id, _, text = part.partition(": ")
        joined[rule_id] = text
    return own, joined


def _with_parts(own: str, joined: dict[str, str]) -> str:
    return own + "".join(f"{JOINED}{rule_id}: {text}" for rule_id, text in joined.items())


def _join(episode: list[Any], rule: CompiledRule, finding: Finding, tx: Tx) -> Alert:
    """``episode``'s alert again with ``rule``'s finding on ``tx`` joined: its
    reason added after the alert's own (replacing an earlier one of the same
    rule), the higher severity and score, and ``tx`` as the latest hit unless
    it already is (both fired on the same transaction: no hit is added)."""
    first = Alert(*episode[0])
    own, joined = _joined_parts(first.reason)
    joined.pop(rule.id, None)
    joined[rule.id] = finding.reason
    reason = _with_parts(own, joined)
    severity = max(first.severity, rule.severity, key=lambda s: SEVERITY_RANK.get(s, 0))
    if first.last_transaction_id != tx.transaction_id:
        episode[0] = _values(replace(first, severity=severity))
        return _continue(episode, Finding(finding.score, reason, (tx.transaction_id,)), tx)
    alert = replace(
        first, score=max(first.score, round(finding.score, 4)), reason=reason, severity=severity
    )
    episode[0] = _values(alert)
    return alert


def _continue(episode: list[Any], finding: Finding, tx: Tx) -> Alert:
    """The episode's alert again, with this hit counted (and the episode kept
    open). The reasons of deferring rules that joined it are kept after the
    newest reason of its own."""
    first = Alert(*episode[0])
    seen = set(first.evidence)
    evidence = first.evidence + tuple(t for t in finding.evidence if t not in seen)
    if len(evidence) > MAX_EVIDENCE:
        evidence = evidence[: MAX_EVIDENCE - 1] + evidence[-1:]
    reason = finding.reason
    if JOINED in first.reason and JOINED not in reason:
        reason = _with_parts(reason, _joined_parts(first.reason)[1])
    alert = replace(
        first,
        score=max(first.score, round(finding.score, 4)),
        reason=reason,
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
