"""Evaluating the risk model and comparing rule sets on a held-out stream.

``model_report`` scores the model alone per transaction (precision, recall,
PR-AUC, calibration) and per attack; ``compare`` replays the same stream
through the engine with the bundled catalogue, the catalogue without its
risk-score rules, the risk-score rules alone and the ``seed-baseline`` pack,
and scores each like ``fraudstream backtest`` does.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from fraudstream.detection.backtest import Replayer, score
from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.model.scorer import Model
from fraudstream.detection.model.train import CATEGORY, Data
from fraudstream.detection.rules.catalogue import Catalogue, load_catalogue, with_packs
from fraudstream.records import FraudLabel

BASELINE_PACK: Final = "seed-baseline"
RISK_TYPE: Final = "risk_score"


def rule_sets(catalogue: Catalogue) -> dict[str, Catalogue]:
    """The four rule sets the comparison runs."""
    rules = catalogue.rules
    default = [r for r in rules if r.pack != BASELINE_PACK]
    return {
        "rules + risk score": Catalogue(rules=tuple(default)),
        "rules alone": Catalogue(
            rules=tuple(
                r.model_copy(update={"enabled": r.enabled and r.type != RISK_TYPE}) for r in default
            )
        ),
        "risk score alone": Catalogue(
            rules=tuple(r.model_copy(update={"enabled": r.type == RISK_TYPE}) for r in default)
        ),
        BASELINE_PACK: with_packs(
            Catalogue(
                rules=tuple(
                    r.model_copy(update={"enabled": r.pack == BASELINE_PACK}) for r in rules
                )
            ),
            [BASELINE_PACK],
        ),
    }


def compare(
    txs: Sequence[Tx], labels: Sequence[FraudLabel], catalogue: Catalogue | None = None
) -> dict[str, dict[str, Any]]:
    """Each rule set's quality on the stream (as ``fraudstream backtest`` scores it)."""
    out = {}
    fraud_ids = [label.transaction_id for label in labels]
    for name, rules in rule_sets(catalogue or load_catalogue()).items():
        engine = Engine(rules)
        replayer = Replayer(engine, None, fraud_ids=fraud_ids)
        feed = replayer.feed
        started = time.process_time()
        for tx in txs:
            feed(tx)
        cpu_us = (time.process_time() - started) * 1e6 / max(1, len(txs))
        quality, per_rule = score(replayer.traces, labels, replayer.fraud_replayed)
        alerts: dict[str, int] = defaultdict(int)
        for trace in replayer.traces.values():
            alerts[trace.rule_id] += 1
        out[name] = {
            "engine_cpu_us_per_tx": round(cpu_us, 1),
            "quality": asdict(quality),
            "per_rule": {
                rule: {
                    "alerts": alerts[rule],
                    "true_positives": per_rule.get(rule, (0, 0))[0],
                    "attacks": per_rule.get(rule, (0, 0))[1],
                }
                for rule in sorted(alerts)
            },
        }
    return out


def model_report(
    model: Model, data: Data, threshold: float, plot: Path | None = None
) -> dict[str, Any]:
    """The model alone on every transaction of ``data``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    x = data.x
    for row, mcc in zip(x, data.mcc, strict=True):
        row[CATEGORY] = model.category_risk.get(mcc, 0.0)
    p = [model.probability(row) for row in x]
    y = data.y
    hit = [pi >= threshold for pi in p]
    tp = sum(1 for h, t in zip(hit, y, strict=True) if h and t)
    flagged = sum(hit)
    positives = sum(y)
    by_tx = {label.transaction_id: label for label in data.labels}
    attacks: dict[str, set[str]] = defaultdict(set)
    caught: dict[str, set[str]] = defaultdict(set)
    for tx, pi in zip(data.txs, p, strict=True):
        label = by_tx.get(tx.transaction_id)
        if label is None:
            continue
        attacks[label.scenario].add(label.scenario_id)
        if pi >= threshold:
            caught[label.scenario].add(label.scenario_id)
    report: dict[str, Any] = {
        "threshold": threshold,
        "transactions": len(y),
        "fraud_transactions": positives,
        "flagged": flagged,
        "precision": round(tp / flagged, 4) if flagged else None,
        "recall": round(tp / positives, 4) if positives else None,
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "attack_recall": {
            name: {"caught": len(caught[name]), "attacks": len(ids)}
            for name, ids in sorted(attacks.items())
        },
        "calibration": calibration(p, y),
    }
    if plot is not None:
        plot_calibration(report["calibration"], plot)
    return report


def calibration(p: Sequence[float], y: Sequence[int], bins: int = 10) -> list[dict[str, Any]]:
    """Mean predicted probability and observed fraud rate per probability bin."""
    sums = [[0.0, 0, 0] for _ in range(bins)]
    for pi, yi in zip(p, y, strict=True):
        b = sums[min(bins - 1, int(pi * bins))]
        b[0] += pi
        b[1] += yi
        b[2] += 1
    return [
        {
            "bin": f"{i / bins:.1f}-{(i + 1) / bins:.1f}",
            "count": int(n),
            "mean_predicted": round(s / n, 4),
            "observed": round(k / n, 4),
        }
        for i, (s, k, n) in enumerate(sums)
        if n
    ]


def plot_calibration(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot(
        [r["mean_predicted"] for r in rows],
        [r["observed"] for r in rows],
        "o-",
        label="risk model",
    )
    for r in rows:
        ax.annotate(str(r["count"]), (r["mean_predicted"], r["observed"]), fontsize=7)
    ax.set_xlabel("predicted fraud probability (bin mean)")
    ax.set_ylabel("observed share of fraud")
    ax.set_title("Risk model calibration (transactions per bin)")
    ax.legend(loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return "–" if v is None else str(v)

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    m = result["risk_model"]
    info = result.get("model", {})
    lines = [
        f"# Risk model on seed {result['seed']}",
        "",
        f"Model trained on seeds {info.get('seeds')} ({info.get('transactions')} transactions, "
        f"{info.get('fraud_transactions')} fraudulent); {m['transactions']} transactions here, "
        f"{m['fraud_transactions']} fraudulent.",
        "",
        "## The model alone, per transaction",
        "",
        _table(
            ["threshold", "flagged", "precision", "recall", "PR-AUC", "ROC-AUC"],
            [
                [
                    m["threshold"],
                    m["flagged"],
                    m["precision"],
                    m["recall"],
                    m["pr_auc"],
                    m["roc_auc"],
                ]
            ],
        ),
        "",
        "Attacks with at least one transaction at or above the threshold:",
        "",
        _table(
            ["scenario", "caught"],
            [[k, f"{v['caught']}/{v['attacks']}"] for k, v in m["attack_recall"].items()],
        ),
        "",
        "![calibration](calibration.png)",
        "",
    ]
    sets = result.get("rule_sets")
    if not sets:
        return "\n".join(lines)
    lines += ["## Rule sets on the same stream (engine replay, as `fraudstream backtest`)", ""]
    rows = []
    for name, r in sets.items():
        q = r["quality"]
        rows.append(
            [
                name,
                q["true_positive_alerts"] + q["false_positive_alerts"],
                q["false_positive_alerts"],
                q["precision"],
                f"{q['recall']} ({q['detected']}/{q['attacks']})",
                q["alerts_per_attack"],
                q.get("cases_per_attack"),
                r.get("engine_cpu_us_per_tx"),
            ]
        )
    lines.append(
        _table(
            [
                "rule set",
                "alerts",
                "false-positive alerts",
                "precision",
                "recall (attacks)",
                "alerts per attack",
                "cases per attack",
                "engine CPU µs/tx",
            ],
            rows,
        )
    )
    names = list(sets)
    scenarios = [s["scenario"] for s in next(iter(sets.values()))["quality"]["scenarios"]]
    rows = []
    for scenario in scenarios:
        row: list[Any] = [scenario]
        for name in names:
            s = next(x for x in sets[name]["quality"]["scenarios"] if x["scenario"] == scenario)
            row.append(
                f"{s['recall']} ({s['detected']}/{s['attacks']}), "
                f"{s['alerts_per_attack']}, {s.get('cases_per_attack')}"
            )
        rows.append(row)
    lines += [
        "",
        "Recall per scenario (caught/attacks), then alerts and cases per attack:",
        "",
        _table(["scenario", *names], rows),
        "",
    ]
    rows = []
    for name in names:
        for rule, c in sets[name]["per_rule"].items():
            precision = round(c["true_positives"] / c["alerts"], 3) if c["alerts"] else None
            rows.append([name, rule, c["alerts"], precision, c["attacks"]])
    lines += [
        "Per rule:",
        "",
        _table(["rule set", "rule", "alerts", "precision", "attacks caught"], rows),
        "",
    ]
    return "\n".join(lines)
