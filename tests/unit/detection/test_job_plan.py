"""The whole detection job plans, with its own configuration, in-process.

The rules' own tests plan each query alone; inside the job the same SQL
meets views registered as Tables, shared optimisation blocks and the UNION
ALL of every rule, and the planner has failed there on queries that plan
alone. Planning only: nothing runs and no service is contacted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from fraudstream.config import Settings
from fraudstream.detection import pipeline, plan
from fraudstream.detection.rules import Catalogue, load_catalogue
from fraudstream.platform.flinkclient import table_env

REPO_ROOT = Path(__file__).resolve().parents[3]


def _statements(catalogue: Catalogue) -> Any:
    """The job's statement set for ``catalogue``, planned in-process."""
    settings = Settings(
        card_token_key=SecretStr("unit-key"),
        jvm_dir=REPO_ROOT / ".fraudstream" / "jvm",
    )
    env = table_env(settings, remote=False, config=pipeline.job_config(settings))
    return pipeline.build(settings, catalogue).statement_set(env)


def test_job_with_bundled_catalogue_and_seed_baseline_pack_plans() -> None:
    catalogue = load_catalogue(packs=("seed-baseline",))
    assert "tumbling_window" in {r.type for r in catalogue.enabled()}
    plan = _statements(catalogue).explain()
    assert "WindowAggregate" in plan
    assert "WindowJoin" not in plan


def _compiled(catalogue: Catalogue) -> dict[str, Any]:
    compiled: dict[str, Any] = json.loads(_statements(catalogue).compile_plan().as_json_string())
    return compiled


def _windows(compiled: dict[str, Any]) -> dict[str, int]:
    """Each OVER window's bound (as the plan describes it) -> its node id."""
    found = {}
    for node in compiled["nodes"]:
        if node["type"].startswith("stream-exec-over-aggregate"):
            bound = re.search(r"window=\[\s*(\w+ BETWEEN \w+)", node["description"])
            assert bound is not None
            found[bound.group(1)] = node["id"]
    return found


def _with(catalogue: Catalogue, extra: list[dict[str, Any]], **thresholds: float) -> Catalogue:
    rules = [r.model_dump() for r in catalogue.rules]
    for rule in rules:
        if rule["id"] in thresholds:
            rule["params"]["threshold"] = thresholds[rule["id"]]
    return Catalogue.model_validate({"rules": [*rules, *extra]})


def test_windows_that_differ_only_in_length_stay_apart() -> None:
    # Two velocity rules (60 s and 1 h) and two spike rules (20 and 50 rows):
    # the planner once merged such windows into the first one planned.
    extra = {
        "id": "spike-long",
        "type": "amount_spike",
        "severity": "low",
        "params": {"history": 50},
    }
    windows = _windows(_compiled(_with(load_catalogue(), [extra])))
    assert {
        "RANGE BETWEEN 60000",
        "RANGE BETWEEN 3600000",
        "ROWS BETWEEN 20",
        "ROWS BETWEEN 50",
    } <= set(windows)


def test_node_ids_follow_what_a_node_computes_not_where_it_sits() -> None:
    before = plan.stable_ids(_compiled(load_catalogue()), source_scope="t|g")
    # The documented edits: a threshold changed, a rule instance added.
    added = {
        "id": "card-velocity-10m",
        "type": "card_velocity",
        "severity": "medium",
        "params": {"window_seconds": 600, "limit": 12},
    }
    after = plan.stable_ids(
        _compiled(_with(load_catalogue(), [added], **{"high-amount": 3000})), source_scope="t|g"
    )
    old, new = _windows(before), _windows(after)
    assert set(new) == set(old) | {"RANGE BETWEEN 600000"}
    assert all(new[bound] == old[bound] for bound in old)  # every old window keeps its state
    sources = [[n["id"] for n in p["nodes"] if "source-scan" in n["type"]] for p in (before, after)]
    assert sources[0] == sources[1]  # the Kafka offsets follow the job
    elsewhere = plan.stable_ids(_compiled(load_catalogue()), source_scope="other|g")
    assert {n["id"] for n in elsewhere["nodes"]}.isdisjoint({n["id"] for n in before["nodes"]})
