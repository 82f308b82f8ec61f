from __future__ import annotations

from pathlib import Path

from fraudstream.config import Settings
from fraudstream.platform import kafka, topics


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path, kafka_controller_port=1000, kafka_broker_ports=[1001, 1002, 1003]
    )


def test_one_controller_and_three_brokers(tmp_path: Path) -> None:
    nodes = kafka.nodes(_settings(tmp_path))
    assert [(n.name, n.role, n.port) for n in nodes] == [
        ("kafka-controller", "controller", 1000),
        ("kafka-broker-1", "broker", 1001),
        ("kafka-broker-2", "broker", 1002),
        ("kafka-broker-3", "broker", 1003),
    ]
    assert len({n.node_id for n in nodes}) == 4
    assert len({n.data_dir for n in nodes}) == 4


def test_controller_properties(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    controller = kafka.nodes(s)[0]
    props = kafka.node_properties(s, controller)
    assert props["process.roles"] == "controller"
    assert props["listeners"] == "CONTROLLER://127.0.0.1:1000"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:1000"
    assert "advertised.listeners" not in props


def test_broker_properties_make_internal_topics_durable(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    broker = kafka.nodes(s)[2]
    props = kafka.node_properties(s, broker)
    assert props["process.roles"] == "broker"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1002"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:1000"
    assert props["offsets.topic.replication.factor"] == 3
    assert props["transaction.state.log.replication.factor"] == 3
    assert props["transaction.state.log.min.isr"] == 2
    assert props["min.insync.replicas"] == 2
    assert props["default.replication.factor"] == 3
    assert props["auto.create.topics.enable"] == "false"


def test_rendered_files(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    for node in kafka.write_configs(s):
        text = node.config_file.read_text()
        assert f"node.id={node.node_id}\n" in text
        assert f"log.dirs={node.data_dir}\n" in text


def test_cluster_id_is_kafka_shaped_and_stable(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    first = kafka.cluster_id(s)
    assert len(first) == 22
    assert kafka.cluster_id(s) == first
    assert kafka.new_cluster_id() != first


def test_format_uses_equals_form_for_ids_starting_with_dash(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    argv = kafka.format_argv(s, kafka.nodes(s)[0], "-abc")
    assert "--cluster-id=-abc" in argv


def test_topic_specs(tmp_path: Path) -> None:
    specs = topics.topic_specs(_settings(tmp_path))
    names = [s.name for s in specs]
    assert names == [
        "transactions",
        "fraud-alerts",
        "transactions-dlq",
        "fraud-labels",
        "transactions-valid",
    ]
    for spec in specs:
        assert (spec.partitions, spec.replication) == (3, 3)
        assert spec.config == {"min.insync.replicas": "2"}


def test_topic_specs_shrink_to_a_smaller_local_cluster(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, kafka_broker_ports=[1001])
    spec = topics.topic_specs(s)[0]
    assert (spec.replication, spec.config["min.insync.replicas"]) == (1, "1")
