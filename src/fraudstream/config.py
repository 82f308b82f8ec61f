"""The one settings object.

Every address, port, topic name, path and secret the project uses comes from
here. Values are read from the environment with the prefix ``FRAUDSTREAM_``
(``FRAUDSTREAM_KAFKA_BROKER_PORTS=9092,9093,9094``), or from a ``.env`` file in
the working directory. Setting ``FRAUDSTREAM_KAFKA_BOOTSTRAP``,
``FRAUDSTREAM_FLINK_REST_URL`` or ``FRAUDSTREAM_POSTGRES_DSN`` points the
project at an existing cluster instead of starting a local one.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "FRAUDSTREAM_"
DEV_CARD_TOKEN_KEY: Final = "fraudstream-dev-token-key"  # noqa: S105 (public by design)
"""The public development key of card tokens: refused outside local development."""


class SettingsError(ValueError):
    """Settings that cannot be used as they are; the message says which and why."""


def _default_home() -> Path:
    return Path.cwd() / ".fraudstream"


class Settings(BaseSettings):
    """Typed settings for every component; see the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    # -- local runtime --------------------------------------------------------
    home: Path = Field(
        default_factory=_default_home,
        description="Runtime folder: data dirs, logs, pid files (ignored by git).",
    )
    jvm_dir: Path | None = Field(
        default=None,
        description="Where fetched jars live; default <home>/jvm. Shared between stacks.",
    )
    host: str = Field(default="127.0.0.1", description="Address local services bind to.")
    env: str = Field(
        default="development",
        pattern="^(development|production)$",
        description="development or production; production (like any non-loopback address) "
        "refuses the development card token key.",
    )

    # -- Kafka ----------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Existing cluster's bootstrap servers; when set no local Kafka starts.",
    )
    kafka_controller_port: int = 19093
    kafka_controllers: int = Field(
        default=1,
        description="KRaft controllers: 1, or 3 for a quorum that survives losing one. "
        "Chosen when the data folder is created (`stack down --purge` to change it).",
    )
    kafka_extra_controller_ports: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [19094, 19095],
        description="Ports of the second and third controller when kafka_controllers is 3.",
    )
    kafka_broker_ports: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [9092, 9093, 9094]
    )
    kafka_heap: str = Field(default="512m", description="-Xmx/-Xms of each Kafka JVM.")
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_security: str = Field(
        default="plaintext",
        pattern="^(plaintext|scram)$",
        description="Local stack only: plaintext (loopback default) or scram "
        "(SASL/SCRAM listeners and ACLs per role, see docs/SECURITY.md).",
    )
    kafka_scram_mechanism: str = Field(default="SCRAM-SHA-512", pattern="^SCRAM-SHA-(256|512)$")
    kafka_admin_user: str = "fraudstream-admin"
    kafka_admin_password: SecretStr = SecretStr("fraudstream-admin-dev")
    kafka_producer_user: str = "fraudstream-producer"
    kafka_producer_password: SecretStr = SecretStr("fraudstream-producer-dev")
    kafka_job_user: str = "fraudstream-job"
    kafka_job_password: SecretStr = SecretStr("fraudstream-job-dev")
    kafka_dashboard_user: str = "fraudstream-dashboard"
    kafka_dashboard_password: SecretStr = SecretStr("fraudstream-dashboard-dev")

    topic_transactions: str = "transactions"
    topic_alerts: str = "fraud-alerts"
    topic_dlq: str = "transactions-dlq"
    topic_labels: str = "fraud-labels"
    topic_valid: str = Field(
        default="transactions-valid",
        description="Validated, de-duplicated transactions (no card number): the detection "
        "job writes them, the archive writer stores them.",
    )
    topic_partitions: int = 3
    topic_replication: int = 3
    topic_min_isr: int = 2

    # -- Flink ----------------------------------------------------------------
    flink_rest_url: str | None = Field(
        default=None, description="Existing Flink cluster's REST URL; when set none starts."
    )
    flink_rest_port: int = 8081
    flink_jobmanager_rpc_port: int = 6123
    flink_taskmanager_slots: int = 3
    flink_parallelism: int = 3
    flink_jobmanager_memory: str = "1024m"
    flink_taskmanager_memory: str = "2048m"

    # -- detection job ----------------------------------------------------------
    detection_job_name: str = Field(
        default="fraudstream-detection", description="Flink job name; `job status` finds it."
    )
    detection_group_id: str = Field(
        default="fraudstream-detection",
        description="Consumer group of the job's Kafka source (offsets committed on checkpoint).",
    )
    detection_parallelism: int | None = Field(
        default=None, gt=0, description="Parallelism of the job; default flink_parallelism."
    )
    detection_checkpoint_interval_ms: int = Field(
        default=10_000,
        gt=0,
        # What a failure replays, so how long recovery takes (bench chaos: the
        # TaskManager killed at 1,000 tx/s recovered in 72 s at 10 s, 125 s at
        # 30 s); the drain rate was the same at both (docs/RELIABILITY.md).
        description="Checkpoint interval of the job (ms); bounds what a failure replays.",
    )
    detection_python_parallelism: int | None = Field(
        default=None,
        gt=0,
        description="Parallelism of the job's Python operators (validation, profiles); "
        "default: the job's parallelism.",
    )
    detection_state_backend: str = Field(
        default="rocksdb",
        pattern="^(rocksdb|hashmap)$",
        description="State backend of the job: rocksdb (state on disk) or hashmap (on the heap).",
    )
    detection_dedupe_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long a transaction id is remembered: a repeat within this window is "
        "dropped (same content) or rejected as duplicate_transaction_id (other content).",
    )
    archive_group_id: str | None = Field(
        default=None,
        description="Consumer group of the archive writer (`fraudstream archive`); "
        "default <detection_group_id>-archive.",
    )

    @property
    def archive_group(self) -> str:
        return self.archive_group_id or f"{self.detection_group_id}-archive"

    # -- PostgreSQL -----------------------------------------------------------
    postgres_dsn: SecretStr | None = Field(
        default=None,
        description="Existing server's DSN (postgresql://user:pass@host:port/db); "
        "when set no local PostgreSQL starts.",
    )
    postgres_port: int = 5432
    postgres_db: str = "fraudstream"
    postgres_user: str = "fraudstream"
    postgres_password: SecretStr = SecretStr("fraudstream")
    # One role per component (docs/SECURITY.md); the one above owns the schema.
    postgres_job_user: str = "fraudstream_job"
    postgres_job_password: SecretStr = SecretStr("fraudstream-job-dev")
    postgres_job_dsn: SecretStr | None = Field(
        default=None,
        description="Existing server: DSN of the detection job's role; default postgres_dsn.",
    )
    postgres_dashboard_user: str = "fraudstream_dashboard"
    postgres_dashboard_password: SecretStr = SecretStr("fraudstream-dashboard-dev")
    postgres_dashboard_dsn: SecretStr | None = Field(
        default=None,
        description="Existing server: DSN of the dashboard's role; default postgres_dsn.",
    )
    postgres_os_user: str = Field(
        default="postgres",
        description="Unprivileged OS user that runs the local server when we are root.",
    )

    # -- application ------------------------------------------------------------
    dashboard_port: int = 8501
    dashboard_refresh_seconds: float = Field(
        default=2.0, gt=0, description="How often the dashboard's live parts refresh."
    )
    dashboard_window: int = Field(
        default=2000, gt=0, description="Recent alerts the dashboard keeps in memory."
    )
    dashboard_users_file: Path | None = Field(
        default=None,
        description="Analysts and their password hashes; default <home>/dashboard-users.json.",
    )
    dashboard_login: str = Field(
        default="auto",
        pattern="^(auto|required)$",
        description="auto: login when the dashboard binds a non-loopback address or users "
        "exist; required: always.",
    )
    dashboard_group_id: str | None = Field(
        default=None,
        description="Consumer group of the dashboard; default fraudstream-dashboard-<host>-<pid>.",
    )
    card_token_key: SecretStr = Field(
        default=SecretStr(DEV_CARD_TOKEN_KEY),
        description="Key of the HMAC-SHA256 that tokenises card numbers; the default is a "
        "public development key, refused outside local development.",
    )
    card_token_key_file: Path | None = Field(
        default=None,
        description="File whose first line is the card token key; wins over card_token_key.",
    )
    max_amount: float = Field(
        default=1_000_000.0,
        gt=0,
        allow_inf_nan=False,
        description="Largest amount a transaction may carry; a larger one goes to the DLQ "
        "(amount_above_maximum).",
    )

    @field_validator("kafka_broker_ports", "kafka_extra_controller_ports", mode="before")
    @classmethod
    def _split_ports(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [int(p) for p in text.replace(" ", "").split(",") if p]
        return value

    @field_validator("kafka_controllers", mode="after")
    @classmethod
    def _quorum_size(cls, value: int) -> int:
        if value not in (1, 3):
            raise ValueError("kafka_controllers must be 1 or 3")
        return value

    @model_validator(mode="after")
    def _enough_controller_ports(self) -> Settings:
        if len(self.kafka_extra_controller_ports) < self.kafka_controllers - 1:
            raise ValueError(
                f"kafka_controllers={self.kafka_controllers} needs "
                f"{self.kafka_controllers - 1} kafka_extra_controller_ports"
            )
        return self

    @field_validator("home", "jvm_dir", "dashboard_users_file", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    # -- derived ----------------------------------------------------------------
    @property
    def jvm_home(self) -> Path:
        return self.jvm_dir if self.jvm_dir is not None else self.home / "jvm"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def kafka_local(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def flink_local(self) -> bool:
        return self.flink_rest_url is None

    @property
    def postgres_local(self) -> bool:
        return self.postgres_dsn is None

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap is not None:
            return self.kafka_bootstrap
        return ",".join(f"{self.host}:{port}" for port in self.kafka_broker_ports)

    @property
    def controller_address(self) -> str:
        return f"{self.host}:{self.kafka_controller_port}"

    @property
    def controller_ports(self) -> list[int]:
        """Every local controller's port, the first one first."""
        extra = self.kafka_extra_controller_ports[: self.kafka_controllers - 1]
        return [self.kafka_controller_port, *extra]

    @property
    def flink_rest(self) -> str:
        if self.flink_rest_url is not None:
            return self.flink_rest_url.rstrip("/")
        return f"http://{self.host}:{self.flink_rest_port}"

    @cached_property
    def _dsn(self) -> str:
        if self.postgres_dsn is not None:
            return self.postgres_dsn.get_secret_value()
        password = self.postgres_password.get_secret_value()
        return (
            f"postgresql://{self.postgres_user}:{password}@{self.host}:"
            f"{self.postgres_port}/{self.postgres_db}"
        )

    @property
    def dsn(self) -> str:
        """libpq connection string of the schema owner (migrations; contains the password)."""
        return self._dsn

    def _role_dsn(self, user: str, password: SecretStr, external: SecretStr | None) -> str:
        if not self.postgres_local:
            return (external or self.postgres_dsn or SecretStr("")).get_secret_value()
        return (
            f"postgresql://{user}:{password.get_secret_value()}@{self.host}:"
            f"{self.postgres_port}/{self.postgres_db}"
        )

    @property
    def job_dsn(self) -> str:
        """DSN of the detection job's role (writes its tables, reads the block list)."""
        return self._role_dsn(
            self.postgres_job_user, self.postgres_job_password, self.postgres_job_dsn
        )

    @property
    def dashboard_dsn(self) -> str:
        """DSN of the dashboard's role (reads everything, writes triage verdicts)."""
        return self._role_dsn(
            self.postgres_dashboard_user,
            self.postgres_dashboard_password,
            self.postgres_dashboard_dsn,
        )

    @property
    def dashboard_users_path(self) -> Path:
        return self.dashboard_users_file or self.home / "dashboard-users.json"

    @property
    def dsn_redacted(self) -> str:
        """The DSN with its password hidden, for status output and logs."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self._dsn)
        if parts.password is None:
            return self._dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def local_development(self) -> bool:
        """Not production, and every address (ours and any existing cluster's) is loopback."""
        if self.env == "production":
            return False
        hosts = [self.host]
        if self.kafka_bootstrap is not None:
            hosts += [a.rsplit(":", 1)[0] for a in self.kafka_bootstrap.split(",") if a.strip()]
        if self.flink_rest_url is not None:
            hosts.append(urlsplit(self.flink_rest_url).hostname or "")
        if self.postgres_dsn is not None:
            hosts.append(urlsplit(self.postgres_dsn.get_secret_value()).hostname or "")
        return all(_loopback(h) for h in hosts)

    def card_token_secret(self) -> str:
        """The card token key (from ``card_token_key_file`` when set).

        Raises ``SettingsError`` for an empty or unreadable key, and for the
        public development key outside local development."""
        if self.card_token_key_file is not None:
            try:
                lines = self.card_token_key_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise SettingsError(
                    f"card token key file {self.card_token_key_file}: {exc.strerror}"
                ) from None
            key = lines[0].strip() if lines else ""
        else:
            key = self.card_token_key.get_secret_value()
        if not key:
            raise SettingsError("the card token key is empty (card_token_key / _file)")
        if key == DEV_CARD_TOKEN_KEY and not self.local_development:
            raise SettingsError(
                "refusing the public development card token key outside local development "
                f"(env={self.env}, host={self.host}): set FRAUDSTREAM_CARD_TOKEN_KEY_FILE "
                "or FRAUDSTREAM_CARD_TOKEN_KEY (see docs/CONTRACT.md)"
            )
        return key

    def card_token_warning(self) -> str | None:
        """A one-line warning while the development key is in use; raises
        ``SettingsError`` where it is refused (``card_token_secret``)."""
        if self.card_token_secret() == DEV_CARD_TOKEN_KEY:
            return (
                "warning: card tokens use the public development key; set "
                "FRAUDSTREAM_CARD_TOKEN_KEY_FILE before real card data arrives"
            )
        return None

    @property
    def kafka_scram(self) -> bool:
        """SASL/SCRAM with ACLs on the local stack (FRAUDSTREAM_KAFKA_SECURITY=scram)."""
        return self.kafka_local and self.kafka_security == "scram"

    def kafka_credentials(self, role: str) -> tuple[str, str]:
        """SCRAM user and password of ``role`` (admin, producer, job, dashboard)."""
        if role not in KAFKA_ROLES:
            raise ValueError(f"unknown Kafka role {role!r}; one of {', '.join(KAFKA_ROLES)}")
        user: str = getattr(self, f"kafka_{role}_user")
        password: SecretStr = getattr(self, f"kafka_{role}_password")
        return user, password.get_secret_value()

    def kafka_client_config(self, role: str = "admin") -> dict[str, str]:
        """Connection settings of a librdkafka client acting as ``role``.

        With ``kafka_security=scram`` each role has its own SCRAM identity;
        otherwise every role shares the kafka_security_protocol/kafka_sasl_* ones.
        """
        if self.kafka_scram:
            user, password = self.kafka_credentials(role)
            return {
                "bootstrap.servers": self.bootstrap_servers,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": self.kafka_scram_mechanism,
                "sasl.username": user,
                "sasl.password": password,
            }
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        return config


def _loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


KAFKA_ROLES = ("admin", "producer", "job", "dashboard")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides on top."""
    return Settings(**overrides)


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce ``settings`` in a child process."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        env[f"{ENV_PREFIX}{name.upper()}"] = text
    return env
