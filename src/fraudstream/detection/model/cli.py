"""``fraudstream model train|evaluate``: the risk score's model."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "model",
        help="train and evaluate the risk score's model on labelled simulator traffic",
        description="The risk_score rule scores every transaction with a small tree ensemble "
        "read from a JSON file. `train` fits it (scikit-learn) on the labelled streams of the "
        "given seeds; `evaluate` scores a model on the stream of a seed it was not trained on, "
        "and compares rule sets on it. See docs/MODEL.md.",
    )
    kinds = parser.add_subparsers(dest="model_command", metavar="ACTION")
    kinds.required = True
    train = kinds.add_parser("train", help="fit the model on labelled simulator streams")
    train.add_argument(
        "--seed",
        type=int,
        action="append",
        default=None,
        help="stream seed (repeatable; default 1 2 3 4 6 8)",
    )
    train.add_argument(
        "--transactions", type=int, default=90_000, help="per stream (default 90000)"
    )
    train.add_argument(
        "--scenarios", type=int, default=60, help="attacks per scenario per stream (default 60)"
    )
    train.add_argument("--trees", type=int, default=150, help="trees (default 150)")
    train.add_argument("--depth", type=int, default=5, help="tree depth (default 5)")
    train.add_argument("--leaves", type=int, default=16, help="leaves per tree (default 16)")
    train.add_argument("--learning-rate", type=float, default=0.1, help="(default 0.1)")
    train.add_argument(
        "--min-leaf", type=int, default=100, help="fewest transactions in a leaf (default 100)"
    )
    train.add_argument(
        "--output", type=Path, default=None, help="model file (default: the bundled one)"
    )
    train.set_defaults(func=cmd_train)
    ev = kinds.add_parser("evaluate", help="score a model and compare rule sets on a held-out seed")
    ev.add_argument("--seed", type=int, default=42, help="stream seed (default 42)")
    ev.add_argument("--transactions", type=int, default=90_000, help="(default 90000)")
    ev.add_argument("--scenarios", type=int, default=20, help="attacks per scenario (default 20)")
    ev.add_argument(
        "--model", type=Path, default=None, help="model file (default: the bundled one)"
    )
    ev.add_argument(
        "--threshold", type=float, default=None, help="default: the catalogue's risk-score rule's"
    )
    ev.add_argument("--rules", type=Path, default=None, help="rule catalogue (default: bundled)")
    ev.add_argument(
        "--results-dir", type=Path, default=Path("results"), help="where the report goes"
    )
    ev.add_argument("--no-compare", action="store_true", help="only the model, no rule sets")
    ev.set_defaults(func=cmd_evaluate)


def cmd_train(args: argparse.Namespace) -> int:
    from fraudstream.cli import UserError
    from fraudstream.detection.model import train
    from fraudstream.detection.model.scorer import default_path

    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError("training needs scikit-learn: pip install scikit-learn") from None
    seeds = args.seed or [1, 2, 3, 4, 6, 8]
    print(
        f"training on seeds {seeds}: {args.transactions} transactions and "
        f"{args.scenarios} attacks per scenario each ...",
        file=sys.stderr,
    )
    model, summary = train.fit(
        seeds,
        transactions=args.transactions,
        per_scenario=args.scenarios,
        trees=args.trees,
        depth=args.depth,
        leaves=args.leaves,
        learning_rate=args.learning_rate,
        min_leaf=args.min_leaf,
    )
    path = args.output or default_path()
    train.save(model, path)
    print(
        f"model: {len(model.trees)} trees over {len(model.features)} features, "
        f"{summary['transactions']} transactions ({summary['fraud_transactions']} fraud) in "
        f"{summary['seconds']} s -> {path} ({path.stat().st_size / 1024:.0f} KiB)"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fraudstream.cli import UserError
    from fraudstream.detection.model import evaluate, train
    from fraudstream.detection.model.scorer import ModelError, load_model
    from fraudstream.detection.rules.catalogue import CatalogueError, load_catalogue

    try:
        model = load_model(str(args.model) if args.model else None)
        catalogue = load_catalogue(args.rules)
    except (ModelError, CatalogueError) as exc:
        raise UserError(str(exc)) from None
    from fraudstream.detection.rules.catalogue import Catalogue

    overrides: dict[str, Any] = {}
    if args.threshold is not None:
        overrides["threshold"] = args.threshold
    if args.model is not None:
        overrides["model"] = str(args.model)
    if overrides:
        catalogue = Catalogue(
            rules=tuple(
                r.model_copy(update={"params": {**r.params, **overrides}})
                if r.type == "risk_score"
                else r
                for r in catalogue.rules
            )
        )
    threshold = args.threshold
    if threshold is None:
        found = [r.typed_params().threshold for r in catalogue.enabled() if r.type == "risk_score"]
        threshold = found[0] if found else 0.5
    trained = model.info.get("seeds", [])
    if args.seed in trained:
        print(
            f"warning: seed {args.seed} is one the model was trained on {trained}", file=sys.stderr
        )
    out = args.results_dir / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-model")
    out.mkdir(parents=True, exist_ok=True)
    print(f"stream of seed {args.seed} ...", file=sys.stderr)
    txs, labels, _ = train.stream(args.seed, args.transactions, args.scenarios)
    data = train.replay(txs, labels, model.category_risk, model.category_scale)
    report = evaluate.model_report(model, data, threshold, out / "calibration.png")
    result: dict[str, Any] = {"seed": args.seed, "model": model.info, "risk_model": report}
    if not args.no_compare:
        print("replaying the rule sets ...", file=sys.stderr)
        result["rule_sets"] = evaluate.compare(txs, labels, catalogue)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    text = evaluate.markdown(result)
    (out / "report.md").write_text(text)
    print(text)
    print(f"written to {out}/ (report.md, result.json, calibration.png)")
    return 0
