"""When the project's topics count as ready, judged from cluster metadata alone."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka.admin._metadata import ClusterMetadata, PartitionMetadata, TopicMetadata

from fraudstream.platform.topics import unready


def metadata(**layout: list[tuple[int, list[int], list[int]]]) -> ClusterMetadata:
    """Topics given as partitions of (leader, replicas, in-sync replicas)."""
    cluster = ClusterMetadata()
    for name, partitions in layout.items():
        topic = TopicMetadata()
        topic.topic = name
        for pid, (leader, replicas, isrs) in enumerate(partitions):
            partition = PartitionMetadata()
            partition.id, partition.leader = pid, leader
            partition.replicas, partition.isrs = replicas, isrs
            topic.partitions[pid] = partition
        cluster.topics[name] = topic
    return cluster


def test_ready_when_every_partition_has_a_leader_and_enough_in_sync_replicas() -> None:
    md = metadata(tx=[(2, [2, 3, 4], [2, 3, 4]), (3, [3, 4, 2], [3, 4])])
    assert unready(md, ["tx"], min_isr=2) is None


def test_missing_topic() -> None:
    problem = unready(metadata(), ["tx"])
    assert problem is not None and "tx not in the metadata" in problem[0]


def test_topic_error() -> None:
    md = metadata(tx=[])
    md.topics["tx"].error = KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
    problem = unready(md, ["tx"])
    assert problem is not None and problem[0].startswith("topic tx:")


def test_leaderless_partition_blames_its_replicas() -> None:
    md = metadata(tx=[(2, [2, 3, 4], [2, 3, 4]), (-1, [3, 4, 2], [])])
    assert unready(md, ["tx"]) == ("topic tx partition 1 has no leader", {2, 3, 4})


def test_short_isr_blames_the_replicas_that_lag() -> None:
    # After a clean shutdown the last broker to stop is alone in the ISR
    # until the others catch up.
    md = metadata(tx=[(2, [2, 3, 4], [2])])
    problem = unready(md, ["tx"], min_isr=2)
    assert problem == ("topic tx partition 0 has 1 in-sync replicas, needs 2", {3, 4})


def test_min_isr_never_exceeds_the_replication_factor() -> None:
    md = metadata(tx=[(2, [2], [2])])
    assert unready(md, ["tx"], min_isr=2) is None
