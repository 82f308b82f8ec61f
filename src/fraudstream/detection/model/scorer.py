"""A gradient-boosted tree ensemble read from JSON, scored in pure Python.

The model file (``risk_model.json`` next to this module by default) holds
the feature names, per-category tables of risk and of amount scale, the ensemble's starting
log-odds and its trees as flat arrays (split feature, threshold, left and
right child, node value already scaled by the learning rate; a leaf has
feature -1). Loading checks every field and turns the trees into one Python
function of nested comparisons (built from the validated numbers only), so
scoring a transaction costs a few hundred comparisons, no library.

``explain`` walks the same trees and gives each feature its contribution to
the log-odds (the change of node value at each split on it), which is what
the risk_score rule's reason names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fraudstream.detection.model.features import NAMES

FORMAT: Final = "fraudstream-trees/1"
MAX_NODES: Final = 200_000


class ModelError(ValueError):
    """The model file is unreadable or not a valid tree ensemble."""


@dataclass(frozen=True)
class Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]


@dataclass(frozen=True)
class Model:
    features: tuple[str, ...]
    category_risk: dict[str, float]
    base: float
    trees: tuple[Tree, ...]
    info: dict[str, Any] = field(default_factory=dict)
    category_scale: dict[str, float] = field(default_factory=dict)
    """category -> its log amount against the others (``features.usual``)"""
    _raw: Callable[[Sequence[float]], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_raw", _compile(self.base, self.trees))

    def probability(self, x: Sequence[float]) -> float:
        raw = self._raw(x)
        if raw < -40:
            return 0.0
        return 1.0 / (1.0 + math.exp(-raw))

    def explain(self, x: Sequence[float]) -> list[tuple[str, float]]:
        """(feature, contribution to the log-odds) by decreasing contribution."""
        contrib = [0.0] * len(self.features)
        for tree in self.trees:
            node = 0
            while tree.feature[node] >= 0:
                f = tree.feature[node]
                child = tree.left[node] if x[f] <= tree.threshold[node] else tree.right[node]
                contrib[f] += tree.value[child] - tree.value[node]
                node = child
        ranked = sorted(zip(self.features, contrib, strict=True), key=lambda fc: -fc[1])
        return ranked

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(self.features),
            "category_risk": self.category_risk,
            "category_scale": self.category_scale,
            "base": self.base,
            "trees": [
                [list(t.feature), list(t.threshold), list(t.left), list(t.right), list(t.value)]
                for t in self.trees
            ],
            "info": self.info,
        }


def _compile(base: float, trees: Sequence[Tree]) -> Callable[[Sequence[float]], float]:
    lines = ["def raw(x):", f"    s = {float(base)!r}"]

    def emit(tree: Tree, node: int, depth: int) -> None:
        pad = "    " * depth
        f = tree.feature[node]
        if f < 0:
            lines.append(f"{pad}s += {float(tree.value[node])!r}")
            return
        lines.append(f"{pad}if x[{int(f)}] <= {float(tree.threshold[node])!r}:")
        emit(tree, tree.left[node], depth + 1)
        lines.append(f"{pad}else:")
        emit(tree, tree.right[node], depth + 1)

    for tree in trees:
        emit(tree, 0, 1)
    lines.append("    return s")
    namespace: dict[str, Any] = {}
    # The source is made of validated integers and floats only (see _tree).
    exec(compile("\n".join(lines), "<risk model>", "exec"), namespace)  # noqa: S102
    fn: Callable[[Sequence[float]], float] = namespace["raw"]
    return fn


def _tree(raw: Any, n_features: int, index: int) -> Tree:
    if not isinstance(raw, list) or len(raw) != 5:
        raise ModelError(f"tree {index}: expected [feature, threshold, left, right, value]")
    feature, threshold, left, right, value = raw
    n = len(feature)
    if not 0 < n <= MAX_NODES or any(len(a) != n for a in (threshold, left, right, value)):
        raise ModelError(f"tree {index}: arrays of different lengths")
    try:
        tree = Tree(
            tuple(int(v) for v in feature),
            tuple(float(v) for v in threshold),
            tuple(int(v) for v in left),
            tuple(int(v) for v in right),
            tuple(float(v) for v in value),
        )
    except (TypeError, ValueError) as exc:
        raise ModelError(f"tree {index}: not numbers: {exc}") from None
    for node in range(n):
        f = tree.feature[node]
        if f >= n_features or f < -1:
            raise ModelError(f"tree {index} node {node}: feature {f} out of range")
        if f >= 0 and not (node < tree.left[node] < n and node < tree.right[node] < n):
            raise ModelError(f"tree {index} node {node}: children must follow their parent")
        if not all(map(math.isfinite, (tree.threshold[node], tree.value[node]))):
            raise ModelError(f"tree {index} node {node}: not a finite number")
    return tree


def parse_model(data: Any, source: str = "<model>") -> Model:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{source}: not a {FORMAT} model")
    names = data.get("features")
    if list(names or ()) != list(NAMES):
        raise ModelError(
            f"{source}: features {names} differ from the engine's {list(NAMES)}; retrain it"
        )
    risk = data.get("category_risk", {})
    scale = data.get("category_scale", {})
    trees = data.get("trees")
    if not isinstance(risk, dict) or not isinstance(scale, dict):
        raise ModelError(f"{source}: category_risk and category_scale must be mappings")
    if not isinstance(trees, list) or not trees:
        raise ModelError(f"{source}: trees must be a non-empty list")
    try:
        base = float(data["base"])
        category_risk = {str(k): float(v) for k, v in risk.items()}
        category_scale = {str(k): float(v) for k, v in scale.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{source}: bad base, category_risk or category_scale: {exc}") from None
    if not all(map(math.isfinite, [base, *category_risk.values(), *category_scale.values()])):
        raise ModelError(f"{source}: base and category tables must be finite numbers")
    return Model(
        features=tuple(NAMES),
        category_risk=category_risk,
        base=base,
        trees=tuple(_tree(t, len(NAMES), i) for i, t in enumerate(trees)),
        info=dict(data.get("info") or {}),
        category_scale=category_scale,
    )


def default_path() -> Path:
    return Path(str(resources.files("fraudstream.detection.model") / "risk_model.json"))


@cache
def load_model(path: str | None = None) -> Model:
    """The model at ``path`` (default: the bundled one), read once per process."""
    source = Path(path) if path else default_path()
    try:
        data = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model {source}: {exc}") from None
    return parse_model(data, str(source))
