"""What the ACL tests do with real clients: confluent-kafka's AdminClient for ACLs, and
a produce / consume / group-consume attempt that reports the error code a client saw,
so a test can assert allowed (None) or the exact refusal."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

ANON = "User:ANONYMOUS"
TIMEOUT = 20.0  # generous: a loaded machine, and librdkafka first finds the controller for ACL requests

OK = None  # an attempt that succeeded
TOPIC_DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_DENIED = KafkaError.GROUP_AUTHORIZATION_FAILED


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})


def acl(resource: str, name: str, op: str, permission: str = "ALLOW", *, pattern: str = "LITERAL",
        principal: str = ANON, host: str = "*") -> AclBinding:
    resource = "BROKER" if resource == "CLUSTER" else resource  # confluent-kafka's name of Kafka's Cluster type
    return AclBinding(getattr(ResourceType, resource), name, getattr(ResourcePatternType, pattern), principal, host,
                      getattr(AclOperation, op), getattr(AclPermissionType, permission))


def grant(bootstrap: str, *bindings: AclBinding) -> None:
    """Create the ACLs and wait until the broker enforces them (the answer comes after its cache changed)."""
    client = admin(bootstrap)  # referenced until the answers are in: a collected client cancels them
    for future in client.create_acls(list(bindings), request_timeout=TIMEOUT).values():
        assert future.result(TIMEOUT) is None


def revoke(bootstrap: str, resource: str, name: str, pattern: str = "LITERAL") -> list[AclBinding]:
    resource = "BROKER" if resource == "CLUSTER" else resource
    flt = AclBindingFilter(getattr(ResourceType, resource), name, getattr(ResourcePatternType, pattern),
                           None, None, AclOperation.ANY, AclPermissionType.ANY)  # type: ignore[arg-type]  # None: any
    client = admin(bootstrap)
    (future,) = client.delete_acls([flt], request_timeout=TIMEOUT).values()
    return list(future.result(TIMEOUT))


def produce(bootstrap: str, topic: str, value: bytes = b"v", **conf: Any) -> int | None:
    """Produce one record: None when acknowledged, else the delivery error code."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 15000, "socket.timeout.ms": 5000,
                  "enable.idempotence": False, "acks": "all", "linger.ms": 0, **conf})
    outcome: list[Any] = []
    p.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    p.flush(20)  # past message.timeout.ms: every record has its report by then
    assert outcome, "no delivery report"
    return None if outcome[0] is None else outcome[0].code()


def consume(bootstrap: str, topic: str, *, group: str | None = None, timeout: float = 20.0) -> int | list[bytes]:
    """Read the topic's partition 0 from the start, by assign() or, with `group`, by
    subscribing in that group and committing: the values read, or the first error code."""
    conf = {"bootstrap.servers": bootstrap, "group.id": group or unique("assign-"), "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "socket.timeout.ms": 5000, "fetch.wait.max.ms": 100,
            "enable.partition.eof": True, "topic.metadata.refresh.interval.ms": 1000}
    c = Consumer(conf)
    values: list[bytes] = []
    try:
        if group is None:
            c.assign([TopicPartition(topic, 0, 0)])
        else:
            c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is None:
                values.append(msg.value() or b"")
                continue
            if err.code() == KafkaError._PARTITION_EOF:
                if group is not None:
                    c.commit(asynchronous=False)
                return values
            return int(err.code())
        raise AssertionError(f"consume of {topic} neither ended nor failed in {timeout}s")
    except Exception as exc:  # a commit refused, say
        code = getattr(exc.args[0], "code", None) if exc.args else None
        if code is None:
            raise
        return int(code())
    finally:
        c.close()
