"""A local cluster whose every inter-broker link and ZooKeeper connection runs through a
proxy that can black-hole it (proxy.py), for network-partition tests.

Only Kafka's own configs do the wiring. Broker j has
- one CLIENT listener, which clients use directly (never proxied: an isolated leader
  stays reachable by producers, the Jepsen 2013 set-up);
- one listener INTERNAL_i per broker i, advertised as the port of the proxy of the link
  i -> j; broker i sets inter.broker.listener.name=INTERNAL_i, so every connection it
  opens to j (replica fetches, controlled shutdown, transaction markers) crosses that
  link and no other. Any broker can thus be cut off from any subset of its peers.
- zookeeper.connect pointing at its own proxy to the ZooKeeper server, so a broker can be
  cut off from ZooKeeper alone; its session then expires on the server after
  zookeeper.session.timeout.ms while the broker itself only sees silence.

`cut(a, b)` black-holes both links between two brokers, `isolate(b)` every link of a
broker (to peers and/or ZooKeeper), `heal()` everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from snakafka.cluster.store.zk_data import split_chroot
from snakafka.testing.cluster import LocalCluster
from snakafka.testing.process import free_ports
from snakafka.testing.proxy import Link, ProxyHub

log = logging.getLogger(__name__)


def internal_listener(broker_id: int) -> str:
    """The listener name broker `broker_id` uses to reach every other broker."""
    return f"INTERNAL_{broker_id}"


def listener_overrides(broker_id: int, brokers: int, client_port: int, internal_ports: dict[int, int],
                       advertised_ports: dict[int, int]) -> dict[str, str]:
    """Broker `broker_id`'s listener configs: CLIENT on `client_port`, INTERNAL_i bound to
    internal_ports[i] and advertised as advertised_ports[i] (the i -> broker_id proxy)."""
    names = ["CLIENT", *(internal_listener(i) for i in range(brokers))]
    listeners = [f"CLIENT://127.0.0.1:{client_port}",
                 *(f"{internal_listener(i)}://127.0.0.1:{internal_ports[i]}" for i in range(brokers))]
    advertised = [f"CLIENT://127.0.0.1:{client_port}",
                  *(f"{internal_listener(i)}://127.0.0.1:{advertised_ports[i]}" for i in range(brokers))]
    return {
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(f"{n}:PLAINTEXT" for n in names),
        "inter.broker.listener.name": internal_listener(broker_id),
    }


@dataclass
class PartitionableCluster:
    """`brokers` broker processes (a LocalCluster, ports[j] being broker j's CLIENT port)
    on the ZooKeeper at `zookeeper_host`:`zookeeper_port` under `chroot`, with a proxy on
    each link. links[(i, j)] carries broker i's connections to broker j;
    zookeeper_links[j] broker j's ZooKeeper session."""

    data_dir: Path
    zookeeper_host: str
    zookeeper_port: int
    chroot: str
    brokers: int = 3
    overrides: dict[str, str] = field(default_factory=dict)
    launcher: list[str] | None = None  # LocalCluster.launcher: another entry point than `python -m snakafka`
    env: dict[str, str] = field(default_factory=dict)
    hub: ProxyHub | None = None
    links: dict[tuple[int, int], Link] = field(default_factory=dict)
    zookeeper_links: dict[int, Link] = field(default_factory=dict)
    cluster: LocalCluster | None = None

    @classmethod
    def on(cls, zookeeper_connect: str, data_dir: Path, chroot: str, brokers: int = 3,
           overrides: dict[str, str] | None = None, launcher: list[str] | None = None,
           env: dict[str, str] | None = None) -> PartitionableCluster:
        """On the (first) ZooKeeper server of a `host:port[,...]` connect string."""
        hosts, _ = split_chroot(zookeeper_connect)
        host, port = hosts.split(",")[0].rsplit(":", 1)
        return cls(data_dir, host, int(port), chroot, brokers, dict(overrides or {}), launcher, dict(env or {}))

    def start(self, timeout: float = 60.0) -> Self:
        self.hub = ProxyHub()
        try:
            n = self.brokers
            ports = free_ports(n + n * n)  # distinct: a broker's listeners need a port each
            client_ports = ports[:n]
            internal = {(i, j): ports[n + i * n + j] for i in range(n) for j in range(n)}  # INTERNAL_i on broker j
            for i in range(n):
                for j in range(n):
                    if i != j:
                        self.links[(i, j)] = self.hub.link(f"{i}->{j}", "127.0.0.1", internal[(i, j)])
            per_broker: dict[int, dict[str, str]] = {}
            for j in range(n):
                zk = self.hub.link(f"{j}->zookeeper", self.zookeeper_host, self.zookeeper_port)
                self.zookeeper_links[j] = zk
                advertised = {i: (internal[(i, j)] if i == j else self.links[(i, j)].port) for i in range(n)}
                per_broker[j] = {
                    **listener_overrides(j, n, client_ports[j], {i: internal[(i, j)] for i in range(n)}, advertised),
                    "zookeeper.connect": f"127.0.0.1:{zk.port}{self.chroot}",
                }
            self.cluster = LocalCluster(
                self.data_dir, brokers=n, ports=client_ports,
                zookeeper_connect=f"{self.zookeeper_host}:{self.zookeeper_port}{self.chroot}",
                overrides=dict(self.overrides), broker_overrides=per_broker, launcher=self.launcher, env=self.env)
            self.cluster.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def local(self) -> LocalCluster:
        assert self.cluster is not None, "start() first"
        return self.cluster

    @property
    def bootstrap(self) -> str:
        return self.local.bootstrap

    # -- faults ------------------------------------------------------------------------

    def cut(self, a: int, b: int) -> None:
        """Black-hole both links between brokers a and b."""
        log.info("partition: cutting broker %d from broker %d", a, b)
        self.links[(a, b)].block()
        self.links[(b, a)].block()

    def cut_zookeeper(self, broker: int) -> None:
        log.info("partition: cutting broker %d from zookeeper", broker)
        self.zookeeper_links[broker].block()

    def isolate(self, broker: int, *, peers: bool = True, zookeeper: bool = True) -> None:
        """Cut `broker` off from every other broker and/or ZooKeeper; its CLIENT listener
        stays reachable."""
        if peers:
            for other in range(self.brokers):
                if other != broker:
                    self.cut(broker, other)
        if zookeeper:
            self.cut_zookeeper(broker)

    def heal(self) -> None:
        """Every link flows again."""
        log.info("partition: healing every link")
        for link in [*self.links.values(), *self.zookeeper_links.values()]:
            link.heal()

    def stop(self) -> None:
        try:
            if self.cluster is not None:
                self.heal()  # a clean stop needs the controller and ZooKeeper
                self.cluster.stop()
        finally:
            if self.hub is not None:
                self.hub.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
