"""A broker: wires the layers together and owns their lifecycles.

Start-up order follows the layers bottom-up (metadata store, logs, metadata cache,
controller, replica manager, coordinators, then the socket server); shutdown runs in
reverse and ends with the logs' clean-shutdown marker, which lets the next start skip
recovery.

In a cluster, a clean stop first runs Kafka's controlled shutdown (controlled_shutdown.py):
the broker asks the active controller to move every leadership it holds to another ISR
member and to drop it from every ISR, and waits until its metadata shows it leads
nothing, so producers see only retriable NOT_LEADER errors and no acknowledged write
depends on it; after controlled.shutdown.max.retries failed attempts it stops anyway.
The active controller also runs Kafka's periodic preferred replica election
(auto.leader.rebalance.enable), moving leadership back to returned brokers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snakafka.clock import Clock, SystemClock
from snakafka.cluster.controller import Controller
from snakafka.cluster.controller_role import ControllerRole
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import BrokerInfo, Endpoint
from snakafka.cluster.store.base import MetadataStore, ScramCredentialStore
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.config.broker import BrokerConfig, ConfigError, parse_http_listener
from snakafka.config.dynamic import DEFAULT_ENTITY, with_dynamic
from snakafka.config.topic import (
    TopicConfigError,
    describe_broker_configs,
    describe_default_broker_configs,
    describe_topic_configs,
    log_config_for,
    validate_topic_configs,
)
from snakafka.coordinator.producer_ids import ProducerIdManager
from snakafka.log.cleaner import LogCleaner
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.fetcher import FetcherConfig
from snakafka.replication.replica_manager import ReplicaManager
from snakafka.replication.throttle import ReplicationQuota, is_throttled
from snakafka.scheduler import LoopScheduler
from snakafka.server.acl_host import AclHost
from snakafka.server.apis import BROKER_APIS
from snakafka.server.authentication import ListenerAuth
from snakafka.server.controlled_shutdown import ControlledShutdown
from snakafka.server.dispatch import Dispatcher
from snakafka.server.group_host import GroupHost
from snakafka.server.housekeeping import Housekeeping, every
from snakafka.server.inter_broker import InterBrokerClient
from snakafka.server.network import SocketServer
from snakafka.server.request_metrics import RequestMetrics
from snakafka.server.txn_host import TxnHost

if TYPE_CHECKING:
    from snakafka.coordinator.group.coordinator import GroupCoordinator
    from snakafka.coordinator.transaction import TransactionCoordinator
    from snakafka.server.metrics_http import MetricsHttpServer

log = logging.getLogger(__name__)


_CONTROLLER_PASSES = 5


class Broker:
    def __init__(self, config: BrokerConfig, clock: Clock | None = None) -> None:
        self.config = config  # in force: the static config with the dynamic broker configs over it
        self.static_config = config  # server.properties and --override, as started
        self.clock = clock or SystemClock()
        # metrics.http.listener: request metrics on the dispatch path, served with the
        # health endpoints from the first moment of start() (readiness says 503 till ready).
        self.request_metrics = RequestMetrics() if config.metrics_http_listener else None
        self.dispatcher = Dispatcher(BROKER_APIS, self.request_metrics)
        self.metrics_server: MetricsHttpServer | None = None
        self.started = False  # start() completed: registered, metadata applied, serving
        self._tasks: list[asyncio.Task[None]] = []
        self.servers: list[SocketServer] = []  # one per listener
        self._closed = asyncio.Event()
        self._stopping = False
        self._refreshes_stopped = False  # set once stop() no longer wants metadata updates
        # With zookeeper.connect the broker is one of a cluster (ZooKeeper metadata store,
        # controller election); without it, a single broker that is its own controller.
        self.cluster_mode = bool(config.zookeeper_connect)
        self.controller_role: ControllerRole | None = None
        # Metadata refreshes run one at a time (a refresh reads the whole store, then
        # applies it); store notifications queue at most one more.
        self._metadata_lock = asyncio.Lock()
        self._refresh_queued = False
        self._refresh_tasks: set[asyncio.Task[None]] = set()

    @property
    def groups(self) -> GroupCoordinator:
        return self.group_host.coordinator

    @property
    def txn(self) -> TransactionCoordinator:
        return self.txn_host.coordinator

    @property
    def controller_id(self) -> int:
        return self.cache.controller_id if self.cluster_mode else self.config.broker_id

    @property
    def port(self) -> int:
        """The bound port of the first listener."""
        return self.servers[0].port

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Load the logs, serve every listener, register, start the background work. A
        failed start (a taken port, the log dir of another broker) raises after releasing
        what it opened, so a process that goes on (an embedded broker) keeps no sockets or
        open files."""
        try:
            await self._start()
        except BaseException:
            await self._release_failed_start()
            raise

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _start(self) -> None:
        config = self.config
        if self.request_metrics is not None and config.metrics_http_listener is not None:
            # prometheus-client loads only here: a broker without the listener does not pay its import
            from snakafka.server.metrics_http import MetricsHttpServer

            self.metrics_server = MetricsHttpServer(self, self.request_metrics,
                                                    *parse_http_listener(config.metrics_http_listener))
            await self.metrics_server.start()
        for d in config.log_dirs:
            Path(d).mkdir(parents=True, exist_ok=True)
        # TLS and SASL settings (key stores, JAAS) are checked before anything opens
        self.inter_broker = InterBrokerClient.from_config(config)
        auths = {listener.name: self._listener_auth(listener.name) for listener in config.listeners}
        self.store = self._new_store()
        await self.store.start()
        self.users = self._credential_store()
        for auth in auths.values():
            if auth is not None:
                auth.credentials = self.users
        _write_meta_properties(config.log_dirs, config.broker_id, self.store.cluster_id)
        self._apply_dynamic_configs(await self.store.broker_configs())  # before the logs load, as Kafka
        config = self.config
        self.producer_ids = ProducerIdManager(self.store)
        self.acls = AclHost(config, self.store)
        await self.acls.start()  # before any listener: no request is answered unauthorized
        self.log_manager = LogManager([Path(d) for d in config.log_dirs], self.clock, config.log_config())
        topics = await self.store.topics()
        self.log_manager.load(lambda topic: self.config_for(topic, topics[topic].configs if topic in topics else {}))
        self.cache = MetadataCache(self.store)
        self.controller = Controller(
            self.store,
            self.cache,
            default_partitions=config.num_partitions,
            default_replication_factor=config.default_replication_factor,
            validate_configs=_validate_configs,
            on_change=self.refresh_metadata,
        )
        if self.cluster_mode:
            self.controller_role = ControllerRole(config.broker_id, self.store, self.cache,
                                                  lambda: self.config.unclean_leader_election_enable)
            self.controller.role = self.controller_role
        self.replica_manager = ReplicaManager(
            config.broker_id, self.log_manager, self.cache, self.log_config_for_topic,
            store=self.store, fetcher_config=self._fetcher_config(), lag_time_max_ms=config.replica_lag_time_max_ms,
            time_ms=self.clock.time_ms, scheduler=LoopScheduler(self.clock),
            fetch_session_slots=config.max_incremental_fetch_session_cache_slots,
        )
        self._set_replication_throttles()
        self.cleaner = LogCleaner(self.clock, dedupe_buffer_size=config.log_cleaner_dedupe_buffer_size)
        self.housekeeping = Housekeeping(lambda: self.config, self.clock, self.log_manager, self.replica_manager,
                                         self.cleaner)
        self.group_host = GroupHost(self)  # each coordinator is created on first use
        self.txn_host = TxnHost(self)
        self.servers = [SocketServer(self, self.dispatcher, listener.name, listener.host, listener.port,
                                     config.socket_request_max_bytes, auths[listener.name])
                        for listener in config.listeners]
        for server in self.servers:
            await server.start()
        await self.store.register_broker(BrokerInfo(config.broker_id, self._endpoints()))
        self.store.on_change(self._store_changed)
        self.store.on_session_lost(self._session_lost)
        await self.refresh_metadata()
        self._tasks = self.housekeeping.start()
        self._tasks += [
            asyncio.create_task(  # Kafka's isr-expiration task
                every(config.replica_lag_time_max_ms // 2, self.replica_manager.shrink_isrs), name="isr-expiration"),
            # Kafka's transaction-abort and transactionalId-expiration tasks
            asyncio.create_task(every(config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                                      self.txn_host.abort_timed_out), name="txn-abort-timed-out"),
            asyncio.create_task(every(config.transaction_remove_expired_transaction_cleanup_interval_ms,
                                      self.txn_host.expire_transactional_ids), name="txn-expire-ids"),
        ]
        if self.cluster_mode and config.auto_leader_rebalance_enable:  # Kafka's auto-leader-rebalance-task
            self._tasks.append(asyncio.create_task(
                every(config.leader_imbalance_check_interval_seconds * 1000, self._rebalance_leaders),
                name="auto-leader-rebalance"))
        self.started = True
        log.info("broker %d started (cluster %s) on %s", config.broker_id, self.store.cluster_id,
                 ", ".join(f"{s.listener} port {s.port}" for s in self.servers))

    async def _release_failed_start(self) -> None:
        """Close what start() had opened before it failed. The logs are closed without the
        clean-shutdown marker: the next start runs recovery, as after a crash."""
        try:
            for task in self._tasks + list(self._refresh_tasks):
                task.cancel()
            for server in self.servers:
                await server.stop()
            opened = vars(self)  # start() sets these one after another
            if "log_manager" in opened:
                for partition_log in self.log_manager.logs.values():
                    partition_log.close()
            if "store" in opened:
                await self.store.close()
            if self.metrics_server is not None:
                await self.metrics_server.stop()
        except Exception:
            log.exception("broker %d: releasing a failed start", self.config.broker_id)

    async def stop(self) -> None:
        if self._stopping:
            await self._closed.wait()
            return
        self._stopping = True
        log.info("broker %d shutting down", self.config.broker_id)
        if self.cluster_mode and self.config.controlled_shutdown_enable:
            try:
                if await ControlledShutdown(self).run():
                    # Stop following: a leader would otherwise take this broker back into its ISR.
                    self._refreshes_stopped = True
                    self.replica_manager.fetchers.update({})
            except Exception:
                log.exception("broker %d: controlled shutdown failed; stopping anyway", self.config.broker_id)
        self._refreshes_stopped = True
        for server in self.servers:
            await server.stop()
        for task in self._tasks + list(self._refresh_tasks):
            task.cancel()
        for task in self._tasks + list(self._refresh_tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("background task %s failed while stopping", task.get_name())
        await self.txn_host.close()
        await self.group_host.close()
        await self.acls.close()
        await self.replica_manager.close()
        self.housekeeping.write_high_watermarks()  # last, as Kafka's ReplicaManager.shutdown: the final values
        self.log_manager.shutdown()
        await self.store.close()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        self._closed.set()
        log.info("broker %d stopped", self.config.broker_id)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- metadata -------------------------------------------------------------------

    def _endpoints(self) -> tuple[Endpoint, ...]:
        """advertised.listeners, a port of 0 replaced by the port its listener was bound to."""
        bound = {server.listener: server.port for server in self.servers}
        return tuple(Endpoint(a.name, a.host or "127.0.0.1", a.port or bound[a.name])
                     for a in self.config.advertised_listeners)

    def _fetcher_config(self) -> FetcherConfig:
        """Followers fetch over inter.broker.listener.name, else the first listener."""
        config = self.config
        return FetcherConfig(
            broker_id=config.broker_id,
            listener=self.inter_broker.listener,
            max_wait_ms=config.replica_fetch_wait_max_ms,
            min_bytes=config.replica_fetch_min_bytes,
            max_bytes=config.replica_fetch_response_max_bytes,
            partition_max_bytes=config.replica_fetch_max_bytes,
            backoff_ms=config.replica_fetch_backoff_ms,
            num_fetchers=max(config.num_replica_fetchers, 1),
            security=self.inter_broker.security,
        )

    def _listener_auth(self, listener: str) -> ListenerAuth | None:
        """A listener's authentication (TLS context, SASL), None for PLAINTEXT."""
        security = self.config.listener_security(listener)
        if security.protocol == "PLAINTEXT":
            return None
        return ListenerAuth.create(security)

    def _credential_store(self) -> ScramCredentialStore:
        if isinstance(self.store, LocalMetadataStore):
            return self.store
        from snakafka.cluster.store.zk_users import ZkScramCredentials
        from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore

        assert isinstance(self.store, ZooKeeperMetadataStore)
        return ZkScramCredentials(self.store)

    def _new_store(self) -> MetadataStore:
        config = self.config
        if not self.cluster_mode:
            return LocalMetadataStore(Path(config.log_dirs[0]))
        # kazoo loads only for a cluster
        from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore

        assert config.zookeeper_connect is not None
        return ZooKeeperMetadataStore(
            config.zookeeper_connect,
            session_timeout_ms=config.zookeeper_session_timeout_ms,
            connection_timeout_ms=config.zookeeper_connection_timeout_ms,
            listener_security_protocols=config.listener_security_protocol_map,
        )

    async def refresh_metadata(self) -> None:
        """Refresh the metadata cache from the store and apply it (the controller's own
        writes, a store notification): one refresh at a time."""
        async with self._metadata_lock:
            await self._refresh_and_apply()

    async def _refresh_and_apply(self) -> None:
        await self._refresh_view()
        # The controller's pass wrote, or found the store newer than its view: read back and
        # pass again until settled (bounded: the store's watches bring any later change).
        for _ in range(_CONTROLLER_PASSES):
            if self.controller_role is None or not await self.controller_role.on_metadata():
                break
            await self._refresh_view()
        await self.group_host.on_metadata()
        await self.txn_host.on_metadata()

    async def _refresh_view(self) -> None:
        """Read the store, then apply it to the replicas with no await in between, so that
        Metadata (answered from the cache) never names this broker the leader of a
        partition its replica manager does not lead yet."""
        await self.cache.refresh()
        self._apply_dynamic_configs(self.cache.broker_configs)
        for removal in self.replica_manager.apply_metadata():
            self.housekeeping.delete_later(removal)

    def _session_lost(self) -> None:
        """The ZooKeeper session expired: whatever was held through it is gone. Stop acting
        as controller now; the store re-registers on the new session and notifies, and the
        refresh that follows re-reads everything before this broker acts again."""
        if self.controller_role is not None:
            self.controller_role.resign("the zookeeper session was lost")

    def _store_changed(self) -> None:
        """The store's change callback (on the loop; another broker or our own write
        changed ZooKeeper): queue one refresh unless one is queued already."""
        if self._refresh_queued or self._refreshes_stopped:
            return
        self._refresh_queued = True
        task = asyncio.create_task(self._refresh_from_store(), name="metadata-refresh")
        self._refresh_tasks.add(task)
        task.add_done_callback(self._refresh_tasks.discard)

    async def _refresh_from_store(self) -> None:
        try:
            async with self._metadata_lock:
                self._refresh_queued = False
                await self._refresh_and_apply()
        except asyncio.CancelledError:
            raise
        except Exception:
            # ZooKeeper unreachable for a moment, say: keep the last view and try again.
            log.exception("broker %d: metadata refresh failed; retrying in 1 s", self.config.broker_id)
            await asyncio.sleep(1)
            self._store_changed()

    async def group_coordinator_node(self, group_id: str) -> tuple[ErrorCode, BrokerInfo | None]:
        return await self.group_host.coordinator_for(group_id)

    async def txn_coordinator_node(self, transactional_id: str) -> tuple[ErrorCode, BrokerInfo | None]:
        return await self.txn_host.coordinator_for(transactional_id)

    def _apply_dynamic_configs(self, layers: dict[str, dict[str, str]]) -> None:
        """Put the stored dynamic broker configs (config/dynamic.py) in force when they
        changed: later reads of self.config see them, each log's config is recomputed by
        the replica manager's next metadata pass (which follows this call), the cleaner's
        key map budget and the default log config of new logs change now. A stored set
        that does not apply (e.g. written by a newer version) is logged and skipped."""
        own = layers.get(str(self.config.broker_id), {})
        default = layers.get(DEFAULT_ENTITY, {})
        if own == self.config.dynamic_broker and default == self.config.dynamic_default:
            return
        try:
            updated = with_dynamic(self.static_config, own, default)
        except ConfigError as exc:
            log.error("broker %d: dynamic broker configs not applied (%s): %s", self.config.broker_id, exc,
                      {"broker": own, "default": default})
            return
        self.config = updated
        log.info("broker %d: dynamic broker configs in force: %s (cluster-wide defaults: %s)",
                 updated.broker_id, own or "none", default or "none")
        if "log_manager" in vars(self):
            self.log_manager.default_config = updated.log_config()
        if "cleaner" in vars(self):
            self.cleaner.dedupe_buffer_size = updated.log_cleaner_dedupe_buffer_size

    def _set_replication_throttles(self) -> None:
        """Kafka's replication quotas (replication/throttle.py), reading the dynamic rates
        and the topics' throttled-replica lists as they are at each check."""
        broker_id = self.config.broker_id

        def throttled(key: str) -> Callable[[str, int], bool]:
            def check(topic: str, partition: int) -> bool:
                info = self.cache.topics.get(topic)
                return info is not None and is_throttled(info.configs.get(key), partition, broker_id)
            return check

        self.replica_manager.leader_quota = ReplicationQuota(
            lambda: self.config.leader_replication_throttled_rate, throttled("leader.replication.throttled.replicas"))
        self.replica_manager.fetchers.quota = ReplicationQuota(
            lambda: self.config.follower_replication_throttled_rate, throttled("follower.replication.throttled.replicas"))

    def delete_later(self, segments: list[Any]) -> None:
        """Remove detached segments (DeleteRecords) after log.segment.delete.delay.ms, off
        the loop, as retention's."""
        self.housekeeping.delete_later(segments)

    def config_for(self, topic: str, overrides: dict[str, str]) -> LogConfig:
        return log_config_for(overrides, self.config)

    def log_config_for_topic(self, topic: str) -> LogConfig:
        info = self.cache.topics.get(topic)
        return log_config_for(info.configs if info else {}, self.config)

    def describe_topic_configs(self, overrides: dict[str, str]) -> list[Any]:
        return describe_topic_configs(overrides, self.config)

    def describe_broker_configs(self) -> list[Any]:
        return describe_broker_configs(self.config)

    def describe_default_broker_configs(self) -> list[Any]:
        return describe_default_broker_configs(self.config)

    def topic_config_default(self, name: str) -> str | None:
        for c in describe_topic_configs({}, self.config):
            if c.name == name:
                return c.value
        return None

    async def _rebalance_leaders(self) -> None:
        """The active controller's periodic preferred replica election, on a fresh view."""
        role = self.controller_role
        if role is None or not role.is_active:
            return
        async with self._metadata_lock:
            await self._refresh_and_apply()
            if await role.rebalance_leaders(self.config.leader_imbalance_per_broker_percentage):
                await self._refresh_and_apply()


def _validate_configs(configs: dict[str, str]) -> None:
    try:
        validate_topic_configs(configs)
    except TopicConfigError as exc:
        raise KafkaError(ErrorCode.invalid_config, str(exc)) from exc


def _write_meta_properties(log_dirs: list[Any], broker_id: int, cluster_id: str) -> None:
    """Kafka's meta.properties: which broker and cluster a log dir belongs to."""
    for d in log_dirs:
        path = Path(d) / "meta.properties"
        if path.exists():
            existing = dict(
                line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")
            )
            if existing.get("broker.id") not in (None, str(broker_id)):
                raise RuntimeError(
                    f"log dir {d} belongs to broker.id={existing['broker.id']}, not {broker_id}"
                )
            continue
        path.write_text(f"#snakafka\nversion=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n")
