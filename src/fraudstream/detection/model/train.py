"""Training and evaluating the risk model on labelled simulator traffic.

The data is the stream ``fraudstream bench quality`` sends (``bench.quality.
build_rows``: both default banks, every attack scenario evenly spread after a
warm-up, honest look-alikes), replayed in event order through card and user
profiles exactly as the engine keeps them; each transaction's features are
taken before it is added to its card's and user's profiles. Training needs
scikit-learn; the model it writes is plain JSON that the engine scores
without it.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fraudstream.detection.engine.profile import CardProfile, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.model.features import NAMES, SIZES, USER_SIZES, features
from fraudstream.detection.model.scorer import FORMAT, Model, Tree, parse_model
from fraudstream.records import FraudLabel, card_token, mask_card

TOKEN_KEY: Final = "model-training"  # noqa: S105 (groups cards; protects nothing)
"""Card token key of the training replay (any key groups cards the same)."""
NOW: Final = 1_790_000_000.0
"""Fixed end of every generated stream, so a seed gives the same data."""
RISK_PRIOR_WEIGHT: Final = 200.0
SCALE_PRIOR_WEIGHT: Final = 20.0
CATEGORY: Final = NAMES.index("category_risk")


@dataclass
class Data:
    """One replayed labelled stream: features, labels and what they came from."""

    x: list[list[float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    mcc: list[str] = field(default_factory=list)
    txs: list[Tx] = field(default_factory=list)
    labels: list[FraudLabel] = field(default_factory=list)
    attacks: dict[str, int] = field(default_factory=dict)


def stream(
    seed: int, transactions: int = 90_000, per_scenario: int = 20, lookalikes: int = 20
) -> tuple[list[Tx], list[FraudLabel], dict[str, int]]:
    """The quality bench's labelled stream for ``seed`` as engine transactions."""
    from fraudstream.bench.quality import QualityOptions, build_rows

    options = QualityOptions(
        seed=seed, transactions=transactions, per_scenario=per_scenario, lookalikes=lookalikes
    )
    rows, injected, _, _ = build_rows(options, now=NOW)
    txs: list[Tx] = []
    labels: list[FraudLabel] = []
    tokens: dict[str, tuple[str, str]] = {}
    for row, label in rows:
        number = row[3]
        if number not in tokens:
            tokens[number] = (mask_card(number), card_token(number, TOKEN_KEY))
        masked, token = tokens[number]
        ms = int(row[9] * 1000)
        txs.append(
            Tx(
                row[0],
                row[1],
                row[2].upper(),
                masked,
                token,
                row[4],
                round(row[5], 2),
                row[6],
                json.loads(row[7]),
                row[8],
                ms,
                row[10],
                row[11],
                ms,
            )
        )
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
    return txs, labels, injected


def replay(
    txs: Iterable[Tx],
    labels: Sequence[FraudLabel],
    risk: dict[str, float],
    scale: dict[str, float] | None = None,
) -> Data:
    """Features of every transaction against its card's profile, in order."""
    scale = scale or {}
    fraud = {label.transaction_id for label in labels}
    data = Data(labels=list(labels))
    cards: dict[str, CardProfile] = {}
    users: dict[int, UserProfile] = {}
    for tx in txs:
        profile = cards.get(tx.card_token)
        if profile is None:
            profile = cards[tx.card_token] = CardProfile()
        user = users.get(tx.user_id)
        if user is None:
            user = users[tx.user_id] = UserProfile()
        profile.user = user
        data.x.append(features(profile, tx, risk, scale))
        data.y.append(int(tx.transaction_id in fraud))
        data.mcc.append(tx.merchant_category or "")
        data.txs.append(tx)
        profile.update(tx, SIZES)
        user.update(tx, (), USER_SIZES)
    return data


def category_risk(datasets: Sequence[Data]) -> dict[str, float]:
    """Log-odds of fraud per category against the overall rate, shrunk
    towards 0 for rarely seen categories."""
    seen: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for data in datasets:
        for mcc, y in zip(data.mcc, data.y, strict=True):
            seen[mcc] += 1
            bad[mcc] += y
    total = sum(seen.values())
    prior = (sum(bad.values()) + 1) / (total + 2)
    out = {}
    for mcc, n in sorted(seen.items()):
        rate = (bad[mcc] + RISK_PRIOR_WEIGHT * prior) / (n + RISK_PRIOR_WEIGHT)
        out[mcc] = round(math.log(rate / (1 - rate)) - math.log(prior / (1 - prior)), 4)
    return out


def category_scale(
    streams: Sequence[tuple[Sequence[Tx], Sequence[FraudLabel]]], rounds: int = 20
) -> dict[str, float]:
    """Each category's log amount against the others, from the honest
    transactions: log(1 + amount) fitted as the card's level plus the
    category's scale (alternating means), so a category that big spenders
    use is not mistaken for a dear one. Shrunk towards 0 for rare
    categories; the scales' mean over honest transactions is 0."""
    rows: list[tuple[str, str, float]] = []
    for txs, labels in streams:
        fraud = {label.transaction_id for label in labels}
        rows += [
            (tx.card_token, tx.merchant_category or "", math.log1p(tx.amount))
            for tx in txs
            if tx.transaction_id not in fraud
        ]
    scale: dict[str, float] = {}
    level: dict[str, float] = {}
    for _ in range(rounds):
        sums: dict[str, list[float]] = {}
        for card, mcc, value in rows:
            acc = sums.setdefault(card, [0.0, 0.0])
            acc[0] += value - scale.get(mcc, 0.0)
            acc[1] += 1
        level = {card: total / n for card, (total, n) in sums.items()}
        sums = {}
        for card, mcc, value in rows:
            acc = sums.setdefault(mcc, [0.0, 0.0])
            acc[0] += value - level[card]
            acc[1] += 1
        scale = {mcc: total / (n + SCALE_PRIOR_WEIGHT) for mcc, (total, n) in sums.items()}
        shift = sum(scale[mcc] for _, mcc, _ in rows) / max(1, len(rows))
        scale = {mcc: v - shift for mcc, v in scale.items()}
    return {mcc: round(v, 4) for mcc, v in sorted(scale.items())}


def attack_weights(data: Data) -> list[float]:
    """Sample weights: 1 for honest transactions; each attack weighs the same
    in all (a one-transaction spike as much as a 16-card enumeration), with
    the fraud transactions' total weight unchanged."""
    size: Counter[str] = Counter(label.scenario_id for label in data.labels)
    attack = {label.transaction_id: label.scenario_id for label in data.labels}
    per_attack = len(data.labels) / max(1, len(size))
    return [
        per_attack / size[attack[tx.transaction_id]] if y else 1.0
        for tx, y in zip(data.txs, data.y, strict=True)
    ]


def _with_risk(data: Data, risk: dict[str, float]) -> list[list[float]]:
    for row, mcc in zip(data.x, data.mcc, strict=True):
        row[CATEGORY] = risk.get(mcc, 0.0)
    return data.x


def fit(
    seeds: Sequence[int],
    *,
    transactions: int = 90_000,
    per_scenario: int = 60,
    trees: int = 150,
    depth: int = 5,
    leaves: int = 16,
    learning_rate: float = 0.1,
    min_leaf: int = 100,
) -> tuple[Model, dict[str, Any]]:
    """Train on the streams of ``seeds``; the model and a summary of the data."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    started = time.monotonic()
    streams = [stream(seed, transactions, per_scenario)[:2] for seed in seeds]
    scale = category_scale(streams)
    datasets = [replay(txs, labels, {}, scale) for txs, labels in streams]
    del streams
    risk = category_risk(datasets)
    x: list[list[float]] = []
    y: list[int] = []
    weights: list[float] = []
    for data in datasets:
        x += _with_risk(data, risk)
        y += data.y
        weights += attack_weights(data)
    clf = HistGradientBoostingClassifier(
        max_iter=trees,
        max_depth=depth,
        max_leaf_nodes=leaves,
        learning_rate=learning_rate,
        # A leaf of a few transactions the ensemble already scores near 0
        # or 1 gets a step of enormous size, which the explanation then
        # spreads over the features of its path.
        min_samples_leaf=min_leaf,
        early_stopping=False,
        random_state=0,
    )
    clf.fit(x, y, sample_weight=weights)
    exported = [_export(predictor) for (predictor,) in clf._predictors]
    base = float(clf._baseline_prediction.ravel()[0])
    summary = {
        "seeds": list(seeds),
        "transactions": len(y),
        "fraud_transactions": int(sum(y)),
        "attacks_per_scenario": per_scenario,
        "trees": trees,
        "depth": depth,
        "leaves": leaves,
        "learning_rate": learning_rate,
        "min_leaf": min_leaf,
        "seconds": round(time.monotonic() - started, 1),
    }
    model = Model(tuple(NAMES), risk, base, tuple(exported), info=summary, category_scale=scale)
    # The exported ensemble must score exactly as the trained one.
    check = clf.predict_proba(x[:2000])[:, 1]
    worst = max(abs(model.probability(r) - p) for r, p in zip(x[:2000], check, strict=True))
    if worst > 1e-4:
        raise RuntimeError(f"exported model differs from the trained one by {worst}")
    return model, summary


def _export(predictor: Any) -> Tree:
    """One fitted tree of scikit-learn's histogram gradient boosting as a ``Tree``."""
    nodes = predictor.nodes
    leaf = [bool(node["is_leaf"]) for node in nodes]
    left = [-1 if leaf[i] else int(node["left"]) for i, node in enumerate(nodes)]
    right = [-1 if leaf[i] else int(node["right"]) for i, node in enumerate(nodes)]
    count = [float(node["count"]) for node in nodes]
    # Leaves hold their value, already scaled by the learning rate. Internal
    # nodes: the mean of their leaves weighted by the transactions in them,
    # so a path's changes add up exactly to leaf minus root (the explanation).
    value = [float(node["value"]) for node in nodes]
    for i in sorted(range(len(nodes)), key=lambda k: -int(nodes[k]["depth"])):
        if not leaf[i]:
            wl, wr = count[left[i]], count[right[i]]
            value[i] = (value[left[i]] * wl + value[right[i]] * wr) / (wl + wr)
    return Tree(
        tuple(-1 if leaf[i] else int(node["feature_idx"]) for i, node in enumerate(nodes)),
        tuple(0.0 if leaf[i] else float(node["num_threshold"]) for i, node in enumerate(nodes)),
        tuple(left),
        tuple(right),
        tuple(value),
    )


def save(model: Model, path: Path) -> None:
    data = model.to_dict()
    data["format"] = FORMAT
    for tree in data["trees"]:
        tree[4] = [round(v, 6) for v in tree[4]]
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    parse_model(json.loads(path.read_text()), str(path))  # it loads back
