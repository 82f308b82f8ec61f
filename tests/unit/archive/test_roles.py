"""The per-component PostgreSQL roles: their DSNs and the grants, as text."""

from __future__ import annotations

from pathlib import Path

import psycopg
from pydantic import SecretStr

from fraudstream.archive import roles
from fraudstream.config import Settings


def _settings(**overrides: object) -> Settings:
    return Settings(home=Path("/tmp/fraudstream-unit"), **overrides)  # type: ignore[arg-type]


def test_each_component_has_its_own_role_on_the_local_server() -> None:
    s = _settings(
        postgres_password=SecretStr("owner-pw"),
        postgres_job_password=SecretStr("job-pw"),
        postgres_dashboard_password=SecretStr("dash-pw"),
    )
    users = {
        psycopg.conninfo.conninfo_to_dict(dsn)["user"]: psycopg.conninfo.conninfo_to_dict(dsn)
        for dsn in (s.dsn, s.job_dsn, s.dashboard_dsn)
    }
    assert users["fraudstream"]["password"] == "owner-pw"
    assert users["fraudstream_job"]["password"] == "job-pw"
    assert users["fraudstream_dashboard"]["password"] == "dash-pw"
    assert {u["port"] for u in users.values()} == {"5432"}


def test_an_existing_server_uses_the_role_dsns_or_falls_back_to_the_main_one() -> None:
    main = "postgresql://owner:o@db:5432/a"
    s = _settings(postgres_dsn=SecretStr(main))
    assert s.job_dsn == main and s.dashboard_dsn == main
    s = _settings(
        postgres_dsn=SecretStr(main),
        postgres_job_dsn=SecretStr("postgresql://j:p@db:5432/a"),
        postgres_dashboard_dsn=SecretStr("postgresql://d:p@db:5432/a"),
    )
    assert s.job_dsn.startswith("postgresql://j:") and s.dashboard_dsn.startswith("postgresql://d:")


def _rendered(grant: roles.Grant) -> str:
    return grant.statement().as_string(None)


def test_the_job_writes_only_its_sink_tables_and_reads_the_block_list() -> None:
    text = [_rendered(g) for g in roles.grants("job", "dash") if g.role == "job"]
    assert text == [
        'GRANT SELECT, INSERT, UPDATE ON TABLE "transactions", "alerts", "rejected_records" '
        'TO "job"',
        'GRANT SELECT ON TABLE "blocklist" TO "job"',
    ]
    assert not any("DELETE" in t or "TRUNCATE" in t or "ALL TABLES" in t for t in text)


def test_the_dashboard_reads_and_writes_only_triage() -> None:
    text = [_rendered(g) for g in roles.grants("job", "dash") if g.role == "dash"]
    assert text == [
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "dash"',
        'GRANT INSERT, UPDATE ON TABLE "alert_triage" TO "dash"',
    ]
