"""A local Flink standalone session cluster from the PyPI ``apache-flink`` package.

The package ships a whole distribution (``pyflink/bin``, ``pyflink/lib``).
We run its ``jobmanager.sh`` / ``taskmanager.sh start-foreground`` with our own
conf, log and lib folders under the runtime folder, so site-packages is never
written to; the lib folder links the distribution's jars and the connectors.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import requests
import yaml

from fraudstream.config import Settings
from fraudstream.platform import jvm

log = logging.getLogger(__name__)


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def conf_dir(settings: Settings) -> Path:
    return settings.home / "conf" / "flink"


def lib_dir(settings: Settings) -> Path:
    return settings.home / "flink-lib"


def state_dir(settings: Settings) -> Path:
    return settings.data_dir / "flink"


def checkpoint_dir(settings: Settings) -> Path:
    return state_dir(settings) / "checkpoints"


def savepoint_dir(settings: Settings) -> Path:
    return state_dir(settings) / "savepoints"


def cluster_config(settings: Settings) -> dict[str, Any]:
    """config.yaml of the session cluster (flattened keys)."""
    host = settings.host
    return {
        "jobmanager.rpc.address": host,
        "jobmanager.rpc.port": settings.flink_jobmanager_rpc_port,
        "jobmanager.bind-host": host,
        "jobmanager.memory.process.size": settings.flink_jobmanager_memory,
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.host": host,
        "taskmanager.bind-host": host,
        "taskmanager.numberOfTaskSlots": settings.flink_taskmanager_slots,
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        "rest.address": host,
        "rest.bind-address": host,
        "rest.port": settings.flink_rest_port,
        "parallelism.default": settings.flink_parallelism,
        "blob.server.port": "0",
        "taskmanager.rpc.port": "0",
        "taskmanager.data.port": "0",
        "metrics.internal.query-service.port": "0",
        "state.backend.type": "rocksdb",
        "state.backend.incremental": True,
        "execution.checkpointing.dir": checkpoint_dir(settings).as_uri(),
        "execution.checkpointing.savepoint-dir": savepoint_dir(settings).as_uri(),
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "30 s",
        # Python UDF workers must use the project's interpreter, not the system one.
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "env.java.home": str(jvm.java_home()),
        "env.log.dir": str(settings.logs_dir),
        # No jar upload/run through the REST API or the web UI: jobs arrive as
        # job graphs from the PyFlink client (POST /jobs). web.cancel.enable
        # only hides the UI's cancel button; REST cancellation (PATCH
        # /jobs/:id, used by `fraudstream job cancel`) stays, see docs/SECURITY.md.
        "web.submit.enable": False,
        "web.cancel.enable": False,
        "heartbeat.timeout": 20000,
        # A dead JobManager or TaskManager is found after this interval times
        # heartbeat.rpc-failure-threshold (2) failed heartbeats, not after the
        # timeout (default interval 10 s: 20 s); the timeout stays for targets
        # that are alive but slow.
        "heartbeat.interval": 2000,
        # The TaskManager usually asks for the ResourceManager before the
        # JobManager has started it; Flink's default 10 s pause after such a
        # failed lookup was the largest single wait in `stack up`.
        "cluster.registration.error-delay": "1 s",
    }


def prepare(settings: Settings) -> None:
    """Write conf, link the lib folder (distribution jars + connectors)."""
    home = flink_home()
    conf = conf_dir(settings)
    conf.mkdir(parents=True, exist_ok=True)
    for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties"):
        shutil.copyfile(home / "conf" / name, conf / name)
    (conf / "config.yaml").write_text(yaml.safe_dump(cluster_config(settings), sort_keys=True))
    lib = lib_dir(settings)
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    # opt/flink-python runs the detection job's Python operators (thread mode).
    jars = sorted((home / "lib").glob("*.jar")) + sorted((home / "opt").glob("flink-python-*.jar"))
    for jar in jars + jvm.connector_jars(settings.jvm_home):
        (lib / jar.name).symlink_to(jar)
    checkpoint_dir(settings).mkdir(parents=True, exist_ok=True)
    savepoint_dir(settings).mkdir(parents=True, exist_ok=True)


def environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "FLINK_HOME": str(flink_home()),
            "FLINK_CONF_DIR": str(conf_dir(settings)),
            "FLINK_LIB_DIR": str(lib_dir(settings)),
            "FLINK_LOG_DIR": str(settings.logs_dir),
            "FLINK_PID_DIR": str(settings.run_dir / "flink"),
            "JAVA_HOME": str(jvm.java_home()),
        }
    )
    return env


def jobmanager_argv() -> list[str]:
    return ["bash", str(flink_home() / "bin" / "jobmanager.sh"), "start-foreground"]


def taskmanager_argv() -> list[str]:
    return ["bash", str(flink_home() / "bin" / "taskmanager.sh"), "start-foreground"]


def taskmanagers(rest_url: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    response = requests.get(f"{rest_url}/taskmanagers", timeout=timeout)
    response.raise_for_status()
    managers: list[dict[str, Any]] = response.json().get("taskmanagers", [])
    return managers


def overview(rest_url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    response = requests.get(f"{rest_url}/overview", timeout=timeout)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def total_slots(rest_url: str) -> int:
    return sum(int(tm.get("slotsNumber", 0)) for tm in taskmanagers(rest_url))


def transient(exc: BaseException) -> bool:
    """True for errors of a REST API that is not (fully) up yet.

    Refused connections, timeouts, 5xx answers (503 while the dispatcher
    elects its leader) and half-written JSON are; a 4xx means the URL does
    not point at a Flink cluster.
    """
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is None or status >= 500
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ValueError))
