"""Operator identities that survive a changed rule catalogue.

Flink restores a savepoint operator by operator, matching each operator's
uid. A SQL job has no uids of its own: Flink derives them from the
operator's position in the graph, so adding, removing or reordering a rule
shifts the positions of the others, and a savepoint then hands one rule's
window state to another rule, or drops it.

The job is therefore submitted as a compiled plan whose node ids (and so
uids, ``<id>_<transformation>``) are derived from what each node computes:

* a source or a sink: its table (and, for sources, the topic and consumer
  group it reads), so the Kafka offsets follow the job across any change of
  its rules;
* any other node: its own definition (window, aggregates, pattern, filter)
  and the identities of its inputs, so an unchanged rule keeps its state
  wherever it sits in the catalogue, and a rule whose window changed starts
  with an empty window instead of state of another shape.

Nodes with the same definition on the same inputs are told apart by their
order in the plan.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import defaultdict
from typing import Any

_ENDPOINT_KEYS = {"scanTableSource": "source", "dynamicTableSink": "sink"}
_ID_SPACE = 2**31 - 1


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stable_ids(plan: dict[str, Any], source_scope: str = "") -> dict[str, Any]:
    """A copy of the compiled ``plan`` (its JSON as a dict) with content-derived node ids.

    ``source_scope`` goes into the identity of every source (the topic and
    group it reads): a source reading somewhere else does not inherit offsets.
    """
    nodes: dict[int, dict[str, Any]] = {node["id"]: node for node in plan["nodes"]}
    inputs: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for edge in plan["edges"]:
        shuffle = json.dumps(edge.get("shuffle"), sort_keys=True)
        inputs[edge["target"]].append((edge["source"], shuffle))

    signatures: dict[int, str] = {}

    def signature(node_id: int) -> str:
        if node_id in signatures:
            return signatures[node_id]
        node = nodes[node_id]
        for key, kind in _ENDPOINT_KEYS.items():
            if key in node:
                table = node[key]["table"].get("identifier", "")
                scope = source_scope if kind == "source" else ""
                own = f"{kind}|{node['type']}|{table}|{scope}"
                break
        else:
            own = json.dumps({k: v for k, v in node.items() if k != "id"}, sort_keys=True)
        upstream = [f"{signature(src)}<{shuffle}" for src, shuffle in inputs.get(node_id, [])]
        signatures[node_id] = _digest(own + "\n" + "\n".join(upstream))
        return signatures[node_id]

    new_ids: dict[int, int] = {}
    taken: set[int] = set()
    for node in plan["nodes"]:  # plan order: ties resolve the same way every time
        sig = signature(node["id"])
        attempt = 0
        while True:
            candidate = int(_digest(f"{sig}#{attempt}")[:8], 16) % _ID_SPACE + 1
            if candidate not in taken:
                break
            attempt += 1
        taken.add(candidate)
        new_ids[node["id"]] = candidate

    result = copy.deepcopy(plan)
    for node in result["nodes"]:
        node["id"] = new_ids[node["id"]]
    for edge in result["edges"]:
        edge["source"] = new_ids[edge["source"]]
        edge["target"] = new_ids[edge["target"]]
    return result


def redacted(plan: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """A copy of ``plan`` whose node descriptions do not contain ``secrets``.

    The descriptions are what the Flink web UI and REST API show of every
    operator; the card token key and the database password are literals in
    the job's SQL, so they would appear there. Only descriptions change: the
    expressions the operators run keep the real values.
    """
    result = copy.deepcopy(plan)
    for node in result["nodes"]:
        text = node.get("description")
        if isinstance(text, str):
            for secret in secrets:
                if secret:
                    text = text.replace(secret, "***")
            node["description"] = text
    return result
