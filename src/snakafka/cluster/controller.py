"""The controller: the one place that decides topics, assignments and leadership.

It validates a change, writes it to the metadata store, then tells the brokers to
refresh (for a single broker: a callback; in a cluster: the store's watches). The same
logic runs over either store.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from snakafka.cluster.assignment import AssignmentError, assign_replicas
from snakafka.cluster.controller_role import ControllerRole
from snakafka.cluster.election import election_failure_message, requested_election
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import (
    PartitionState,
    StateChange,
    TopicInfo,
    topic_name_error,
)
from snakafka.cluster.store.base import (
    MetadataStore,
    StateConflictError,
    TopicExistsError,
)
from snakafka.protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NewTopic:
    name: str
    num_partitions: int = -1  # -1: num.partitions
    replication_factor: int = -1  # -1: default.replication.factor
    assignments: dict[int, list[int]] | None = None
    configs: dict[str, str] = field(default_factory=dict)


class Controller:
    def __init__(
        self,
        store: MetadataStore,
        cache: MetadataCache,
        *,
        default_partitions: int,
        default_replication_factor: int,
        validate_configs: Callable[[dict[str, str]], None],
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.cache = cache
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self._validate_configs = validate_configs
        self._on_change = on_change
        self.role: ControllerRole | None = None  # in a cluster: this broker's controller role

    async def controlled_shutdown(self, broker_id: int) -> list[tuple[str, int]]:
        """A broker about to stop asks the active controller to move its leaderships and
        ISR memberships away; returns the partitions it still leads (none once done).
        Raises KafkaError NOT_CONTROLLER unless this broker is the active controller, and
        BROKER_ID_NOT_REGISTERED for a broker that is not live."""
        # a single broker has no cluster controller role: nothing could take its leaderships
        role = self._active_role()
        try:
            role.begin_controlled_shutdown(broker_id)
        except KeyError:
            raise KafkaError(ErrorCode.broker_id_not_registered, f"Broker {broker_id} is not registered.") from None
        await self._on_change()  # the controller's pass runs with every refresh
        return role.leaderships_remaining(broker_id)

    def _active_role(self) -> ControllerRole:
        role = self.role
        if role is None or not role.is_active or self.cache.controller_id != role.broker_id:
            raise KafkaError(ErrorCode.not_controller, "This broker is not the active controller of a cluster.")
        return role

    async def alter_reassignments(self, targets: dict[tuple[str, int], tuple[int, ...] | None]
                                  ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        """AlterPartitionReassignments on the active controller (NOT_CONTROLLER elsewhere,
        and on a single broker, which has nowhere to move replicas). A view older than the
        store is refreshed and the request decided again (a few times at most)."""
        role = self._active_role()
        for attempt in range(3):
            try:
                results = await role.reassign(targets)
                break
            except StateConflictError:
                if attempt == 2:
                    raise KafkaError(ErrorCode.request_timed_out,
                                     "The partitions kept changing while the reassignment was written") from None
                await self._on_change()
        await self._on_change()  # the pass that follows the reassignment starts now
        return results

    def list_reassignments(self) -> dict[tuple[str, int], PartitionState]:
        """ListPartitionReassignments on the active controller."""
        return self._active_role().reassignments()
    async def elect_leaders(
        self, election_type: int, partitions: list[tuple[str, int]] | None,
    ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        """ElectLeaders (KIP-460): run the requested election (election.requested_election)
        on each partition, all of them for None, and write the moves, fenced like every
        controller write (decided again on a fresh view if a state moved meanwhile); per
        partition NONE or Kafka's error and message. In a cluster only the active controller
        elects (NOT_CONTROLLER elsewhere, as Kafka's ZooKeeper-mode controller answers); a
        single broker is its own controller. For None, partitions needing no election are
        left out of the answer, as Kafka's controller does for "all partitions"."""
        role = self.role
        wanted = partitions if partitions is not None else [
            (name, p) for name, topic in sorted(self.cache.topics.items()) for p in sorted(topic.partitions)]
        not_controller: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {tp: (ErrorCode.not_controller, "This is not the correct controller for this cluster.")
                          for tp in wanted}
        results: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {}
        for _attempt in range(5):
            if role is not None and (not role.is_active or self.cache.controller_id != role.broker_id):
                return not_controller
            results, by_topic = self._decide_elections(election_type, wanted, partitions is None)
            if not by_topic:
                return results
            if role is not None:
                outcome = await role.write_requested_elections(by_topic)
            else:  # a single broker: the only controller there is
                lease = await self.store.try_become_controller(-1)
                assert lease is not None
                try:
                    for name, changes in by_topic.items():
                        await self.store.update_partition_states(name, changes, lease)
                    outcome = "written"
                except StateConflictError:
                    outcome = "conflict"
            await self._on_change()
            if outcome == "not-controller":
                return not_controller
            if outcome == "written":
                log.info("leader election (type %d) moved %s", election_type, sorted(
                    f"{n}-{p}->{new.leader}" for n, changes in by_topic.items() for p, (_, new) in changes.items()))
                return results
        return {tp: (ErrorCode.request_timed_out, "The partition states kept changing; try again.") if e == ErrorCode.none
                else (e, m) for tp, (e, m) in results.items()}

    def _decide_elections(self, election_type: int, wanted: list[tuple[str, int]], all_partitions: bool
                          ) -> tuple[dict[tuple[str, int], tuple[ErrorCode, str | None]], dict[str, dict[int, StateChange]]]:
        live = frozenset(self.cache.brokers)
        shutting_down = frozenset(self.role.shutting_down) if self.role is not None else frozenset()
        results: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {}
        by_topic: dict[str, dict[int, StateChange]] = {}
        for name, p in wanted:
            state = self.cache.partition(name, p)
            if state is None:
                results[(name, p)] = (ErrorCode.unknown_topic_or_partition, "The partition does not exist.")
                continue
            new, error = requested_election(state, live, election_type, shutting_down=shutting_down)
            if new is not None:
                by_topic.setdefault(name, {})[p] = (state, new)
            elif error == ErrorCode.election_not_needed and all_partitions:
                continue
            message = None if error in (ErrorCode.none, ErrorCode.election_not_needed) else \
                election_failure_message(f"{name}-{p}", election_type)
            results[(name, p)] = (error, message)
        return results, by_topic

    async def create_topic(self, spec: NewTopic, *, validate_only: bool = False) -> TopicInfo:
        """Raises KafkaError with Kafka's CreateTopics error codes."""
        if (reason := topic_name_error(spec.name)) is not None:
            raise KafkaError(ErrorCode.invalid_topic_exception, reason)
        if spec.name in self.cache.topics:
            raise KafkaError(ErrorCode.topic_already_exists, f"Topic '{spec.name}' already exists.")
        self._validate_configs(spec.configs)
        brokers = sorted(self.cache.brokers)
        if spec.assignments:
            if spec.num_partitions != -1 or spec.replication_factor != -1:
                raise KafkaError(
                    ErrorCode.invalid_request,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                )
            assignment = {p: tuple(r) for p, r in spec.assignments.items()}
            if sorted(assignment) != list(range(len(assignment))):
                raise KafkaError(ErrorCode.invalid_replica_assignment, "Partitions should be a consecutive 0-based integer sequence")
            for replicas in assignment.values():
                if not replicas or len(set(replicas)) != len(replicas) or any(b not in self.cache.brokers for b in replicas):
                    raise KafkaError(ErrorCode.invalid_replica_assignment, f"Invalid replica assignment {list(replicas)}")
        else:
            partitions = self.default_partitions if spec.num_partitions == -1 else spec.num_partitions
            rf = self.default_replication_factor if spec.replication_factor == -1 else spec.replication_factor
            if partitions <= 0:
                raise KafkaError(ErrorCode.invalid_partitions, "Number of partitions must be larger than 0.")
            if rf <= 0:
                raise KafkaError(ErrorCode.invalid_replication_factor, "Replication factor must be larger than 0.")
            try:
                assignment = assign_replicas(brokers, partitions, rf)
            except AssignmentError as exc:
                raise KafkaError(ErrorCode.invalid_replication_factor, str(exc)) from exc
        topic = TopicInfo(
            name=spec.name,
            topic_id=uuid.uuid4(),
            partitions={p: PartitionState(replicas=r, leader=r[0], leader_epoch=0, isr=r) for p, r in assignment.items()},
            configs=dict(spec.configs),
        )
        if validate_only:
            return topic
        try:
            await self.store.create_topic(topic)
        except TopicExistsError as exc:
            # Another broker created it first: refresh, so the caller finds it in the cache.
            await self._on_change()
            raise KafkaError(ErrorCode.topic_already_exists, str(exc)) from exc
        log.info("created topic %s with %d partitions", spec.name, len(topic.partitions))
        await self._on_change()
        return topic

    async def delete_topic(self, name: str) -> None:
        if name not in self.cache.topics:
            raise KafkaError(ErrorCode.unknown_topic_or_partition)
        await self.store.delete_topic(name)
        log.info("deleted topic %s", name)
        await self._on_change()

    async def create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool = False
    ) -> None:
        """Add partitions. Any broker may: the store only creates the new partitions, and
        only while the topic still has the partitions this decision counted, so it never
        rewrites a state the controller or a leader owns. If another broker added some
        meanwhile, the request is judged again on a fresh view (Kafka then answers
        INVALID_PARTITIONS: the topic already has them)."""
        try:
            await self._create_partitions(name, count, assignments, validate_only=validate_only)
        except StateConflictError:
            await self._on_change()
            await self._create_partitions(name, count, assignments, validate_only=validate_only)

    async def _create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool
    ) -> None:
        topic = self.cache.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.unknown_topic_or_partition)
        current = len(topic.partitions)
        if count < current:
            raise KafkaError(ErrorCode.invalid_partitions, f"Topic currently has {current} partitions, which is higher than the requested {count}.")
        if count == current:
            raise KafkaError(ErrorCode.invalid_partitions, f"Topic already has {current} partitions.")
        rf = len(topic.partitions[0].replicas)
        if assignments:
            if len(assignments) != count - current:
                raise KafkaError(ErrorCode.invalid_replica_assignment, "Increasing the number of partitions needs an assignment for each new partition")
            new = {current + i: tuple(r) for i, r in enumerate(assignments)}
            if any(b not in self.cache.brokers for r in new.values() for b in r):
                raise KafkaError(ErrorCode.invalid_replica_assignment, "Unknown broker in replica assignment")
        else:
            try:
                new = assign_replicas(sorted(self.cache.brokers), count - current, rf, first_partition=current)
            except AssignmentError as exc:
                raise KafkaError(ErrorCode.invalid_replication_factor, str(exc)) from exc
        if validate_only:
            return
        try:
            await self.store.add_partitions(
                name, current, {p: PartitionState(replicas=r, leader=r[0], isr=r) for p, r in new.items()})
        except KeyError:
            raise KafkaError(ErrorCode.unknown_topic_or_partition) from None
        await self._on_change()

    async def set_topic_configs(self, name: str, configs: dict[str, str], *, validate_only: bool = False) -> None:
        if name not in self.cache.topics:
            raise KafkaError(ErrorCode.unknown_topic_or_partition)
        self._validate_configs(configs)
        if validate_only:
            return
        await self.store.set_topic_configs(name, configs)
        await self._on_change()

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Store one entity's dynamic broker configs (a broker id, or "<default>"); every
        broker applies them on its next refresh, this one at once."""
        await self.store.set_broker_configs(entity, configs)
        await self._on_change()
