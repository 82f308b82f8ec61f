"""The bench commands run in-process against the session stack: its settings
reach them through the FRAUDSTREAM_* environment, as they would for a user."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from fraudstream.config import ENV_PREFIX, Settings, env_for


@pytest.fixture
def bench_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env_for(settings).items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def run_bench(
    bench_env: Settings, tmp_path: Path
) -> Callable[..., tuple[int, dict[str, Any], Path]]:
    from fraudstream.cli import main

    def run(kind: str, *extra: str) -> tuple[int, dict[str, Any], Path]:
        before = {j["jid"] for j in _jobs(bench_env)}
        code = main(["bench", kind, "--short", "--results-dir", str(tmp_path), *extra])
        runs = sorted(tmp_path.glob(f"*-{kind}"))
        assert len(runs) == 1, f"expected one run folder, found {runs}"
        result = json.loads((runs[0] / "result.json").read_text())
        # Every job the run submitted was cancelled on the way out.
        mine = [j for j in _jobs(bench_env) if j["jid"] not in before]
        assert all(j["state"] in ("CANCELED", "CANCELLING") for j in mine), mine
        return code, result, runs[0]

    return run


def _jobs(settings: Settings) -> list[dict[str, Any]]:
    response = requests.get(f"{settings.flink_rest}/jobs/overview", timeout=10)
    response.raise_for_status()
    jobs: list[dict[str, Any]] = response.json().get("jobs", [])
    return jobs
