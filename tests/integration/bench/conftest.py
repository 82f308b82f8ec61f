"""The bench commands run in-process against the session stack: its settings
reach them through the FRAUDSTREAM_* environment, as they would for a user.

The runs use a lean catalogue cut from the bundled one — a few per-transaction
rules and a seed-baseline pack — so each test's job starts fast and the
bench's own machinery (two jobs side by side, scoring, reports) is what is
under test; the rules themselves are tested by the detection area.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from fraudstream.config import ENV_PREFIX, Settings, env_for


@pytest.fixture
def bench_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env_for(settings).items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    return settings


TEST_RULES = ("high-amount", "card-velocity-1m", "impossible-travel", "seed-high-amount")


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    from fraudstream.detection.rules import load_catalogue

    rules = [
        rule.model_dump(mode="json") for rule in load_catalogue().rules if rule.id in TEST_RULES
    ]
    assert len(rules) == len(TEST_RULES)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}, sort_keys=False))
    return path


@pytest.fixture
def run_bench(
    bench_env: Settings, tmp_path: Path, rules_file: Path
) -> Callable[..., tuple[int, dict[str, Any], Path]]:
    from fraudstream.cli import main

    def run(kind: str, *extra: str) -> tuple[int, dict[str, Any], Path]:
        before = {j["jid"] for j in _jobs(bench_env)}
        results = tmp_path / "results"
        argv = ["bench", kind, "--short", "--results-dir", str(results)]
        code = main([*argv, "--rules", str(rules_file), *extra])
        runs = sorted(results.glob(f"*-{kind}"))
        assert len(runs) == 1, f"expected one run folder, found {runs}"
        result = json.loads((runs[0] / "result.json").read_text())
        # Every job the run submitted was cancelled on the way out (others may
        # share the cluster: only the run's own job names count).
        name = result["job"]["name"]
        mine = [
            (j["name"], j["state"])
            for j in _jobs(bench_env)
            if j["jid"] not in before and j["name"] in (name, f"{name}-baseline")
        ]
        assert mine, "the run's job is not on the cluster"
        assert all(state in ("CANCELED", "CANCELLING") for _, state in mine), mine
        return code, result, runs[0]

    return run


def _jobs(settings: Settings) -> list[dict[str, Any]]:
    response = requests.get(f"{settings.flink_rest}/jobs/overview", timeout=10)
    response.raise_for_status()
    jobs: list[dict[str, Any]] = response.json().get("jobs", [])
    return jobs
