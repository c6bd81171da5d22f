"""ZooKeeper watches over the cluster metadata, reduced to one signal: "something changed".

Kafka's controller watches /brokers/ids, /brokers/topics and the config change queue;
snakafka watches the same znodes, plus each topic's partitions and their state, and calls
one function for any of them. kazoo re-arms the watches after every event and after a new
session; each watch function is also called once at registration, which is not a change
and is skipped. Everything here runs on kazoo's threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.protocol.states import ZnodeStat  # type: ignore[import-untyped]
from kazoo.recipe.watchers import ChildrenWatch, DataWatch  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import (
    BROKER_IDS_PATH,
    CONFIG_CHANGES_PATH,
    CONTROLLER_PATH,
    TOPICS_PATH,
    state_path,
)


class ClusterWatches:
    """The watches of one ZooKeeper session's view of the cluster; `notify` is called
    (from kazoo's threads) after each change."""

    def __init__(self, client: KazooClient, notify: Callable[[], None]) -> None:
        self._client = client
        self._notify = notify
        self._lock = threading.Lock()
        self._watched_topics: set[str] = set()
        self._watched_partitions: dict[str, set[int]] = {}
        self._partition_watches: dict[str, ChildrenWatch] = {}

    def arm(self) -> None:
        """Arm the watches: /controller, children of /brokers/ids, /brokers/topics and /config/changes,
        and per topic its znode, its partitions and each partition's state. kazoo re-arms
        them after every event and after a new session; each calls its function once at
        registration, which is not a change and is skipped."""
        client = self._client
        ChildrenWatch(client, BROKER_IDS_PATH, _skip_first(lambda _children: self._notify()))
        ChildrenWatch(client, CONFIG_CHANGES_PATH, _skip_first(lambda _children: self._notify()))
        controller_first = [True]

        def controller_changed(_data: bytes | None, _stat: ZnodeStat | None, _event: Any = None) -> None:
            # Created, changed or deleted (the controller's session ended): every broker
            # refreshes its view, and tries to take the role when nobody holds it.
            if controller_first[0]:
                controller_first[0] = False
                return
            self._notify()

        DataWatch(client, CONTROLLER_PATH, controller_changed)
        first = [True]

        def topics_changed(children: list[str]) -> None:
            for name in children:
                self._watch_topic(name)
            if first[0]:
                first[0] = False
            else:
                self._notify()

        ChildrenWatch(client, TOPICS_PATH, topics_changed)

    def _watch_topic(self, name: str) -> None:
        with self._lock:
            if name in self._watched_topics:
                return
            self._watched_topics.add(name)
        client = self._client
        first = [True]

        def topic_changed(data: bytes | None, _stat: ZnodeStat | None, _event: Any = None) -> bool | None:
            if data is None:  # deleted: stop; a re-created topic is watched anew
                with self._lock:
                    self._watched_topics.discard(name)
                    self._watched_partitions.pop(name, None)
                    self._partition_watches.pop(name, None)
                if not first[0]:
                    self._notify()
                return False
            self._watch_partitions(name)
            if first[0]:
                first[0] = False
            else:
                self._notify()
            return None

        DataWatch(client, f"{TOPICS_PATH}/{name}", topic_changed)

    def _watch_partitions(self, name: str) -> None:
        """Watch /brokers/topics/<name>/partitions (which may appear after the topic znode
        in a Kafka-written cluster) for new partitions, each with a state watch."""
        client = self._client
        with self._lock:
            current = self._partition_watches.get(name)
            if current is not None and not current._stopped:
                return
            known = self._watched_partitions.setdefault(name, set())

        def partitions_changed(children: list[str]) -> None:
            for child in children:
                if not child.isdigit():
                    continue
                partition = int(child)
                with self._lock:
                    if partition in known:
                        continue
                    known.add(partition)
                DataWatch(client, state_path(name, partition), self._state_watcher(name, partition, known))

        watch = ChildrenWatch(client, f"{TOPICS_PATH}/{name}/partitions", partitions_changed)
        with self._lock:
            self._partition_watches[name] = watch

    def _state_watcher(self, name: str, partition: int,
                       known: set[int]) -> Callable[[bytes | None, ZnodeStat | None, Any], bool | None]:
        first = [True]

        def state_changed(data: bytes | None, stat: ZnodeStat | None, _event: Any = None) -> bool | None:
            was_first, first[0] = first[0], False
            if data is None and stat is None and not was_first:
                with self._lock:
                    known.discard(partition)
                self._notify()
                return False  # the partition (or its topic) is gone
            if not was_first:
                self._notify()
            return None

        return state_changed


def _skip_first(func: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """A ChildrenWatch function that ignores the call made at registration."""
    first = [True]

    def wrapper(children: list[str]) -> None:
        if first[0]:
            first[0] = False
            return
        func(children)

    return wrapper
