"""Cases: the alerts of one user (over all their cards) or merchant grouped as the
detection engine named them (``Alert.case_id``, the id of the alert that opened
the case).

Pure shaping, no Streamlit and no services. An alert without a case id
(archived before cases existed) is a case of its own, keyed by its alert id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import pandas as pd

from fraudstream.dashboard.frames import format_amount
from fraudstream.records import SEVERITY_RANK

CASE_COLUMNS: Final = (
    "case_id",
    "opened_at",
    "last_detected_at",
    "severity",
    "alerts",
    "hits",
    "rules",
    "reason",
    "card_masked",
    "user_id",
    "bank_id",
    "amount",
    "currency",
    "merchant",
    "country",
    "alert_ids",
)
MIXED: Final = "mixed"
"""The verdict of a case whose alerts carry different verdicts, or only some one."""


def case_keys(alerts: pd.DataFrame) -> pd.Series:
    """Each alert's case: its case id, or its own id when it has none."""
    if "case_id" not in alerts.columns:
        return alerts["alert_id"].astype(str)
    ids = alerts["case_id"].astype("object")
    return ids.where(ids.notna() & (ids != ""), alerts["alert_id"]).astype(str)


def cases_frame(alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per case, the most recently active first.

    ``alerts`` is a frame of ``frames.merge_alerts`` (unique alert ids). A case
    shows its highest severity, its rules, the reason of its newest alert, the
    cards it touched, the largest amount and the ids of its alerts.
    """
    if alerts.empty:
        return pd.DataFrame(columns=list(CASE_COLUMNS))
    df = alerts.assign(
        _case=case_keys(alerts), _rank=alerts["severity"].map(SEVERITY_RANK).fillna(-1)
    )
    df = df.sort_values("detected_at", kind="stable")
    rows: list[dict[str, Any]] = []
    for case_id, group in df.groupby("_case", sort=False):
        newest = group.iloc[-1]
        first = group.iloc[0]
        worst = group.loc[group["_rank"].idxmax()]
        cards = list(dict.fromkeys(str(c) for c in group["card_masked"]))
        rows.append(
            {
                "case_id": str(case_id),
                "opened_at": group["event_time"].min(),
                "last_detected_at": newest["detected_at"],
                "severity": worst["severity"],
                "alerts": len(group),
                "hits": _hits(group),
                "rules": ", ".join(sorted(set(group["rule_id"].astype(str)))),
                "reason": newest["reason"],
                "card_masked": ", ".join(cards),
                "user_id": first["user_id"],
                "bank_id": first["bank_id"],
                "amount": float(group["amount"].max()),
                "currency": first["currency"],
                "merchant": first["merchant"],
                "country": first["country"],
                "alert_ids": tuple(str(a) for a in group["alert_id"]),
            }
        )
    out = pd.DataFrame(rows, columns=list(CASE_COLUMNS))
    return out.sort_values("last_detected_at", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _hits(group: pd.DataFrame) -> int:
    if "hits" not in group.columns:
        return len(group)
    return int(pd.to_numeric(group["hits"], errors="coerce").fillna(1).sum())


def case_table(cases: pd.DataFrame) -> pd.DataFrame:
    """The columns an analyst reads in the case list, formatted for display."""
    out = pd.DataFrame(
        {
            "time": cases["last_detected_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "severity": cases["severity"],
            "case": cases["case_id"].str[:8],
            "alerts": cases["alerts"].astype(int),
            "rules": cases["rules"],
            "reason": cases["reason"],
            "card": cases["card_masked"],
            "user": cases["user_id"].astype("string"),
            "bank": cases["bank_id"],
            "amount": [
                format_amount(a, c) for a, c in zip(cases["amount"], cases["currency"], strict=True)
            ],
            "merchant": cases["merchant"],
            "country": cases["country"],
        }
    )
    return out.reset_index(drop=True)


def alerts_of(alerts: pd.DataFrame, case_id: str) -> pd.DataFrame:
    """The alerts of one case, newest first."""
    return alerts[case_keys(alerts) == case_id]


def case_verdict(alert_ids: tuple[str, ...], verdicts: Mapping[str, str]) -> str | None:
    """The case's verdict: the one every alert has, ``MIXED`` when they differ
    or only some have one (an alert joined after the verdict), None when none has."""
    given = [verdicts.get(a) for a in alert_ids]
    marked = {v for v in given if v is not None}
    if not marked:
        return None
    if len(marked) == 1 and None not in given:
        return marked.pop()
    return MIXED


def untriaged_first(cases: pd.DataFrame, verdicts: Mapping[str, str]) -> pd.DataFrame:
    """Cases without a complete verdict first, each group newest first."""
    done = cases["alert_ids"].map(lambda ids: case_verdict(ids, verdicts) not in (None, MIXED))
    return pd.concat([cases[~done], cases[done]]).reset_index(drop=True)


def case_label(row: Mapping[str, Any]) -> str:
    when = row["last_detected_at"]
    stamp = when.strftime("%H:%M:%S") if isinstance(when, datetime | pd.Timestamp) else str(when)
    amount = format_amount(float(row["amount"]), row.get("currency"))
    count = int(row["alerts"])
    return (
        f"{stamp} · {row['severity']} · case {str(row['case_id'])[:8]} · {count} alert"
        f"{'s' if count != 1 else ''} ({row['rules']}) · {row['card_masked']} · "
        f"{row['bank_id']} · {amount}"
    )
