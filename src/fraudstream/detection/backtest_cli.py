"""``fraudstream backtest``: replay transactions offline through the rule catalogue."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Imported when the command runs: `fraudstream --help` stays quick.
    from fraudstream.detection.backtest import BacktestOptions, BacktestResult, ProgressInfo


def register(sub: Any) -> None:
    """Add ``backtest`` to the ``fraudstream`` parser."""
    parser = sub.add_parser(
        "backtest",
        help="replay transactions (a JSONL file or the archive) through the rules, offline",
        description="Run the rule catalogue on past transactions with the same engine as the "
        "detection job, and score it against fraud labels when there are any. Input is a "
        "contract JSONL file (labels from FILE.labels.jsonl next to it) or the archive between "
        "--from and --to (labels from fraud_labels). Needs no Kafka or Flink; PostgreSQL only "
        "for the archive and the block list.",
    )
    parser.add_argument(
        "input",
        nargs="?",
        type=Path,
        metavar="FILE.jsonl",
        help="transactions, one contract record per line (as `fraudstream produce --output`)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="ISO",
        help="archive input: first event time included (ISO-8601; UTC when no offset)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="ISO",
        help="archive input: event time the window ends before (default: now)",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE.jsonl",
        help="fraud labels, one JSON object per line (default: FILE.labels.jsonl next to the "
        "input, or the fraud_labels table for the archive)",
    )
    parser.add_argument(
        "--rules", type=Path, metavar="FILE.yaml", help="rule catalogue (default: the bundled one)"
    )
    parser.add_argument(
        "--pack",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on every rule of this pack (repeatable), e.g. seed-baseline",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE.jsonl",
        help="write every alert emission here, one JSON alert per line",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE.json", help="write the full result as JSON here"
    )
    parser.add_argument(
        "--no-blocklist",
        dest="blocklist",
        action="store_false",
        help="do not read the block list from PostgreSQL (no block-list alerts)",
    )
    parser.set_defaults(func=cmd_backtest)


def _user_error(message: str) -> Exception:
    from fraudstream.cli import UserError

    return UserError(message)


def parse_time(text: str, option: str) -> datetime:
    """ISO-8601 date or date-time; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _user_error(
            f"{option} {text!r} is not an ISO-8601 time (e.g. 2024-05-01T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def options_from(args: argparse.Namespace) -> BacktestOptions:
    """Check the command line and turn it into options; UserError when it cannot run."""
    archive = args.start is not None or args.end is not None
    if args.input is not None and archive:
        raise _user_error("give either FILE.jsonl or --from/--to, not both")
    if args.input is None and not archive:
        raise _user_error("nothing to replay: give FILE.jsonl, or --from ISO [--to ISO]")
    if args.input is not None and not args.input.is_file():
        raise _user_error(f"{args.input} is not a readable file")
    if args.labels is not None and not args.labels.is_file():
        raise _user_error(f"labels file {args.labels} is not a readable file")
    if args.rules is not None and not args.rules.is_file():
        raise _user_error(f"rule catalogue {args.rules} is not a readable file")
    start = end = None
    if archive:
        if args.start is None:
            raise _user_error("--to needs --from (the start of the archive window)")
        start = parse_time(args.start, "--from")
        end = parse_time(args.end, "--to") if args.end is not None else datetime.now(UTC)
        if start >= end:
            raise _user_error(f"--from {start.isoformat()} is not before --to {end.isoformat()}")
    from fraudstream.detection.backtest import BacktestOptions

    for target in (args.output, args.report):
        if (
            target is not None
            and args.input is not None
            and target.resolve() == args.input.resolve()
        ):
            raise _user_error(f"{target} is the input file; choose another output path")
    return BacktestOptions(
        input=args.input,
        start=start,
        end=end,
        labels=args.labels,
        rules=args.rules,
        packs=tuple(args.pack),
        output=args.output,
        report=args.report,
        blocklist=args.blocklist,
    )


def show_progress(info: ProgressInfo) -> None:
    print(
        f"backtest: {info.read:,} read, {info.alerts:,} alerts, "
        f"{info.rate:,.0f} tx/s, {info.elapsed_s:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def cmd_backtest(args: argparse.Namespace) -> int:
    from fraudstream.config import load_settings
    from fraudstream.detection.backtest import BacktestError, run_backtest
    from fraudstream.detection.rules.catalogue import CatalogueError

    options = options_from(args)
    try:
        result = run_backtest(load_settings(), options, progress=show_progress)
    except (BacktestError, CatalogueError) as exc:
        raise _user_error(str(exc)) from exc
    except OSError as exc:
        raise _user_error(f"cannot read or write a file: {exc}") from exc
    print(summary(result))
    if options.output is not None:
        print(f"alerts written to {options.output}")
    if options.report is not None:
        print(f"report written to {options.report}")
    return 0


# -- summary ------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned on spaces: text left, numbers right."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def summary(result: BacktestResult) -> str:
    """What a person reads at the end of a run."""
    packs = f" + pack(s) {', '.join(result.packs)}" if result.packs else ""
    invalid = ", ".join(f"{reason} {count:,}" for reason, count in result.invalid.items())
    lines = [
        f"backtest of {result.source}",
        f"  rules       {result.catalogue}{packs}; block list: {result.blocklist}",
        f"  input       {result.read:,} read, {result.replayed:,} replayed, "
        f"{result.invalid_total:,} invalid" + (f" ({invalid})" if invalid else ""),
        f"  speed       {result.elapsed_s:.1f} s, {result.tx_per_s:,.0f} tx/s",
        f"  alerts      {result.alerts:,} distinct in {result.cases:,} cases, "
        f"{result.emissions:,} emissions; {result.cards:,} cards, {result.users:,} users, "
        f"{result.merchants:,} merchants",
        f"  late        {result.out_of_order:,} out of order on their card, "
        f"{result.out_of_order_user:,} after their user window closed",
    ]
    if result.unjudged:
        lines.append(
            f"  unjudged    {result.unjudged:,} (a rule could not judge: country without "
            "coordinates)"
        )
    for example in result.invalid_examples:
        lines.append(f"  line {example.line}: {example.reason}: {example.detail}")
    quality = result.quality
    lines.append("")
    head = ["rule", "type", "scope", "severity", "alerts", "emissions", "deferred"]
    counts: list[list[object]] = [
        [r.rule_id, r.rule_type, r.scope, r.severity, r.alerts, r.emissions, r.deferred]
        for r in result.rules
    ]
    if quality is None:
        lines.append(table(head, counts))
        lines += ["", "no fraud labels: precision and recall not computed"]
        return "\n".join(lines)
    lines.append(
        table(
            [*head, "true pos", "precision", "attacks"],
            [
                [*row, r.true_positives, r.precision, r.attacks_detected]
                for row, r in zip(counts, result.rules, strict=True)
            ],
        )
    )
    lines.append("")
    rows: list[list[object]] = [
        [
            s.scenario,
            s.attacks,
            s.detected,
            s.recall,
            s.alerts,
            s.alerts_per_attack,
            s.cases_per_attack,
        ]
        for s in quality.scenarios
    ]
    rows.append(
        [
            "all (every alert)",
            quality.attacks,
            quality.detected,
            quality.recall,
            result.alerts,
            quality.alerts_per_attack,
            quality.cases_per_attack,
        ]
    )
    lines.append(
        table(
            [
                "scenario",
                "attacks",
                "detected",
                "recall",
                "alerts",
                "alerts/attack",
                "cases/attack",
            ],
            rows,
        )
    )
    lines += [
        "",
        f"precision {_cell(quality.precision)}: {quality.true_positive_alerts:,} of "
        f"{result.alerts:,} alerts touch a labelled fraud transaction "
        f"({quality.false_positive_alerts:,} do not)",
        f"recall    {_cell(quality.recall)}: {quality.detected:,} of {quality.attacks:,} attacks "
        f"drew at least one alert",
        f"labels    {result.labels}: {quality.labelled_transactions:,} labelled transactions"
        + (
            f", {quality.labels_not_replayed:,} not in the replayed input"
            if quality.labels_not_replayed
            else ""
        ),
    ]
    return "\n".join(lines)
