from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.config import DEV_CARD_TOKEN_KEY, Settings, SettingsError, env_for


def test_defaults_match_the_design() -> None:
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    assert s.controller_address == "127.0.0.1:19093"
    assert s.flink_rest == "http://127.0.0.1:8081"
    assert s.dsn.startswith("postgresql://fraudstream:")
    assert (s.topic_transactions, s.topic_alerts, s.topic_dlq) == (
        "transactions",
        "fraud-alerts",
        "transactions-dlq",
    )
    assert (s.topic_partitions, s.topic_replication, s.topic_min_isr) == (3, 3, 2)
    assert s.kafka_local and s.flink_local and s.postgres_local


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BROKER_PORTS", "19092, 19093,19094")
    monkeypatch.setenv("FRAUDSTREAM_FLINK_REST_PORT", "18081")
    s = Settings()
    assert s.kafka_broker_ports == [19092, 19093, 19094]
    assert s.flink_rest == "http://127.0.0.1:18081"


def test_json_list_of_ports_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BROKER_PORTS", "[1, 2, 3]")
    assert Settings().kafka_broker_ports == [1, 2, 3]


def test_external_services_by_configuration_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BOOTSTRAP", "kafka-1.example:9092")
    monkeypatch.setenv("FRAUDSTREAM_FLINK_REST_URL", "http://flink.example:8081/")
    monkeypatch.setenv("FRAUDSTREAM_POSTGRES_DSN", "postgresql://u:secret@db.example:5432/fs")
    s = Settings()
    assert s.bootstrap_servers == "kafka-1.example:9092"
    assert s.flink_rest == "http://flink.example:8081"
    assert s.dsn == "postgresql://u:secret@db.example:5432/fs"
    assert not (s.kafka_local or s.flink_local or s.postgres_local)


def test_password_is_redacted_for_display() -> None:
    s = Settings(postgres_password="hunter2")
    assert "hunter2" in s.dsn
    assert "hunter2" not in s.dsn_redacted
    assert "hunter2" not in repr(s)


def test_env_for_round_trips(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, kafka_broker_ports=[1, 2, 3], postgres_password="pw")
    env = env_for(s)
    assert env["FRAUDSTREAM_KAFKA_BROKER_PORTS"] == "1,2,3"
    assert env["FRAUDSTREAM_POSTGRES_PASSWORD"] == "pw"
    assert env["FRAUDSTREAM_HOME"] == str(tmp_path.resolve())


def test_sasl_settings_reach_the_client_config() -> None:
    s = Settings(
        kafka_bootstrap="b:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    config = s.kafka_client_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "p"


def test_development_key_is_warned_about_on_loopback() -> None:
    s = Settings()
    assert s.local_development
    assert s.card_token_secret() == DEV_CARD_TOKEN_KEY
    warning = s.card_token_warning()
    assert warning is not None and "development key" in warning


@pytest.mark.parametrize(
    "overrides",
    [
        {"env": "production"},
        {"host": "0.0.0.0"},
        {"host": "10.1.2.3"},
        {"kafka_bootstrap": "127.0.0.1:9092,kafka-2.example:9092"},
        {"flink_rest_url": "http://flink.example:8081"},
        {"postgres_dsn": "postgresql://u:p@db.example:5432/fraud"},
    ],
)
def test_development_key_is_refused_outside_local_development(overrides: dict[str, str]) -> None:
    s = Settings(**overrides)  # type: ignore[arg-type]
    assert not s.local_development
    with pytest.raises(SettingsError, match="development card token key"):
        s.card_token_secret()
    with pytest.raises(SettingsError):
        s.card_token_warning()


def test_key_from_a_file_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_ENV", "production")
    monkeypatch.setenv("FRAUDSTREAM_CARD_TOKEN_KEY", "from-the-environment")
    assert Settings().card_token_secret() == "from-the-environment"
    key_file = tmp_path / "token.key"
    key_file.write_text("from-a-file\n")
    monkeypatch.setenv("FRAUDSTREAM_CARD_TOKEN_KEY_FILE", str(key_file))
    s = Settings()
    assert s.card_token_secret() == "from-a-file" and s.card_token_warning() is None
    with pytest.raises(SettingsError, match=r"missing\.key"):
        Settings(card_token_key_file=tmp_path / "missing.key").card_token_secret()
    key_file.write_text("")
    with pytest.raises(SettingsError, match="empty"):
        Settings().card_token_secret()


def test_commands_that_start_the_stack_refuse_the_development_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fraudstream import cli

    monkeypatch.setenv("FRAUDSTREAM_ENV", "production")
    for argv in (["stack", "up"], ["run"], ["job", "submit"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "refusing the public development card token key" in err[0]


def test_card_token_command_reads_numbers_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from fraudstream import cli
    from fraudstream.records import card_token

    monkeypatch.setenv("FRAUDSTREAM_CARD_TOKEN_KEY", "rotated")
    monkeypatch.setattr("sys.stdin", io.StringIO("4111 1111 1111 1111\n\n"))
    assert cli.main(["card-token"]) == 0
    out = capsys.readouterr().out
    assert out == f"411111******1111\t{card_token('4111111111111111', 'rotated')}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("4111-abc\n"))
    assert cli.main(["card-token"]) == 2
    assert "line 1: not a card number" in capsys.readouterr().err
