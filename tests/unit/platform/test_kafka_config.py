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


def _quorum(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        kafka_controller_port=1000,
        kafka_broker_ports=[1001, 1002, 1003],
        kafka_controllers=3,
        kafka_extra_controller_ports=[1004, 1005],
    )


def test_three_controllers_keep_the_broker_ids(tmp_path: Path) -> None:
    nodes = kafka.nodes(_quorum(tmp_path))
    assert [(n.name, n.role, n.port, n.node_id) for n in nodes] == [
        ("kafka-controller", "controller", 1000, 1),
        ("kafka-controller-2", "controller", 1004, 5),
        ("kafka-controller-3", "controller", 1005, 6),
        ("kafka-broker-1", "broker", 1001, 2),
        ("kafka-broker-2", "broker", 1002, 3),
        ("kafka-broker-3", "broker", 1003, 4),
    ]
    assert len({n.data_dir for n in nodes}) == 6
    assert len({n.config_file for n in nodes}) == 6


def test_every_node_names_the_whole_quorum(tmp_path: Path) -> None:
    s = _quorum(tmp_path)
    voters = "1@127.0.0.1:1000,5@127.0.0.1:1004,6@127.0.0.1:1005"
    for node in kafka.nodes(s):
        assert kafka.node_properties(s, node)["controller.quorum.voters"] == voters


def test_quorum_size_is_one_or_three(tmp_path: Path) -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="1 or 3"):
        Settings(home=tmp_path, kafka_controllers=2)
    with pytest.raises(pydantic.ValidationError, match="needs 2"):
        Settings(home=tmp_path, kafka_controllers=3, kafka_extra_controller_ports=[1])


def test_quorum_size_cannot_change_on_existing_data(tmp_path: Path) -> None:
    import pytest

    from fraudstream.platform.jvm import PrerequisiteError

    one = _settings(tmp_path)
    kafka.cluster_id(one)
    kafka.check_quorum(one)
    with pytest.raises(PrerequisiteError, match="created with 1 controller"):
        kafka.check_quorum(_quorum(tmp_path))
