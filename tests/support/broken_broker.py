"""A deliberately broken broker, for proving that a fault test catches the bug it targets.

`python -m support.broken_broker --break NAME serve ...` (with tests/ on PYTHONPATH)
monkeypatches one rule of the broker, then runs the ordinary CLI. Production code has no
switch for any of this: each break replaces a function of the real code with a wrong
one, here, and each is the kind of mistake that has cost real systems acknowledged data.
The fault tests run every scenario against the real build (no violation allowed) and
against the break it targets (the invariant checker must report a violation).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("snakafka.broken")


def acks_early() -> None:
    """acks=all answers as soon as the leader has appended, before the ISR has the records."""
    from snakafka.protocol.errors import ErrorCode
    from snakafka.replication import delayed
    from snakafka.replication.partition import Partition

    def acks_status(part: Partition | None, required_offset: int) -> ErrorCode | None:
        if part is None or not part.is_leader:
            return ErrorCode.not_leader_or_follower
        return ErrorCode.none

    delayed.acks_status = acks_status


def min_isr_ignored() -> None:
    """acks=all is accepted and answered however small the ISR (min.insync.replicas ignored)."""
    from snakafka.protocol.errors import ErrorCode
    from snakafka.replication import delayed
    from snakafka.replication.partition import Partition

    append = Partition.append_as_leader

    def append_as_leader(self: Partition, data: bytes, required_acks: int, *, allow_control: bool = False) -> Any:
        return append(self, data, 1 if required_acks == -1 else required_acks, allow_control=allow_control)

    status = delayed.acks_status

    def lenient_acks_status(part: Partition | None, required_offset: int) -> ErrorCode | None:
        error = status(part, required_offset)
        return ErrorCode.none if error == ErrorCode.not_enough_replicas_after_append else error

    Partition.append_as_leader = append_as_leader  # type: ignore[method-assign]
    delayed.acks_status = lenient_acks_status


def follower_forgets_producers() -> None:
    """A follower appends the leader's batches without recording their producers'
    sequences, so as a new leader it cannot recognise a retry of a batch it already has."""
    from snakafka.log.partition_log import PartitionLog

    append = PartitionLog.append_as_follower

    def append_as_follower(self: PartitionLog, data: Any) -> Any:
        info = append(self, data)
        self.producer_state.producers.clear()
        return info

    PartitionLog.append_as_follower = append_as_follower  # type: ignore[method-assign]


def no_truncation() -> None:
    """A follower told that its log diverges from the leader's keeps its log as it is."""
    from snakafka.replication import fetcher
    from snakafka.replication.isr import Truncation

    def keep(leader_epoch: int, leader_end_offset: int, local_epoch_end: tuple[int, int], log_end_offset: int,
             high_watermark: int) -> Truncation:
        return Truncation(log_end_offset, True)

    fetcher.truncation_after_divergence = keep  # type: ignore[assignment]


def isr_no_catchup() -> None:
    """A follower joins the ISR at its first fetch, caught up or not."""
    from snakafka.replication import partition
    from snakafka.replication.isr import UNKNOWN_OFFSET, FollowerState

    def may_join(follower: FollowerState, high_watermark: int, leader_epoch_start_offset: int) -> bool:
        return follower.log_end_offset != UNKNOWN_OFFSET

    partition.may_join_isr = may_join


def unclean_election() -> None:
    """The controller elects any live replica when no ISR member is alive (as if
    unclean.leader.election.enable were set)."""
    from snakafka.cluster import election

    clean = election.elect_leader

    def elect(state: Any, live: Any, *, unclean: bool = False) -> int | None:
        return clean(state, live, unclean=True)

    election.elect_leader = elect


def stale_leader() -> None:
    """A leader ignores newer partition state that hands its leadership to another broker
    (a newer leader epoch): it goes on leading in its old epoch."""
    from snakafka.replication.partition import Partition

    update = Partition.update_state

    def update_state(self: Partition, state: Any, now_ms: int = 0) -> None:
        if self.is_leader and state.leader != self.broker_id and state.leader_epoch > self.state.leader_epoch:
            log.warning("BROKEN BUILD: %s-%d keeps leading in epoch %d, ignoring epoch %d", self.topic,
                        self.partition, self.state.leader_epoch, state.leader_epoch)
            return
        update(self, state, now_ms)

    Partition.update_state = update_state  # type: ignore[method-assign]


def zombie_controller() -> None:
    """A controller cut off from ZooKeeper goes on acting as controller when it comes back,
    on the view it had before the cut: it never resigns, never re-reads partition states,
    and writes them unfenced (no /controller_epoch check, no version check), as snakafka
    did before its writes were fenced."""
    from kazoo.client import KazooState  # type: ignore[import-untyped]

    from snakafka.cluster.controller_role import ControllerRole
    from snakafka.cluster.store.zk_data import state_json, state_path
    from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore

    listener = ZooKeeperMetadataStore._session_state_changed

    def session_state_changed(self: Any, state: str) -> None:
        if state != KazooState.CONNECTED:
            self.zombie_cut = True
        listener(self, state)

    async def update_partition_states(self: Any, topic: str, changes: dict[int, Any], controller: Any) -> None:
        def write() -> None:
            for p, (_, new) in changes.items():
                self.client.set(state_path(topic, p), state_json(new, controller.epoch))
        await self._call(write)

    def resign(self: Any, reason: str) -> None:
        log.warning("BROKEN BUILD: broker %d does not resign as controller (%s)", self.broker_id, reason)

    on_metadata = ControllerRole.on_metadata
    write_topic = ControllerRole._write_topic

    async def zombie_on_metadata(self: Any) -> bool:
        if self.lease is not None and getattr(self.store, "zombie_cut", False):
            if getattr(self, "frozen", None) is None:
                self.frozen = dict(getattr(self, "last_view", {}))
                log.warning("BROKEN BUILD: broker %d acting as controller on its view from before the cut",
                            self.broker_id)
            self.cache.topics = dict(self.frozen)
            self.cache.controller_id = self.broker_id
            result: bool = await self._update_leadership()
            return result
        result = await on_metadata(self)
        if self.lease is not None:
            self.last_view = dict(self.cache.topics)
        return result

    async def zombie_write_topic(self: Any, reason: str, name: str, changes: dict[int, Any]) -> bool | None:
        written: bool | None = await write_topic(self, reason, name, changes)
        frozen = getattr(self, "frozen", None)
        if written and frozen is not None and name in frozen:  # its own writes are all it learns
            new = {p: state for p, (_, state) in changes.items()}
            frozen[name] = dataclasses.replace(frozen[name], partitions={**frozen[name].partitions, **new})
        return written

    ZooKeeperMetadataStore._session_state_changed = session_state_changed  # type: ignore[method-assign]
    ZooKeeperMetadataStore.update_partition_states = update_partition_states  # type: ignore[method-assign]
    ControllerRole.resign = resign  # type: ignore[method-assign]
    ControllerRole.on_metadata = zombie_on_metadata  # type: ignore[method-assign]
    ControllerRole._write_topic = zombie_write_topic  # type: ignore[method-assign]


BREAKS: dict[str, Callable[[], None]] = {
    "acks-early": acks_early,
    "min-isr-ignored": min_isr_ignored,
    "no-truncation": no_truncation,
    "isr-no-catchup": isr_no_catchup,
    "unclean-election": unclean_election,
    "follower-forgets-producers": follower_forgets_producers,
    "stale-leader": stale_leader,
    "zombie-controller": zombie_controller,
}


def launcher(names: str) -> list[str]:
    """The command prefix (in place of `python -m snakafka`) of a broker broken by `names`
    (comma-separated)."""
    for name in names.split(","):
        if name not in BREAKS:
            raise KeyError(name)
    return [sys.executable, "-m", "support.broken_broker", "--break", names]


def main(argv: list[str]) -> None:
    names = argv[1].split(",") if len(argv) >= 2 and argv[0] == "--break" else []
    if not names or any(name not in BREAKS for name in names):
        sys.exit(f"usage: python -m support.broken_broker --break NAME[,NAME...] serve ...  (names: {', '.join(BREAKS)})")
    for name in names:
        BREAKS[name]()
        log.warning("BROKEN BUILD: %s", name)
    from snakafka.cli import main as cli

    cli.main(args=argv[2:], prog_name="snakafka")


if __name__ == "__main__":
    main(sys.argv[1:])
