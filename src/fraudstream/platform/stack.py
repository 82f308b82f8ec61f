"""The local stack as a whole: up, down, status.

Components start concurrently (they do not depend on each other to boot) and
are then waited for one by one, each with its own deadline and readiness
probe. A component that does not come up is named together with its log.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from confluent_kafka.admin import AdminClient

from fraudstream.archive import migrate, roles
from fraudstream.config import Settings
from fraudstream.platform import (
    acls,
    flink,
    jvm,
    kafka,
    ports,
    postgres,
    procs,
    retry,
    topics,
)
from fraudstream.platform.jvm import PrerequisiteError
from fraudstream.platform.procs import ManagedProcess, ReadinessError

log = logging.getLogger(__name__)
T = TypeVar("T")

KAFKA_TIMEOUT = 90.0
FLINK_TIMEOUT = 90.0
POSTGRES_TIMEOUT = 60.0


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    address: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""
    restarts: int = 0  # by the supervisor of `fraudstream run` (or a chaos bench)
    last_exit: str = ""  # why it last died, when it did


class Stack:
    """The processes of one local stack, described by one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- process handles ------------------------------------------------------
    def process(self, name: str) -> ManagedProcess:
        s = self.settings
        return ManagedProcess(name, s.run_dir / f"{name}.pid", s.logs_dir / f"{name}.log")

    def component_names(self) -> list[str]:
        names: list[str] = []
        if self.settings.kafka_local:
            names += [node.name for node in kafka.nodes(self.settings)]
        if self.settings.flink_local:
            names += ["flink-jobmanager", "flink-taskmanager"]
        if self.settings.postgres_local:
            names.append("postgres")
        return names

    def _ports(self) -> dict[str, int]:
        s = self.settings
        wanted: dict[str, int] = {}
        if s.kafka_local:
            wanted.update({node.name: node.port for node in kafka.nodes(s)})
        if s.flink_local:
            wanted["flink-jobmanager"] = s.flink_rest_port
            wanted["flink-jobmanager-rpc"] = s.flink_jobmanager_rpc_port
        if s.postgres_local:
            wanted["postgres"] = s.postgres_port
        return wanted

    # -- prerequisites ----------------------------------------------------------
    def check_prerequisites(self) -> None:
        s = self.settings
        if s.kafka_local or s.flink_local:
            jvm.check_java()
        if s.postgres_local:
            postgres.bin_dir()
            postgres.os_user(s)
        if s.kafka_local:
            kafka.check_quorum(s)
        taken = []
        for name, port in self._ports().items():
            owner = self.process(name.removesuffix("-rpc"))
            if owner.alive():
                continue
            if not ports.is_free(s.host, port):
                who = ports.holder(port) or "another process"
                taken.append(f"port {port} ({name}) is taken by {who}")
        if taken:
            raise PrerequisiteError(
                "; ".join(taken) + ". Stop that process or choose other ports "
                "(FRAUDSTREAM_* settings, see the README)."
            )

    # -- up -----------------------------------------------------------------------
    def up(self) -> None:
        """Start what is not running and wait until every component is ready.

        Works the same on an empty runtime folder and on one that already
        holds topics, checkpoints and archived rows. Any failure ends in one
        ``ReadinessError`` (or ``PrerequisiteError``) naming the component
        and its log, after what was started has been stopped again.
        """
        s = self.settings
        started = time.monotonic()
        with self._blame("stack"):
            self.check_prerequisites()
            for path in (s.home, s.logs_dir, s.run_dir, s.data_dir):
                path.mkdir(parents=True, exist_ok=True)
            if s.kafka_local or s.flink_local:
                jvm.fetch(s.jvm_home)
        try:
            if s.postgres_local:
                with self._blame("postgres"):
                    self._start_postgres()
            if s.kafka_local:
                with self._blame("kafka-controller"):
                    self._start_kafka()
            if s.flink_local:
                with self._blame("flink-jobmanager"):
                    self._start_flink()
            with self._blame("postgres"):
                self._wait_postgres()
            log.info("postgres ready after %.1fs", time.monotonic() - started)
            with self._blame("kafka-controller" if s.kafka_local else "kafka"):
                self._wait_kafka()
            log.info("kafka ready after %.1fs", time.monotonic() - started)
            with self._blame("flink-jobmanager" if s.flink_local else "flink"):
                self._wait_flink()
        except BaseException:
            log.error("stack did not come up; stopping what was started")
            self.down()
            raise
        log.info("stack up in %.1fs", time.monotonic() - started)

    @contextlib.contextmanager
    def _blame(self, component: str) -> Iterator[None]:
        """Turn an unexpected error of ``component`` into a one-line ``ReadinessError``."""
        try:
            yield
        except (ReadinessError, PrerequisiteError):
            raise
        except Exception as exc:
            raise ReadinessError(
                component, f"could not be started: {retry.summary(exc)}", self._log_of(component)
            ) from exc

    def _is_local(self, component: str) -> bool:
        return component in self.component_names()

    def _log_of(self, component: str) -> Path | None:
        return self.process(component).log_file if self._is_local(component) else None

    def _spawn(self, name: str, argv: list[str], **kwargs: Any) -> ManagedProcess:
        proc = self.process(name)
        if proc.alive():
            log.info("%s already running (pid %s)", name, proc.pid())
            return proc
        return procs.spawn(
            name, argv, run_dir=self.settings.run_dir, logs_dir=self.settings.logs_dir, **kwargs
        )

    def _start_postgres(self) -> None:
        s = self.settings
        if self.process("postgres").alive():
            return
        postgres.init(s)
        postgres.clear_stale_lock(s)
        postgres.prepare_socket_dir(s)
        self._spawn("postgres", postgres.server_argv(s), user=postgres.spawn_user(s))

    def _start_kafka(self) -> None:
        s = self.settings
        nodes = kafka.write_configs(s)
        cluster_id = kafka.cluster_id(s)
        fresh = not any(kafka.is_formatted(node) for node in nodes)
        if not fresh:
            kafka.check_security(s)
        formatting = [
            (
                node,
                subprocess.Popen(
                    kafka.format_argv(s, node, cluster_id),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
            for node in nodes
            if not kafka.is_formatted(node)
        ]
        for node, child in formatting:
            out, _ = child.communicate(timeout=120)
            if child.returncode != 0:
                log.error("storage format of %s failed:\n%s", node.name, out[-4000:])
                last = out.strip().splitlines()[-1:] or ["no output"]
                raise ReadinessError(node.name, f"storage format failed: {last[0]}")
        if fresh:
            kafka.record_security(s)
        for node in nodes:
            self.start_node(node.name)

    def start_node(self, name: str) -> ManagedProcess:
        """(Re)start one Kafka node by name, e.g. after a failure test killed it."""
        node = next(n for n in kafka.nodes(self.settings) if n.name == name)
        return self._spawn(node.name, kafka.server_argv(self.settings, node))

    def _start_flink(self) -> None:
        s = self.settings
        jm, tm = self.process("flink-jobmanager"), self.process("flink-taskmanager")
        if not jm.alive():
            flink.prepare(s)
        env = flink.environment(s)
        self._spawn("flink-jobmanager", flink.jobmanager_argv(), env=env)
        if not tm.alive():
            self.start_taskmanager()

    def restart(self, name: str) -> ManagedProcess:
        """Start one component again after it died, on the data it left behind."""
        if name not in self.component_names():
            raise ValueError(f"{name} is not a local component of this stack")
        if name == "postgres":
            self._start_postgres()
            return self.process(name)
        if name.startswith("kafka-"):
            return self.start_node(name)
        if name == "flink-jobmanager":
            env = flink.environment(self.settings)
            return self._spawn(name, flink.jobmanager_argv(), env=env)
        return self.start_taskmanager()

    def wait_flink(self, *, slots: bool = True) -> None:
        """Until the Flink REST API answers and (with ``slots``) the TaskManager's
        slots are registered."""
        self._wait_flink(slots=slots)

    def start_taskmanager(self) -> ManagedProcess:
        env = flink.environment(self.settings)
        return self._spawn("flink-taskmanager", flink.taskmanager_argv(), env=env)

    # -- readiness ----------------------------------------------------------------
    # Each component has one deadline shared by its steps; every step retries
    # what a service that is still starting answers (see retry.py).
    def _wait_postgres(self) -> None:
        s = self.settings
        deadline = retry.Deadline(POSTGRES_TIMEOUT)
        log_file = self._log_of("postgres")
        proc = self.process("postgres") if s.postgres_local else None
        if s.postgres_local:
            retry.poll(
                lambda: _admin_ping(s),
                deadline=deadline,
                component="postgres",
                what="an answer on the admin socket",
                transient=postgres.transient,
                log_file=log_file,
                proc=proc,
            )
            retry.retry(
                lambda: postgres.ensure_database(s),
                deadline=deadline,
                component="postgres",
                what="the application role and database",
                transient=postgres.transient,
                log_file=log_file,
                proc=proc,
            )
        retry.poll(
            lambda: postgres.ping(s.dsn),
            deadline=deadline,
            component="postgres",
            what=f"an answer at {s.dsn_redacted}",
            transient=postgres.transient,
            log_file=log_file,
            proc=proc,
        )
        # Each migration is its own transaction and re-running skips applied
        # ones, so a connection lost half-way is safe to retry.
        retry.retry(
            lambda: migrate.migrate(s.dsn),
            deadline=deadline,
            component="postgres",
            what="the archive migrations",
            transient=postgres.transient,
            log_file=log_file,
            proc=proc,
        )
        granted = _component_roles(s)
        if granted is not None:
            retry.retry(
                lambda: roles.apply(s.dsn, *granted),
                deadline=deadline,
                component="postgres",
                what="the job's and the dashboard's privileges",
                transient=postgres.transient,
                log_file=log_file,
                proc=proc,
            )

    def _wait_kafka(self) -> None:
        s = self.settings
        deadline = retry.Deadline(KAFKA_TIMEOUT)
        admin = topics.admin_client(s)
        if s.kafka_local:
            for node in kafka.nodes(s):
                if node.role != "controller":
                    continue
                controller = self.process(node.name)
                retry.poll(
                    lambda port=node.port: ports.can_connect(s.host, port),  # type: ignore[misc]
                    deadline=deadline,
                    component=node.name,
                    what=f"a listener on {s.host}:{node.port}",
                    log_file=controller.log_file,
                    proc=controller,
                )
            brokers = {node.node_id: node.name for node in kafka.nodes(s) if node.role == "broker"}
        else:
            brokers = {}
        retry.retry(
            lambda: self._brokers_registered(admin, brokers),
            deadline=deadline,
            component="kafka",
            what=f"metadata listing {len(brokers) or 'any'} brokers",
            transient=topics.transient,
        )
        specs = topics.topic_specs(s)
        names = [spec.name for spec in specs]
        retry.retry(
            lambda: topics.create_missing(admin, specs, timeout=10),
            deadline=deadline,
            component="kafka",
            what="topic creation",
            transient=topics.transient,
            log_file=self._log_of("kafka-controller"),
        )
        if s.kafka_scram:
            retry.retry(
                lambda: _ensure_kafka_roles(admin, s),
                deadline=deadline,
                component="kafka",
                what="the SCRAM users and ACLs of each role",
                transient=topics.transient,
                log_file=self._log_of("kafka-controller"),
            )
        min_isr = min(s.topic_min_isr, s.topic_replication)
        retry.retry(
            lambda: self._topics_ready(admin, names, brokers, min_isr),
            deadline=deadline,
            component="kafka",
            what=f"leaders and {min_isr} in-sync replicas for every partition",
            transient=topics.transient,
            log_file=self._log_of("kafka-controller"),
        )

    def _brokers_registered(self, admin: AdminClient, brokers: dict[int, str]) -> None:
        """Every local broker (or, on a remote cluster, any broker) is in the metadata."""
        for name in brokers.values():
            proc = self.process(name)
            if not proc.alive():
                raise ReadinessError(name, "exited while starting", proc.log_file)
        listed = set(admin.list_topics(timeout=2).brokers)
        missing = sorted(set(brokers) - listed)
        if missing:
            first = brokers[missing[0]]
            raise retry.NotReady(
                f"brokers {sorted(listed)} in the metadata, "
                f"{', '.join(brokers[m] for m in missing)} missing",
                component=first,
                log_file=self.process(first).log_file,
            )
        if not listed:
            raise retry.NotReady("no broker in the metadata")

    def _topics_ready(
        self, admin: AdminClient, names: list[str], brokers: dict[int, str], min_isr: int
    ) -> None:
        metadata = admin.list_topics(timeout=5)
        if brokers:
            # Internal topics (consumer offsets, transaction state) carry the
            # same durability as ours: consumers and transactional producers
            # need them as much as producers need ours.
            names = names + sorted(n for n in metadata.topics if n.startswith("__"))
        problem = topics.unready(metadata, names, min_isr=min_isr)
        if problem is None:
            return
        detail, lagging = problem
        culprit = next((brokers[b] for b in sorted(lagging) if b in brokers), None)
        raise retry.NotReady(
            detail,
            component=culprit,
            log_file=self.process(culprit).log_file if culprit else None,
        )

    def _wait_flink(self, *, slots: bool = True) -> None:
        s = self.settings
        jm = self.process("flink-jobmanager")
        tm = self.process("flink-taskmanager")
        local = s.flink_local
        deadline = retry.Deadline(FLINK_TIMEOUT)
        retry.poll(
            lambda: bool(flink.overview(s.flink_rest, timeout=2)),
            deadline=deadline,
            component="flink-jobmanager" if local else "flink",
            what=f"the REST API at {s.flink_rest}",
            transient=flink.transient,
            log_file=jm.log_file if local else None,
            proc=jm if local else None,
        )
        if not slots:
            return
        need = s.flink_taskmanager_slots if local else 1
        retry.poll(
            lambda: flink.total_slots(s.flink_rest) >= need,
            deadline=deadline,
            component="flink-taskmanager" if local else "flink",
            what=f"a TaskManager with {need} slots registered",
            transient=flink.transient,
            log_file=tm.log_file if local else None,
            proc=tm if local else None,
        )

    # -- down -----------------------------------------------------------------------
    def down(self, *, purge: bool = False) -> None:
        """Stop every process this stack started, by pid; ``purge`` removes data too."""
        # Reverse start order: Flink first (it holds Kafka and PostgreSQL
        # connections), then brokers before the controller.
        order = ["flink-taskmanager", "flink-jobmanager"]
        order += [n for n in reversed(self.component_names()) if n.startswith("kafka-broker")]
        order += [n for n in self.component_names() if n.startswith("kafka-controller")]
        order += ["postgres"]
        for name in order:
            proc = self.process(name)
            if proc.pid() is not None:
                procs.stop(proc, timeout=60 if name == "postgres" else 30)
        for leftover in (
            self.settings.run_dir.glob("*.pid") if self.settings.run_dir.exists() else []
        ):
            proc = self.process(leftover.stem)
            procs.stop(proc)
        if purge:
            for path in (
                self.settings.data_dir,
                self.settings.logs_dir,
                self.settings.run_dir,
                self.settings.home / "conf",
                flink.lib_dir(self.settings),
            ):
                shutil.rmtree(path, ignore_errors=True)

    # -- status -----------------------------------------------------------------------
    def status(self) -> list[ComponentStatus]:
        s = self.settings
        result: list[ComponentStatus] = []
        admin: AdminClient | None = None
        brokers: set[int] = set()
        try:
            admin = topics.admin_client(s)
            brokers = {b for b in admin.list_topics(timeout=3).brokers}
        except Exception as exc:
            log.debug("kafka metadata unavailable: %s", exc)
        if s.kafka_local:
            for node in kafka.nodes(s):
                proc = self.process(node.name)
                alive = proc.alive()
                if node.role == "broker":
                    healthy = alive and node.node_id in brokers
                else:
                    healthy = alive and ports.can_connect(s.host, node.port)
                result.append(
                    ComponentStatus(node.name, f"{s.host}:{node.port}", proc.pid(), alive, healthy)
                )
        else:
            result.append(
                ComponentStatus(
                    "kafka",
                    s.bootstrap_servers,
                    None,
                    True,
                    bool(brokers),
                    f"{len(brokers)} brokers",
                )
            )
        slots = _safe(lambda: flink.total_slots(s.flink_rest), -1)
        rest_ok = _safe(lambda: bool(flink.overview(s.flink_rest, timeout=2)), False)
        if s.flink_local:
            jm, tm = self.process("flink-jobmanager"), self.process("flink-taskmanager")
            result.append(
                ComponentStatus(
                    "flink-jobmanager", s.flink_rest, jm.pid(), jm.alive(), jm.alive() and rest_ok
                )
            )
            result.append(
                ComponentStatus(
                    "flink-taskmanager",
                    "-",
                    tm.pid(),
                    tm.alive(),
                    tm.alive() and slots >= s.flink_taskmanager_slots,
                    f"{max(slots, 0)} slots",
                )
            )
        else:
            result.append(
                ComponentStatus(
                    "flink", s.flink_rest, None, True, rest_ok, f"{max(slots, 0)} slots"
                )
            )
        pg_ok = _safe(lambda: postgres.ping(s.dsn), False)
        if s.postgres_local:
            pg = self.process("postgres")
            result.append(
                ComponentStatus(
                    "postgres",
                    f"{s.host}:{s.postgres_port}",
                    pg.pid(),
                    pg.alive(),
                    pg.alive() and pg_ok,
                )
            )
        else:
            result.append(ComponentStatus("postgres", s.dsn_redacted, None, True, pg_ok))
        return self._with_supervision(result)

    def _with_supervision(self, result: list[ComponentStatus]) -> list[ComponentStatus]:
        """Restarts and last exits from the supervisor's records; supervised
        services of `fraudstream run` (banks, dashboard) are listed too."""
        from fraudstream.platform import supervise

        records = supervise.load_records(self.settings.run_dir)
        listed = {c.name for c in result}
        for name in records:
            if name not in listed:
                proc = self.process(name)
                alive = proc.alive()
                result.append(ComponentStatus(name, "-", proc.pid(), alive, alive))
        return [
            replace(c, restarts=records[c.name].restarts, last_exit=records[c.name].last_exit)
            if c.name in records
            else c
            for c in result
        ]

    def endpoints(self, *, show_secrets: bool = False) -> dict[str, Any]:
        s = self.settings
        return {
            "bootstrap_servers": s.bootstrap_servers,
            "kafka_controller": s.controller_address if s.kafka_local else None,
            "flink_rest_url": s.flink_rest,
            "postgres_dsn": s.dsn if show_secrets else s.dsn_redacted,
            "topics": {
                "transactions": s.topic_transactions,
                "alerts": s.topic_alerts,
                "dlq": s.topic_dlq,
                "labels": s.topic_labels,
            },
            "home": str(s.home),
        }

    def status_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        components = self.status()
        return {
            **self.endpoints(show_secrets=show_secrets),
            "healthy": all(c.healthy for c in components),
            "components": [asdict(c) for c in components],
        }


def _ensure_kafka_roles(admin: AdminClient, settings: Settings) -> None:
    acls.ensure_users(admin, settings)
    acls.ensure_acls(admin, settings)


def _component_roles(settings: Settings) -> tuple[str, str] | None:
    """The job's and the dashboard's role names, when the stack manages their grants:
    always on the local server; on an existing one when both DSNs are set."""
    if settings.postgres_local:
        return settings.postgres_job_user, settings.postgres_dashboard_user
    if settings.postgres_job_dsn is None or settings.postgres_dashboard_dsn is None:
        return None
    job = urlsplit(settings.job_dsn).username
    dashboard = urlsplit(settings.dashboard_dsn).username
    if not job or not dashboard:
        return None
    return job, dashboard


def _admin_ping(settings: Settings) -> bool:
    with postgres.admin_connect(settings) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def _safe(probe: Callable[[], T], default: T) -> T:
    try:
        return probe()
    except Exception:
        return default
