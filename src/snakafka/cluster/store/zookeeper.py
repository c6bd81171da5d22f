"""The metadata store of a cluster: ZooKeeper, in Kafka's own znode layout and JSON.

Several brokers share one ZooKeeper ensemble, as Kafka's ZooKeeper mode does, and the
znodes are exactly those of Kafka's ZkData.scala, so ZooKeeper tools (and Kafka's own
zookeeper-shell habits) read a snakafka cluster like a Kafka one:

    /cluster/id                                  {"version":"1","id":"<base64 uuid>"}
    /brokers/ids/<id>               (ephemeral)  the broker's endpoints (BrokerIdZNode)
    /brokers/topics/<topic>                      replica assignment and topic id (TopicZNode)
    /brokers/topics/<topic>/partitions/<p>/state leader, epoch, ISR (TopicPartitionStateZNode)
    /config/topics/<topic>                       topic config overrides (ConfigEntityZNode)
    /config/changes/config_change_<seq>          config change notifications
    /latest_producer_id_block                    the last producer id block handed out
    /controller                     (ephemeral)  the active controller (zk_controller.py)
    /controller_epoch                            how many controllers there have been
    /kafka-acl..., /kafka-acl-extended/...       ACLs and their change queues (zk_acls.py)

kazoo is synchronous and threaded: every ZooKeeper round trip runs in a worker thread
(asyncio.to_thread) so the event loop never blocks, and watch events, which arrive on
kazoo's threads, are handed to the event loop with call_soon_threadsafe. A request cut
off by a lost connection (its server of the ensemble died) runs again once kazoo has
moved the session to another server, as Kafka's ZooKeeperClient re-sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

# kazoo ships no type information.
from kazoo.client import KazooClient, KazooState  # type: ignore[import-untyped]
from kazoo.exceptions import (  # type: ignore[import-untyped]
    NodeExistsError,
    NoNodeError,
)
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]
from kazoo.retry import KazooRetry  # type: ignore[import-untyped]

from snakafka.cluster.model import (
    BrokerInfo,
    ControllerEpoch,
    PartitionState,
    StateChange,
    TopicInfo,
    kafka_uuid,
)
from snakafka.cluster.store.base import AclChange, AclEntry, AclResource, MetadataStore
from snakafka.cluster.store.zk_acls import ZkAcls
from snakafka.cluster.store.zk_broker_configs import (
    read_broker_configs,
    write_broker_configs,
)
from snakafka.cluster.store.zk_brokers import register_broker
from snakafka.cluster.store.zk_controller import read_controller_id, register_controller
from snakafka.cluster.store.zk_data import (
    BROKER_IDS_PATH,
    CLUSTER_ID_PATH,
    PERSISTENT_PATHS,
    SECURITY_PROTOCOLS,
    broker_json,
    encode_json,
    format_endpoint,
    parse_broker,
    split_chroot,
)
from snakafka.cluster.store.zk_partitions import (
    add_partitions,
    alter_isr,
    update_states,
)
from snakafka.cluster.store.zk_producer_ids import allocate_block
from snakafka.cluster.store.zk_topics import (
    create_topic,
    delete_topic,
    read_topics,
    set_topic_configs,
)
from snakafka.cluster.store.zk_watches import ClusterWatches

log = logging.getLogger(__name__)


_T = TypeVar("_T")


class ZooKeeperUnreachableError(Exception):
    """No ZooKeeper session within zookeeper.connection.timeout.ms (Kafka's
    ZooKeeperClientTimeoutException)."""


class ZooKeeperMetadataStore:
    """MetadataStore over ZooKeeper, shared by every broker of a cluster.

    `connect` is Kafka's zookeeper.connect: "host:port[,host:port...][/chroot]"; a missing
    chroot is created on start, as Kafka does. `controller_epoch` is written into partition
    state znodes (the controller that owns them sets it once elected). Listener names map
    to security protocols through `listener_security_protocols` (Kafka's
    listener.security.protocol.map); by default a listener named after a protocol is that
    protocol, any other name PLAINTEXT.
    """

    def __init__(
        self,
        connect: str,
        *,
        session_timeout_ms: int = 18000,
        connection_timeout_ms: int | None = None,
        controller_epoch: int = 0,
        listener_security_protocols: Mapping[str, str] | None = None,
    ) -> None:
        self.connect = connect
        self.hosts, self.chroot = split_chroot(connect)
        self.session_timeout_ms = session_timeout_ms
        self.connection_timeout_ms = connection_timeout_ms if connection_timeout_ms is not None else session_timeout_ms
        self.controller_epoch = controller_epoch
        self._protocols = dict(listener_security_protocols or {})
        self.cluster_id = ""
        self._client: KazooClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._session_lost_callbacks: list[Callable[[], None]] = []
        self._registered: BrokerInfo | None = None
        self._closed = False
        self._acls = ZkAcls(self)  # Kafka's /kafka-acl znodes and change queues
        # Set from kazoo's threads and the event loop, only under _lock.
        self._lock = threading.Lock()
        self._notify_pending = False
        self._session_lost = False
        self._expiry_timer: threading.Timer | None = None
        # Until the session is back on some server; an expired session is not retried.
        self._retry = KazooRetry(max_tries=-1, delay=0.05, max_delay=1.0, ignore_expire=False,
                                 deadline=(self.session_timeout_ms + self.connection_timeout_ms) / 1000,
                                 interrupt=lambda: self._closed)

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run `func` (a ZooKeeper round trip) in a worker thread, from the start again after
        a ConnectionLoss: each is a read then a conditional write, safe to run twice."""
        result: _T = await asyncio.to_thread(self._retry.copy(), func, *args)
        return result

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def client(self) -> KazooClient:
        if self._client is None:
            raise RuntimeError("ZooKeeperMetadataStore is not started")
        return self._client

    async def start(self) -> None:
        """Connect (creating the chroot if needed), make Kafka's top-level paths, read or
        create the cluster id and start watching for changes by other brokers."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self._start_sync)
        except KazooTimeoutError:
            raise ZooKeeperUnreachableError(
                f"Timed out waiting for connection to zookeeper {self.connect} "
                f"({self.connection_timeout_ms} ms)") from None
        log.info("connected to zookeeper %s: cluster id %s", self.connect, self.cluster_id)

    def _start_sync(self) -> None:
        timeout = self.connection_timeout_ms / 1000
        if self.chroot:
            # KafkaServer.initZkClient: create the chroot through a client without it.
            root = KazooClient(hosts=self.hosts, timeout=self.session_timeout_ms / 1000)
            try:
                root.start(timeout=timeout)
                root.ensure_path(self.chroot)
            finally:
                root.stop()
                root.close()
        client = KazooClient(hosts=self.connect, timeout=self.session_timeout_ms / 1000)
        client.add_listener(self._session_state_changed)
        client.start(timeout=timeout)
        self._client = client
        try:
            for path in PERSISTENT_PATHS:
                client.ensure_path(path)
            self.cluster_id = self._get_or_create_cluster_id()
            ClusterWatches(self.client, self._notify).arm()
            self._acls.arm_watches()
        except BaseException:
            self._client = None
            client.stop()
            client.close()
            raise

    def _get_or_create_cluster_id(self) -> str:
        """KafkaZkClient.getOrCreateClusterId: the first broker's id wins."""
        proposed = kafka_uuid(uuid.uuid4())
        try:
            self.client.create(CLUSTER_ID_PATH, encode_json({"version": "1", "id": proposed}), makepath=True)
            log.info("created cluster id %s", proposed)
            return proposed
        except NodeExistsError:
            data, _ = self.client.get(CLUSTER_ID_PATH)
            return str(json.loads(data)["id"])

    async def close(self) -> None:
        """Stop the session: ZooKeeper removes our ephemeral broker znode at once."""
        client, self._client = self._client, None
        self._closed = True
        self._cancel_expiry_timer()
        if client is None:
            return

        def stop() -> None:
            client.stop()
            client.close()

        await asyncio.to_thread(stop)
        log.info("closed zookeeper session to %s", self.connect)

    def _session_state_changed(self, state: str) -> None:
        """kazoo's connection listener (its own thread; must not block).

        After a lost session the ephemeral broker znode is gone; Kafka re-registers the
        broker on the new session (KafkaZkClient's session-expiry handler), and the
        metadata may have changed while we were away, so listeners are told.

        kazoo learns that a session expired only when it reaches a server again. Cut off
        for longer than the session timeout, the session has expired on the servers by
        then (another broker may be controller already), so session-lost listeners are
        told at that moment rather than whenever the network heals.
        """
        if state == KazooState.LOST:
            self._cancel_expiry_timer()
            if not self._closed and not self._session_lost:  # close() ends the session on purpose
                log.warning("zookeeper session to %s lost", self.connect)
                self._on_loop(self._fire_session_lost)
            self._session_lost = True
        elif state == KazooState.SUSPENDED:
            self._start_expiry_timer()
        elif state == KazooState.CONNECTED:
            self._cancel_expiry_timer()
            if self._session_lost and not self._closed:
                self._session_lost = False
                client = self._client
                if client is not None:
                    client.handler.spawn(self._after_new_session)

    def _start_expiry_timer(self) -> None:
        with self._lock:
            if self._expiry_timer is not None:
                return
            timer = threading.Timer(self.session_timeout_ms / 1000, self._presumed_expired)
            timer.daemon = True
            self._expiry_timer = timer
        timer.start()

    def _cancel_expiry_timer(self) -> None:
        with self._lock:
            timer, self._expiry_timer = self._expiry_timer, None
        if timer is not None:
            timer.cancel()

    def _presumed_expired(self) -> None:
        with self._lock:
            self._expiry_timer = None
        if self._closed or self._session_lost:
            return
        log.warning("no zookeeper connection to %s for zookeeper.session.timeout.ms (%d ms): the session has "
                    "expired on the servers by now", self.connect, self.session_timeout_ms)
        self._on_loop(self._fire_session_lost)

    def _after_new_session(self) -> None:
        broker = self._registered
        if broker is not None:
            try:
                self._retry.copy()(self._register_sync, broker)
                log.info("re-registered broker %d after a new zookeeper session", broker.broker_id)
            except Exception:
                log.exception("could not re-register broker %d after a new zookeeper session", broker.broker_id)
        self._notify()
        self._acls.notify()  # changes while the session was away may have gone unseen

    # -- brokers -------------------------------------------------------------------------

    async def register_broker(self, broker: BrokerInfo) -> None:
        """Create the ephemeral /brokers/ids/<id> (zk_brokers.py: a crashed predecessor's
        registration is waited out; BrokerIdInUseError if a live session holds it)."""
        await self._call(self._register_sync, broker)
        self._registered = broker
        log.info("registered broker %d at %s%s/%d: %s", broker.broker_id, self.chroot, BROKER_IDS_PATH,
                 broker.broker_id, ", ".join(format_endpoint(e) for e in broker.endpoints))

    def _register_sync(self, broker: BrokerInfo) -> None:
        data = broker_json(broker, self._protocol, int(time.time() * 1000))
        register_broker(self.client, broker.broker_id, data, self.session_timeout_ms)

    def _protocol(self, listener: str) -> str:
        if listener in self._protocols:
            return self._protocols[listener]
        return listener if listener in SECURITY_PROTOCOLS else "PLAINTEXT"

    async def brokers(self) -> list[BrokerInfo]:
        return await self._call(self._brokers_sync)

    def _brokers_sync(self) -> list[BrokerInfo]:
        client = self.client
        ids = sorted(int(c) for c in client.get_children(BROKER_IDS_PATH) if c.lstrip("-").isdigit())
        pending = [(i, client.get_async(f"{BROKER_IDS_PATH}/{i}")) for i in ids]
        result = []
        for broker_id, request in pending:
            try:
                data, _ = request.get()
            except NoNodeError:
                continue  # gone between the listing and the read
            result.append(parse_broker(broker_id, data))
        return result

    # -- topics --------------------------------------------------------------------------

    async def topics(self) -> dict[str, TopicInfo]:
        return await self._call(read_topics, self.client)

    async def create_topic(self, topic: TopicInfo) -> None:
        """Write the topic znode, its partition states and its config in one transaction
        (nobody ever sees half a topic); TopicExistsError if /brokers/topics/<name> exists."""
        await self._call(create_topic, self.client, topic, self.controller_epoch)
        log.info("created topic %s (%s) with %d partitions", topic.name, kafka_uuid(topic.topic_id),
                 len(topic.partitions))

    async def delete_topic(self, name: str) -> None:
        """Remove the topic's znodes (bottom-up, in one transaction), its config and any
        pending deletion marker, as Kafka's controller does once a deletion completes."""
        await self._call(delete_topic, self.client, name)
        log.info("deleted topic %s", name)

    async def update_partition_states(self, topic: str, changes: dict[int, StateChange],
                                      controller: ControllerEpoch) -> None:
        """The controller's leader and ISR changes in one transaction fenced by the
        controller epoch and each state's decided-on version (zk_partitions.py). The
        written state's partition_epoch is not stored: it is the state znode's version
        (Kafka's zkVersion), which ZooKeeper bumps on every write."""
        await self._call(update_states, self.client, topic, changes, controller)
        log.debug("updated %d partition states of topic %s (controller epoch %d)", len(changes), topic,
                  controller.epoch)

    async def add_partitions(self, topic: str, existing: int, states: dict[int, PartitionState]) -> None:
        """New partitions, created only while the topic has `existing` partitions."""
        await self._call(add_partitions, self.client, topic, existing, states, self.controller_epoch)
        log.info("added partitions %s to topic %s", sorted(states), topic)

    async def alter_isr(self, topic: str, partition: int, expected: PartitionState, new: PartitionState) -> bool:
        """A leader's ISR change, written only if the state znode is still at the version
        `expected` (the state the leader decided on) was read at, so it never clobbers a
        controller's concurrent change. False if the state moved meanwhile (or is gone):
        the caller re-reads and decides again."""
        return await self._call(alter_isr, self.client, topic, partition, expected, new, self.controller_epoch)

    async def set_topic_configs(self, topic: str, configs: dict[str, str]) -> None:
        """Replace the topic's config overrides and post a config change notification, as
        AdminZkClient.changeTopicConfig does (brokers watch /config/changes). KeyError if
        the topic does not exist."""
        await self._call(set_topic_configs, self.client, topic, configs)
        log.info("set configs of topic %s: %s", topic, configs)

    # -- controller -------------------------------------------------------------------------

    async def controller_id(self) -> int:
        """The broker id in /controller, or -1 while there is no controller."""
        return await self._call(read_controller_id, self.client)

    async def try_become_controller(self, broker_id: int) -> ControllerEpoch | None:
        """Run Kafka's controller election for `broker_id`: the new controller epoch if it
        won (its writes are fenced by it), None if another broker is controller."""
        lease = await self._call(register_controller, self.client, broker_id)
        if lease is not None:
            self.controller_epoch = lease.epoch
        return lease

    async def broker_configs(self) -> dict[str, dict[str, str]]:
        return await self._call(read_broker_configs, self.client)

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        await self._call(write_broker_configs, self.client, entity, configs)
        log.info("set dynamic configs of brokers/%s: %s", entity, configs)

    # -- producer ids --------------------------------------------------------------------

    async def allocate_producer_ids(self, count: int) -> int:
        """Reserve the next `count` producer ids with a compare-and-set of
        /latest_producer_id_block, retrying when another broker got there first
        (ZkProducerIdManager.getNewProducerIdBlock)."""
        if count <= 0:
            raise ValueError(f"producer id block size must be positive, got {count}")
        first = await self._call(self._allocate_producer_ids_sync, count)
        log.debug("allocated producer ids %d..%d", first, first + count - 1)
        return first

    def _allocate_producer_ids_sync(self, count: int) -> int:
        broker_id = self._registered.broker_id if self._registered is not None else -1
        return allocate_block(self.client, broker_id, count)

    # -- ACLs (zk_acls.py) ---------------------------------------------------------------

    async def acls(self) -> dict[AclResource, frozenset[AclEntry]]:
        return await self._acls.acls()

    async def update_acls(self, resource: AclResource, change: AclChange) -> tuple[frozenset[AclEntry], frozenset[AclEntry]]:
        return await self._acls.update(resource, change)

    def on_acl_change(self, callback: Callable[[], None]) -> None:
        self._acls.on_change(callback)

    # -- change notification -------------------------------------------------------------

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the event loop whenever the cluster metadata changes: brokers
        coming or going, topics created or deleted, assignments, partition states or
        configs changed. ZooKeeper watches do not say who wrote, so our own writes call it
        too; bursts of events are coalesced into one call."""
        self._callbacks.append(callback)

    def _notify(self) -> None:
        """From kazoo's threads: schedule one round of callbacks on the event loop."""
        loop = self._loop
        if loop is None or not self._callbacks or self._closed:
            return
        with self._lock:
            if self._notify_pending:
                return
            self._notify_pending = True
        try:
            loop.call_soon_threadsafe(self._fire)
        except RuntimeError:  # the loop is closed: nobody left to tell
            with self._lock:
                self._notify_pending = False

    def on_session_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the event loop as soon as kazoo reports the session lost
        (expired): the controller role must stop at once, before the new session."""
        self._session_lost_callbacks.append(callback)

    def _on_loop(self, func: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(func)
        except RuntimeError:  # the loop is closed
            pass

    def _fire_session_lost(self) -> None:
        for callback in list(self._session_lost_callbacks):
            try:
                callback()
            except Exception:
                log.exception("session lost callback %r failed", callback)

    def _fire(self) -> None:
        with self._lock:
            self._notify_pending = False
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                log.exception("metadata change callback %r failed", callback)



if TYPE_CHECKING:

    def _satisfies_protocol(store: ZooKeeperMetadataStore) -> MetadataStore:
        """mypy checks here that the class implements the MetadataStore interface."""
        return store
