"""Pure shaping of dashboard data: no Streamlit, no services.

The pages fetch (from the live window and PostgreSQL) and render; everything
in between — merging, filtering, rates, precision, display formatting — lives
here so it can be tested fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pandas as pd

from fraudstream.dashboard.queries import ALERT_COLUMNS, AlertFilter
from fraudstream.detection.rules.catalogue import Catalogue
from fraudstream.records import Alert

# Time ranges offered by the pages: label -> seconds (None = everything).
TIME_RANGES: Final[dict[str, int | None]] = {
    "last 5 minutes": 5 * 60,
    "last 15 minutes": 15 * 60,
    "last hour": 3600,
    "last 6 hours": 6 * 3600,
    "last 24 hours": 24 * 3600,
    "last 7 days": 7 * 24 * 3600,
    "all time": None,
}

# Cell colours of the severity column (CSS), mild to alarming.
SEVERITY_COLOURS: Final = {
    "low": "#e8f5e9",
    "medium": "#fff8e1",
    "high": "#ffe0b2",
    "critical": "#ffcdd2",
}

_HEX64: Final = re.compile(r"^[0-9a-fA-F]{64}$")
_MASKED: Final = re.compile(r"^[0-9]{6}\*{2,9}[0-9]{4}$")
_DIGITS: Final = re.compile(r"^[0-9]{1,18}$")


def since(seconds: int | None, now: datetime | None = None) -> datetime | None:
    if seconds is None:
        return None
    return (now or datetime.now(UTC)) - timedelta(seconds=seconds)


# -- alerts --------------------------------------------------------------------------
def alerts_frame(alerts: Iterable[Alert]) -> pd.DataFrame:
    """Live-window alerts as a frame with the archive's columns and types."""
    items = list(alerts)
    # Column by column: dataclasses.asdict per alert costs more than the rest.
    data: dict[str, list[Any]] = {name: [getattr(a, name) for a in items] for name in ALERT_COLUMNS}
    data["evidence"] = [",".join(a.evidence) for a in items]
    return normalise_alerts(pd.DataFrame(data, columns=[*ALERT_COLUMNS, "evidence"]))


def normalise_alerts(df: pd.DataFrame) -> pd.DataFrame:
    """Same dtypes whether the rows came from Kafka JSON or PostgreSQL."""
    df = df.copy()
    for column in ("event_time", "detected_at"):
        if isinstance(df[column].dtype, pd.DatetimeTZDtype):
            # Already parsed (PostgreSQL rows come in the session's time zone).
            df[column] = df[column].dt.tz_convert("UTC").dt.as_unit("ns")
        else:
            df[column] = pd.to_datetime(
                df[column], utc=True, errors="coerce", format="ISO8601"
            ).dt.as_unit("ns")
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype(float)
    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype(float)
    df["user_id"] = pd.to_numeric(df["user_id"], errors="coerce").astype("Int64")
    for column in ("currency", "country"):
        df[column] = df[column].astype("string").str.strip()
    return df


def newest(df: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The ``limit`` most recently detected alerts of a frame."""
    return df.sort_values("detected_at", ascending=False, kind="stable").head(limit)


def merge_alerts(*frames: pd.DataFrame) -> pd.DataFrame:
    """One list of alerts, unique by alert_id (first frame wins), newest first."""
    parts = [normalise_alerts(f) for f in frames if not f.empty]
    if not parts:
        return normalise_alerts(pd.DataFrame(columns=[*ALERT_COLUMNS, "evidence"]))
    merged = pd.concat(parts, ignore_index=True)
    merged = merged.drop_duplicates(subset="alert_id", keep="first")
    return merged.sort_values("detected_at", ascending=False, kind="stable").reset_index(drop=True)


def filter_alerts(df: pd.DataFrame, flt: AlertFilter) -> pd.DataFrame:
    """The same narrowing as ``AlertFilter.where`` does in SQL, on a frame."""
    mask = pd.Series(True, index=df.index)
    if flt.rules:
        mask &= df["rule_id"].isin(flt.rules)
    if flt.banks:
        mask &= df["bank_id"].isin(flt.banks)
    if flt.severities:
        mask &= df["severity"].isin(flt.severities)
    if flt.since is not None:
        mask &= df["detected_at"] >= pd.Timestamp(flt.since)
    if flt.until is not None:
        mask &= df["detected_at"] <= pd.Timestamp(flt.until)
    if flt.card_token is not None:
        mask &= df["card_token"] == flt.card_token
    if flt.card_masked is not None:
        mask &= df["card_masked"] == flt.card_masked
    if flt.user_id is not None:
        mask &= df["user_id"] == flt.user_id
    if flt.case_id is not None:
        cases = df["case_id"].astype("object") if "case_id" in df.columns else None
        own = df["alert_id"] if cases is None else cases.where(cases.notna(), df["alert_id"])
        mask &= own == flt.case_id
    return df[mask.fillna(False).astype(bool)]


def parse_subject(text: str) -> AlertFilter:
    """A drill-down subject: a card token (64 hex), a masked card or a user id."""
    value = text.strip()
    if _HEX64.match(value):
        return AlertFilter(card_token=value.lower())
    if _MASKED.match(value):
        return AlertFilter(card_masked=value)
    if _DIGITS.match(value) and int(value) > 0:
        return AlertFilter(user_id=int(value))
    raise ValueError(
        "enter a card token (64 hex characters), a masked card such as "
        "411111******1111, or a numeric user id"
    )


def format_amount(amount: float, currency: str | None = None) -> str:
    text = f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def format_seconds(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def feed_table(df: pd.DataFrame) -> pd.DataFrame:
    """The columns an analyst reads in the feed, formatted for display."""
    out = pd.DataFrame(
        {
            "time": df["detected_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "severity": df["severity"],
            "rule": df["rule_id"],
            "reason": df["reason"],
            "card": df["card_masked"],
            "user": df["user_id"].astype("string"),
            "bank": df["bank_id"],
            "amount": [
                format_amount(a, c) for a, c in zip(df["amount"], df["currency"], strict=True)
            ],
            "merchant": df["merchant"],
            "country": df["country"],
        }
    )
    return out.reset_index(drop=True)


def severity_style(severity: object) -> str:
    colour = SEVERITY_COLOURS.get(str(severity))
    return f"background-color: {colour}" if colour else ""


# -- overview ---------------------------------------------------------------------------
ALL_BANKS: Final = "All banks"


def bank_metrics(summary: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Rates per bank from ``Archive.bank_summary``; the all-banks row comes first."""
    columns = [
        "bank",
        "transactions_per_second",
        "alerts_per_minute",
        "fraud_rate",
        "amount_at_risk",
        "latency_p50",
        "latency_p99",
        "transactions",
        "alerts",
    ]
    if summary.empty:
        row: dict[str, Any] = dict.fromkeys(columns, 0.0)
        row.update(bank=ALL_BANKS, latency_p50=None, latency_p99=None)
        return pd.DataFrame([row], columns=columns)
    tx = pd.to_numeric(summary["transactions"]).astype(float)
    alerted = pd.to_numeric(summary["alerted_transactions"]).astype(float)
    out = pd.DataFrame(
        {
            "bank": summary["bank_id"].where(summary["bank_id"].notna(), ALL_BANKS),
            "transactions_per_second": tx / seconds,
            "alerts_per_minute": pd.to_numeric(summary["alerts"]).astype(float) * 60 / seconds,
            "fraud_rate": (alerted / tx.where(tx > 0)).fillna(0.0),
            "amount_at_risk": pd.to_numeric(summary["amount_at_risk"]).astype(float),
            "latency_p50": pd.to_numeric(summary["latency_p50"]).astype(float),
            "latency_p99": pd.to_numeric(summary["latency_p99"]).astype(float),
            "transactions": tx.astype(int),
            "alerts": pd.to_numeric(summary["alerts"]).astype(int),
        }
    )
    order = (out["bank"] != ALL_BANKS).astype(int)
    return (
        out.assign(_o=order).sort_values(["_o", "bank"]).drop(columns="_o").reset_index(drop=True)
    )


def pivot_series(
    df: pd.DataFrame,
    value: str,
    scale: float = 1.0,
    column: str = "bank_id",
    bucket: int | None = None,
) -> pd.DataFrame:
    """Long (bucket, bank, value) rows to one column per bank, for a line chart.

    With ``bucket`` (seconds) the empty buckets in between count as zero, so a
    quiet minute shows as a dip rather than a line drawn across it.
    """
    if df.empty:
        return pd.DataFrame()
    wide = df.pivot_table(index="bucket", columns=column, values=value, aggfunc="sum")
    wide = wide.astype(float) * scale
    wide.index = pd.to_datetime(wide.index, utc=True)
    wide.columns = [str(c) for c in wide.columns]
    if bucket is not None:
        full = pd.date_range(wide.index.min(), wide.index.max(), freq=f"{bucket}s")
        wide = wide.reindex(full)
        return wide.fillna(0.0)
    return wide


def bucket_seconds(window_seconds: int, points: int = 60) -> int:
    """A round bucket width giving about ``points`` points over the window."""
    raw = max(1, window_seconds // points)
    for width in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if width >= raw:
            return width
    return 3600


# -- rules ------------------------------------------------------------------------------
def precision(hits: int, misses: int) -> float | None:
    total = hits + misses
    return hits / total if total else None


def rules_table(catalogue: Catalogue, stats: pd.DataFrame, labels_present: bool) -> pd.DataFrame:
    """The catalogue joined with hit counts and precision; unknown rules listed last."""
    by_rule = {str(r["rule_id"]): r for r in stats.to_dict("records")}
    rows: list[dict[str, Any]] = []
    known: set[str] = set()

    def row_for(rule_id: str, base: dict[str, Any]) -> dict[str, Any]:
        s = by_rule.get(rule_id, {})
        hits_total = int(s.get("hits_total", 0) or 0)
        confirmed = int(s.get("confirmed", 0) or 0)
        false_pos = int(s.get("false_positives", 0) or 0)
        labelled = int(s.get("labelled_fraud", 0) or 0)
        label_precision = labelled / hits_total if labels_present and hits_total else None
        return {
            **base,
            "hits": int(s.get("hits_window", 0) or 0),
            "hits_total": hits_total,
            "last_hit": s.get("last_hit"),
            "confirmed": confirmed,
            "false_positives": false_pos,
            "triage_precision": precision(confirmed, false_pos),
            "label_precision": label_precision,
        }

    for rule in catalogue.rules:
        known.add(rule.id)
        base = {
            "rule_id": rule.id,
            "type": rule.type,
            "severity": rule.severity,
            "enabled": rule.enabled,
            "pack": rule.pack,
            "description": rule.description,
            "params": ", ".join(f"{k}={v}" for k, v in sorted(rule.params.items())),
        }
        rows.append(row_for(rule.id, base))
    for rule_id in sorted(set(by_rule) - known):
        base = {
            "rule_id": rule_id,
            "type": "",
            "severity": "",
            "enabled": False,
            "pack": "",
            "description": "not in the active catalogue",
            "params": "",
        }
        rows.append(row_for(rule_id, base))
    return pd.DataFrame(rows)


# -- triage -------------------------------------------------------------------------------
def alert_label(row: dict[str, Any]) -> str:
    when = row["detected_at"]
    stamp = when.strftime("%H:%M:%S") if isinstance(when, datetime | pd.Timestamp) else str(when)
    amount = format_amount(float(row["amount"]), row.get("currency"))
    return (
        f"{stamp} · {row['severity']} · {row['rule_id']} · {row['card_masked']} · "
        f"{row['bank_id']} · {amount}"
    )


def untriaged_first(alerts: pd.DataFrame, triaged: Sequence[str]) -> pd.DataFrame:
    marked = alerts["alert_id"].isin(set(triaged))
    return pd.concat([alerts[~marked], alerts[marked]]).reset_index(drop=True)
