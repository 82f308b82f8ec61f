"""Rules as data: a YAML catalogue of rule instances, each an instance of a rule
type written once in Python (``types/``) as a pure function of the card's (or
user's) profile and the transaction.

* ``load_catalogue(path=None, packs=())`` reads and validates the catalogue
  (default: the bundled rules.yaml) and switches on the rules of the named
  packs (e.g. ``packs=("seed-baseline",)``; see ``with_packs``);
* ``fraudstream.detection.engine.Engine`` compiles a catalogue and evaluates
  it, in the Flink job and in ``fraudstream backtest`` alike.
"""

from __future__ import annotations

from fraudstream.detection.rules.catalogue import (
    Catalogue,
    CatalogueError,
    RuleInstance,
    load_catalogue,
    parse_catalogue,
    with_packs,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "RuleInstance",
    "load_catalogue",
    "parse_catalogue",
    "with_packs",
]
