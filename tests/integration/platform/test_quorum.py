"""FRAUDSTREAM_KAFKA_CONTROLLERS=3: a three-controller KRaft quorum.

A stack of its own. Each controller in turn is killed with SIGKILL — so the
active one is among them whichever it is — and with one of three gone the
cluster still creates topics (only an active controller can) and carries
records; the controller is then started again before the next is killed.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from fraudstream.platform import kafka, ports, procs, retry, topics
from fraudstream.platform.stack import Stack

from ..conftest import ARTIFACTS, _fresh_settings
from .test_restart import _produce, _read_all


@pytest.fixture
def quorum_stack() -> Iterator[Stack]:
    extra = ports.free_ports(2)
    settings = _fresh_settings().model_copy(
        update={"kafka_controllers": 3, "kafka_extra_controller_ports": extra}
    )
    stack = Stack(settings)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        target = ARTIFACTS / "quorum-stack-logs"
        shutil.rmtree(target, ignore_errors=True)
        if settings.logs_dir.exists():
            shutil.copytree(settings.logs_dir, target)
        shutil.rmtree(settings.home, ignore_errors=True)


@pytest.mark.timeout(900)
def test_three_controllers_survive_losing_any_one(quorum_stack: Stack) -> None:
    settings = quorum_stack.settings
    controllers = [n for n in kafka.nodes(settings) if n.role == "controller"]
    assert [c.name for c in controllers] == [
        "kafka-controller",
        "kafka-controller-2",
        "kafka-controller-3",
    ]
    assert all(quorum_stack.process(c.name).alive() for c in controllers)
    admin = topics.admin_client(settings)
    for node in controllers:
        proc = quorum_stack.process(node.name)
        procs.kill(proc)
        topic = f"quorum-{uuid.uuid4().hex[:10]}"
        spec = topics.TopicSpec(topic, 3, 3, {"min.insync.replicas": "2"})
        retry.retry(
            lambda spec=spec: topics.create_missing(admin, [spec], timeout=10),  # type: ignore[misc]
            deadline=60,
            component="kafka",
            what=f"topic creation with {node.name} down",
            transient=topics.transient,
        )
        values = [f"{node.name}-{i}".encode() for i in range(20)]
        retry.retry(
            lambda topic=topic, values=values: _produce(settings, topic, values),  # type: ignore[misc]
            deadline=60,
            component="kafka",
            what=f"records acknowledged with {node.name} down",
        )
        assert set(values) <= set(_read_all(settings, topic, 3, len(values)))
        quorum_stack.restart(node.name)
        procs.wait_until(
            lambda port=node.port: ports.can_connect(settings.host, port),  # type: ignore[misc]
            timeout=60,
            component=node.name,
            what="its listener after the restart",
            log_file=proc.log_file,
            proc=proc,
        )
    status = {c.name: c.healthy for c in quorum_stack.status()}
    assert all(status[c.name] for c in controllers), status
