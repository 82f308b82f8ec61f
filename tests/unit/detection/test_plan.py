"""Content-derived node ids and redacted descriptions of a compiled plan (no Flink)."""

from __future__ import annotations

from typing import Any

from fraudstream.detection.plan import redacted, stable_ids


def _node(node_id: int, kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "description": description, **extra}


def _source(node_id: int) -> dict[str, Any]:
    table = {"table": {"identifier": "`tx_source`"}}
    return _node(node_id, "stream-exec-table-source-scan_1", "scan", scanTableSource=table)


def _plan(*rules: str) -> dict[str, Any]:
    """A source, then one window node and one filter per rule, in the given order."""
    nodes = [_source(1)]
    edges = []
    for index, rule in enumerate(rules):
        window, check = 2 + 2 * index, 3 + 2 * index
        nodes.append(_node(window, "stream-exec-over-aggregate_1", f"Over({rule})"))
        nodes.append(_node(check, "stream-exec-calc_1", f"Calc({rule} > limit)"))
        edges += [
            {"source": 1, "target": window, "shuffle": {"type": "HASH"}},
            {"source": window, "target": check, "shuffle": {"type": "FORWARD"}},
        ]
    return {"nodes": nodes, "edges": edges}


def _ids(plan: dict[str, Any]) -> dict[str, int]:
    return {node["description"]: node["id"] for node in plan["nodes"]}


def test_ids_follow_content_not_position() -> None:
    before = _ids(stable_ids(_plan("a", "b"), "topic|group"))
    after = _ids(stable_ids(_plan("c", "b", "a"), "topic|group"))
    for description in ("scan", "Over(a)", "Calc(a > limit)", "Over(b)", "Calc(b > limit)"):
        assert before[description] == after[description]
    assert after["Over(c)"] not in before.values()


def test_edges_follow_the_new_ids() -> None:
    plan = stable_ids(_plan("a", "b"), "t|g")
    ids = {node["id"] for node in plan["nodes"]}
    assert len(ids) == len(plan["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in plan["edges"])
    assert all(0 < i < 2**31 for i in ids)


def test_source_identity_includes_topic_and_group() -> None:
    one = _ids(stable_ids(_plan("a"), "transactions|detection"))
    other = _ids(stable_ids(_plan("a"), "transactions|someone-else"))
    assert one["scan"] != other["scan"]
    assert one["Over(a)"] != other["Over(a)"]  # downstream of another source


def test_identical_nodes_on_identical_inputs_get_distinct_ids() -> None:
    plan = _plan("a", "a")
    ids = [node["id"] for node in stable_ids(plan, "t|g")["nodes"]]
    assert len(set(ids)) == len(ids)
    assert ids == [node["id"] for node in stable_ids(plan, "t|g")["nodes"]]  # deterministic


def test_redacted_hides_secrets_in_descriptions_only() -> None:
    plan = {
        "nodes": [
            _node(1, "stream-exec-calc_1", "Calc(SHA2(CONCAT('k3y', card)))", projection=["'k3y'"])
        ],
        "edges": [],
    }
    clean = redacted(plan, ["k3y", ""])
    assert clean["nodes"][0]["description"] == "Calc(SHA2(CONCAT('***', card)))"
    assert clean["nodes"][0]["projection"] == ["'k3y'"]
    assert plan["nodes"][0]["description"].count("k3y") == 1  # the input is not changed
