"""Kafka's ZooKeeper layout: the paths and the JSON of every znode a cluster uses, as
Kafka's ZkData.scala writes and reads them. Pure encoding and decoding, no I/O: the store
(zookeeper.py) does the round trips.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

# kazoo ships no type information.
from kazoo.exceptions import RolledBackError  # type: ignore[import-untyped]

from snakafka.cluster.model import (
    BrokerInfo,
    Endpoint,
    PartitionState,
    kafka_uuid,
    parse_kafka_uuid,
)

log = logging.getLogger(__name__)

CLUSTER_ID_PATH = "/cluster/id"
BROKER_IDS_PATH = "/brokers/ids"
TOPICS_PATH = "/brokers/topics"
TOPIC_CONFIGS_PATH = "/config/topics"
CONFIG_CHANGES_PATH = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
DELETE_TOPICS_PATH = "/admin/delete_topics"
PRODUCER_ID_BLOCK_PATH = "/latest_producer_id_block"
CONTROLLER_PATH = "/controller"
CONTROLLER_EPOCH_PATH = "/controller_epoch"
NO_CONTROLLER = -1
# KafkaZkClient.createTopLevelPaths (ZkData.PersistentZkPaths): a broker makes sure these
# exist at startup, so tools and watches can rely on them.
PERSISTENT_PATHS = (
    "/consumers",
    BROKER_IDS_PATH,
    TOPICS_PATH,
    CONFIG_CHANGES_PATH,
    "/admin/delete_topics",
    "/brokers/seqid",
    "/isr_change_notification",
    PRODUCER_ID_BLOCK_PATH,
    "/log_dir_event_notification",
    TOPIC_CONFIGS_PATH,
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/config/ips",
)

BROKER_ZNODE_VERSION = 5
TOPIC_ZNODE_VERSION = 3
PARTITION_STATE_VERSION = 1
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MAX_PRODUCER_ID = 2**63 - 1
MAX_CAS_ATTEMPTS = 1000  # compare-and-set retries before a store call gives up on contention
# Kafka's EndPoint.uriParseExp: LISTENER://host:port, IPv6 hosts in brackets.
_ENDPOINT = re.compile(r"^(?P<listener>.*)://\[?(?P<host>[0-9a-zA-Z\-%._:]*)\]?:(?P<port>-?[0-9]+)$")


def split_chroot(connect: str) -> tuple[str, str]:
    """'h1:p1,h2:p2/chroot' -> ('h1:p1,h2:p2', '/chroot'); no chroot -> ('...', '')."""
    hosts, slash, path = connect.partition("/")
    chroot = ("/" + path).rstrip("/") if slash else ""
    return hosts, chroot


def encode_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def format_endpoint(endpoint: Endpoint) -> str:
    """Kafka's EndPoint.connectionString (Utils.formatAddress brackets IPv6 hosts)."""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{endpoint.listener}://{host}:{endpoint.port}"


def parse_endpoint(text: str) -> Endpoint:
    match = _ENDPOINT.match(text)
    if match is None:
        raise ValueError(f"Unable to parse {text} to a broker endpoint")
    return Endpoint(match["listener"].upper(), match["host"], int(match["port"]))


def state_path(topic: str, partition: int) -> str:
    return f"{TOPICS_PATH}/{topic}/partitions/{partition}/state"


def topic_json(topic_id: uuid.UUID, assignment: Mapping[int, tuple[int, ...]], previous: bytes | None = None,
               reassigning: Mapping[int, tuple[tuple[int, ...], tuple[int, ...]]] | None = None) -> bytes:
    """TopicZNode.encode, version 3. Reassignments in progress (adding/removing replicas)
    are kept from `previous` except for the partitions in `reassigning`, which get the
    given (adding, removing) (empty ones: none in progress)."""
    adding: dict[str, list[int]] = {}
    removing: dict[str, list[int]] = {}
    if previous:
        old = json.loads(previous)
        adding = dict(old.get("adding_replicas") or {})
        removing = dict(old.get("removing_replicas") or {})
    for p, (add, remove) in (reassigning or {}).items():
        adding.pop(str(p), None)
        removing.pop(str(p), None)
        if add:
            adding[str(p)] = list(add)
        if remove:
            removing[str(p)] = list(remove)
    return encode_json({
        "version": TOPIC_ZNODE_VERSION,
        "partitions": {str(p): list(r) for p, r in sorted(assignment.items())},
        "topic_id": kafka_uuid(topic_id),
        "adding_replicas": adding,
        "removing_replicas": removing,
    })


def config_json(configs: Mapping[str, str]) -> bytes:
    """ConfigEntityZNode.encode."""
    return encode_json({"version": 1, "config": dict(configs)})


def parse_topic(name: str, data: bytes) -> tuple[uuid.UUID, dict[int, tuple[int, ...]]]:
    decoded = json.loads(data)
    raw_id = decoded.get("topic_id")
    if raw_id is None:
        # A topic written by Kafka before 2.8 has no id yet; Kafka's controller assigns
        # one. Derive a stable one from the name so every broker agrees.
        log.warning("topic %s has no topic_id in zookeeper; deriving one from its name", name)
        topic_id = uuid.uuid5(uuid.NAMESPACE_URL, f"snakafka:topic:{name}")
    else:
        topic_id = parse_kafka_uuid(str(raw_id))
    partitions = {int(p): tuple(int(r) for r in replicas) for p, replicas in decoded["partitions"].items()}
    return topic_id, partitions


def parse_reassignments(data: bytes) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The reassignments in progress of a topic znode: partition -> (adding, removing)."""
    decoded = json.loads(data)
    adding = decoded.get("adding_replicas") or {}
    removing = decoded.get("removing_replicas") or {}
    return {int(p): (tuple(int(r) for r in adding.get(p, ())), tuple(int(r) for r in removing.get(p, ())))
            for p in {*adding, *removing}}


def parse_state(replicas: tuple[int, ...], data: bytes, znode_version: int) -> PartitionState:
    """TopicPartitionStateZNode.decode: the partition epoch is the znode's version."""
    decoded = json.loads(data)
    return PartitionState(
        replicas=replicas,
        leader=int(decoded["leader"]),
        leader_epoch=int(decoded["leader_epoch"]),
        isr=tuple(int(b) for b in decoded["isr"]),
        partition_epoch=znode_version,
    )


def parse_broker(broker_id: int, data: bytes) -> BrokerInfo:
    """BrokerIdZNode.decode: endpoints from "endpoints" (version >= 2), else the legacy
    PLAINTEXT host/port."""
    decoded = json.loads(data)
    raw = decoded.get("endpoints")
    if raw:
        endpoints = tuple(parse_endpoint(str(e)) for e in raw)
    else:
        endpoints = (Endpoint("PLAINTEXT", str(decoded.get("host") or ""), int(decoded.get("port", -1))),)
    rack = decoded.get("rack")
    return BrokerInfo(broker_id, endpoints, str(rack) if rack is not None else None)


def broker_json(broker: BrokerInfo, protocol_of: Callable[[str], str], timestamp_ms: int) -> bytes:
    """BrokerIdZNode.encode, version 5: host/port are the first PLAINTEXT endpoint's
    (for old clients), or null/-1 without one; rack only when set."""
    plaintext = next((e for e in broker.endpoints if protocol_of(e.listener) == "PLAINTEXT"), None)
    data: dict[str, Any] = {
        "features": {},
        "listener_security_protocol_map": {e.listener: protocol_of(e.listener) for e in broker.endpoints},
        "endpoints": [format_endpoint(e) for e in broker.endpoints],
        "jmx_port": -1,
        "port": plaintext.port if plaintext is not None else -1,
        "host": plaintext.host if plaintext is not None else None,
        "version": BROKER_ZNODE_VERSION,
        "timestamp": str(timestamp_ms),
    }
    if broker.rack is not None:
        data["rack"] = broker.rack
    return encode_json(data)


def state_json(state: PartitionState, controller_epoch: int) -> bytes:
    """TopicPartitionStateZNode.encode (leader_recovery_state only when not RECOVERED,
    which snakafka never writes)."""
    return encode_json({
        "controller_epoch": controller_epoch,
        "leader": state.leader,
        "version": PARTITION_STATE_VERSION,
        "leader_epoch": state.leader_epoch,
        "isr": list(state.isr),
    })


def controller_json(broker_id: int, timestamp_ms: int) -> bytes:
    """ControllerZNode.encode: {"version":1,"brokerid":N,"timestamp":"<ms>"}."""
    return encode_json({"version": 1, "brokerid": broker_id, "timestamp": str(timestamp_ms)})


def parse_controller(data: bytes | None) -> int:
    """ControllerZNode.decode: the controller's broker id (NO_CONTROLLER for an empty or
    unreadable znode, which Kafka likewise treats as "no controller")."""
    if not data:
        return NO_CONTROLLER
    try:
        return int(json.loads(data)["brokerid"])
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable /controller znode: %r", data[:200])
        return NO_CONTROLLER


def controller_epoch_bytes(epoch: int) -> bytes:
    """ControllerEpochZNode.encode: the epoch as decimal text, not JSON."""
    return str(epoch).encode()


def parse_controller_epoch(data: bytes | None) -> int:
    return int(data.decode()) if data else 0


def first_failure(results: list[Any]) -> Exception | None:
    """The exception of the operation that failed a ZooKeeper transaction (the others
    report RolledBackError), or None if it committed."""
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, RolledBackError):
            return result
    return None
