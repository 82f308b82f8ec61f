"""The whole detection job plans, with its own configuration, in-process.

The rules' own tests plan each query alone; inside the job the same SQL
meets views registered as Tables, shared optimisation blocks and the UNION
ALL of every rule, and the planner has failed there on queries that plan
alone. Planning only: nothing runs and no service is contacted.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from fraudstream.config import Settings
from fraudstream.detection import pipeline
from fraudstream.detection.rules import load_catalogue
from fraudstream.platform.flinkclient import table_env

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_job_with_bundled_catalogue_and_seed_baseline_pack_plans() -> None:
    settings = Settings(
        card_token_key=SecretStr("unit-key"),
        jvm_dir=REPO_ROOT / ".fraudstream" / "jvm",
    )
    catalogue = load_catalogue(packs=("seed-baseline",))
    assert "tumbling_window" in {r.type for r in catalogue.enabled()}
    sql = pipeline.build(settings, catalogue)
    env = table_env(settings, remote=False, config=pipeline.job_config(settings))
    sql.apply(env)
    statements = env.create_statement_set()
    for insert in sql.inserts:
        statements.add_insert_sql(insert)
    plan = statements.explain()
    assert "WindowAggregate" in plan
    assert "WindowJoin" not in plan
