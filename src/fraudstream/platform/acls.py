"""Kafka identities and ACLs of the local stack with ``kafka_security=scram``.

One SCRAM user per role; each gets exactly what its component does:

| role      | may                                                                 |
|-----------|---------------------------------------------------------------------|
| admin     | everything (super user): the stack itself, topics, ACLs, users      |
| producer  | write ``transactions`` and the ground-truth labels topic            |
| job       | read ``transactions`` in its consumer group; write alerts, DLQ and  |
|           | validated transactions; the archive writer (same role) reads those  |
|           | three in its own group                                              |
| dashboard | read alerts in consumer groups named after its group prefix         |

Nothing else is allowed (``allow.everyone.if.no.acl.found=false``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from fraudstream.config import Settings

log = logging.getLogger(__name__)

# SCRAM iterations of the credentials we create (Kafka's minimum is 4096).
SCRAM_ITERATIONS = 8192
DASHBOARD_GROUP_PREFIX = "fraudstream-dashboard"


@dataclass(frozen=True)
class Rule:
    """One ALLOW rule: ``role`` may ``operation`` on the resource."""

    role: str
    resource: ResourceType
    name: str
    operation: AclOperation
    pattern: ResourcePatternType = ResourcePatternType.LITERAL


def rules(settings: Settings) -> list[Rule]:
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    write, read = AclOperation.WRITE, AclOperation.READ
    describe = AclOperation.DESCRIBE
    dashboard_group = settings.dashboard_group_id or DASHBOARD_GROUP_PREFIX
    return [
        Rule("producer", topic, settings.topic_transactions, write),
        Rule("producer", topic, settings.topic_transactions, describe),
        Rule("producer", topic, settings.topic_labels, write),
        Rule("producer", topic, settings.topic_labels, describe),
        Rule("job", topic, settings.topic_transactions, read),
        Rule("job", group, settings.detection_group_id, read),
        Rule("job", topic, settings.topic_alerts, write),
        Rule("job", topic, settings.topic_alerts, describe),
        Rule("job", topic, settings.topic_dlq, write),
        Rule("job", topic, settings.topic_dlq, describe),
        Rule("job", topic, settings.topic_valid, write),
        Rule("job", topic, settings.topic_valid, describe),
        # The archive writer (same role) reads the job's three output topics.
        Rule("job", topic, settings.topic_valid, read),
        Rule("job", topic, settings.topic_alerts, read),
        Rule("job", topic, settings.topic_dlq, read),
        Rule("job", group, settings.archive_group, read),
        Rule("dashboard", topic, settings.topic_alerts, read),
        Rule("dashboard", group, dashboard_group, read, ResourcePatternType.PREFIXED),
    ]


def bindings(settings: Settings) -> list[AclBinding]:
    result = []
    for rule in rules(settings):
        user, _ = settings.kafka_credentials(rule.role)
        result.append(
            AclBinding(
                rule.resource,
                rule.name,
                rule.pattern,
                f"User:{user}",
                "*",
                rule.operation,
                AclPermissionType.ALLOW,
            )
        )
    return result


def mechanism(settings: Settings) -> ScramMechanism:
    return ScramMechanism[settings.kafka_scram_mechanism.replace("-", "_")]


def ensure_users(admin: AdminClient, settings: Settings, *, timeout: float = 10.0) -> None:
    """Create the producer, job and dashboard users, or reset their passwords.

    The admin's own credential is written when the storage is formatted.
    """
    info = ScramCredentialInfo(mechanism(settings), SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = []
    for role in ("producer", "job", "dashboard"):
        user, password = settings.kafka_credentials(role)
        upserts.append(UserScramCredentialUpsertion(user, info, password.encode()))
    for user, future in admin.alter_user_scram_credentials(
        upserts, request_timeout=timeout
    ).items():
        future.result()
        log.debug("SCRAM credential of %s set", user)


def ensure_acls(admin: AdminClient, settings: Settings, *, timeout: float = 10.0) -> None:
    """Create every rule's ACL (creating an existing one is a no-op)."""
    for future in admin.create_acls(bindings(settings), request_timeout=timeout).values():
        future.result()
