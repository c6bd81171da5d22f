"""ZooKeeper as an ensemble (3 servers of Debian's zookeeper package, leader-follower), as
Kafka's ZooKeeper mode runs in production:

- the zoo.cfg each server gets (a pure function of the ensemble's ports), the ensemble
  size rule (odd: a quorum is a majority) and the four-letter-word answers we parse;
- the metadata store: a request on the wire when its server dies (ConnectionLoss) is sent
  again once the session has moved to another server, and a topic creation run twice
  finds its own topic;
- 3 brokers on 3 ZooKeeper servers with a replicated topic (RF 3, min.insync.replicas=2):
  kill -9 of the quorum leader changes nothing the cluster can see (acks=all produce and
  consume go on, every broker's session moves to a surviving server and keeps its
  ephemeral registration, the controller stays); with that server still down, kill -9 of
  the controller broker elects another controller and moves partition leadership (two
  servers of three are a quorum); the killed server restarts, rejoins as a follower and
  serves the cluster's current znodes;
- `snakafka local-cluster --zookeepers 3` starts the ensemble, gives its brokers all three
  servers, prints every process with its PID and stops them all on SIGTERM; an even
  --zookeepers is refused in one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Self

import psutil
import pytest
from click.testing import CliRunner
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from hypothesis import given
from hypothesis import strategies as st
from integration.helpers import wait_until
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from support.zookeeper import ZooKeeperEnsemble, zookeeper_available

from cluster.conftest import ZkChroot
from cluster.test_cluster_brokers import (
    consume_all,
    delivery_recorder,
    produce,
    read_znode,
)
from cluster.test_local_cluster_cli import clean_up, gone, read_status, two_free_ports
from cluster.test_replication import create_replicated, metadata, survivors, wait_isr
from snakafka.cli import main
from snakafka.cluster.model import BrokerInfo, Endpoint, PartitionState, TopicInfo
from snakafka.cluster.store.base import TopicExistsError
from snakafka.cluster.store.zk_data import split_chroot
from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore
from snakafka.testing.cluster import LocalCluster
from snakafka.testing.zookeeper import (
    QuorumServer,
    ZooKeeperServer,
    check_ensemble_size,
    four_letter_word,
    parse_cons_sessions,
    parse_mode,
    quorum_servers,
    zoo_cfg,
)

pytestmark = pytest.mark.timeout(150)

TOPIC = "ensemble"


# -- configuration and parsing (no processes) ---------------------------------------------


def parse_cfg(text: str) -> dict[str, str]:
    """zoo.cfg as key -> value, failing on a repeated key (ZooKeeper would take the last)."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        assert sep and key not in result, line
        result[key] = value
    return result


def test_standalone_config_has_no_quorum() -> None:
    cfg = parse_cfg(zoo_cfg(Path("/d/data"), 2181))
    assert cfg["dataDir"] == "/d/data" and cfg["clientPort"] == "2181" and cfg["clientPortAddress"] == "127.0.0.1"
    assert "srvr" in cfg["4lw.commands.whitelist"].split(",")
    assert not any(k.startswith("server.") for k in cfg) and "initLimit" not in cfg


ensembles = st.integers(min_value=1, max_value=7).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 255), min_size=n, max_size=n, unique=True),
    st.lists(st.integers(1024, 65535), min_size=3 * n, max_size=3 * n, unique=True),
))


@given(ensembles, st.data())
def test_ensemble_config_lists_every_server(ensemble: tuple[list[int], list[int]], data: st.DataObject) -> None:
    ids, ports = ensemble
    n = len(ids)
    quorum = [QuorumServer(i, ports[k], ports[n + 2 * k], ports[n + 2 * k + 1]) for k, i in enumerate(ids)]
    me = data.draw(st.sampled_from(quorum))
    cfg = parse_cfg(zoo_cfg(Path("/x/data"), me.client_port, quorum))
    servers = {int(k.removeprefix("server.")): v for k, v in cfg.items() if k.startswith("server.")}
    assert servers == {s.server_id: f"127.0.0.1:{s.quorum_port}:{s.election_port}" for s in quorum}
    assert cfg["clientPort"] == str(me.client_port)
    tick = int(cfg["tickTime"])
    # A dead leader is noticed (syncLimit) well within a broker's shortest session (4 s here),
    # and sessions may be as long as Kafka's default 18 s.
    assert int(cfg["syncLimit"]) * tick <= 2000 and int(cfg["maxSessionTimeout"]) >= 18000
    assert int(cfg["initLimit"]) >= int(cfg["syncLimit"])


def test_ensemble_config_refuses_inconsistent_servers() -> None:
    a, b = QuorumServer(1, 2001, 2002, 2003), QuorumServer(2, 2004, 2005, 2006)
    with pytest.raises(ValueError, match="distinct"):
        zoo_cfg(Path("/d"), 2001, [a, QuorumServer(1, 2007, 2008, 2009)])
    with pytest.raises(ValueError, match="distinct"):
        zoo_cfg(Path("/d"), 2001, [a, QuorumServer(2, 2004, 2005, 2003)])
    with pytest.raises(ValueError, match="no member"):
        zoo_cfg(Path("/d"), 2010, [a, b])


@given(st.integers(-5, 20))
def test_ensemble_size_is_odd_and_positive(size: int) -> None:
    if size >= 1 and size % 2 == 1:
        check_ensemble_size(size)
    else:
        with pytest.raises(ValueError, match="odd number"):
            check_ensemble_size(size)


def test_quorum_servers_get_distinct_ports() -> None:
    free = quorum_servers(5)
    assert [s.server_id for s in free] == [1, 2, 3, 4, 5]
    assert len({p for s in free for p in (s.client_port, s.quorum_port, s.election_port)}) == 15
    given_ports = quorum_servers(3, first_client_port=21810)
    assert [s.client_port for s in given_ports] == [21810, 21811, 21812]
    assert len({p for s in given_ports for p in (s.client_port, s.quorum_port, s.election_port)}) == 9


# Answers of ZooKeeper 3.8.0 (Debian's package), captured.
SRVR = ("Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\nLatency min/avg/max: 4/13.0/23\n"
        "Received: 6\nSent: 5\nConnections: 2\nOutstanding: 0\nZxid: 0x100000007\nMode: follower\nNode count: 5\n")
CONS = (" /127.0.0.1:51180[1](queued=0,recved=1,sent=1,sid=0x100001db5160001,lop=SESS,est=1796182993545,to=10000,"
        "lcxid=0x0,lzxid=0x100000007,lresp=1947363,llat=6,minlat=0,avglat=6,maxlat=6)\n"
        " /127.0.0.1:51194[0](queued=0,recved=1,sent=0)\n\n")


def test_four_letter_answers_parse() -> None:
    assert parse_mode(SRVR) == "follower"
    assert parse_mode(SRVR.replace("follower", "leader")) == "leader"
    assert parse_mode("This ZooKeeper instance is not currently serving requests\n") is None
    assert parse_cons_sessions(CONS) == {0x100001DB5160001}
    assert parse_cons_sessions(" /127.0.0.1:51194[0](queued=0,recved=1,sent=0)\n") == set()


# -- the metadata store on an ensemble ----------------------------------------------------


def test_store_request_cut_off_by_its_server_dying_runs_again(zookeeper_ensemble: ZooKeeperEnsemble) -> None:
    """A request on the wire when the store's server dies fails with ConnectionLoss in
    kazoo; the store sends it again once its session is on another server (as Kafka's
    ZooKeeperClient does), and the session keeps its ephemeral broker registration."""
    async def scenario() -> None:
        store = ZooKeeperMetadataStore(f"{zookeeper_ensemble.connect}/store", session_timeout_ms=6000)
        await store.start()
        try:
            await store.register_broker(BrokerInfo(1, (Endpoint("PLAINTEXT", "127.0.0.1", 9092),)))
            session = store.client.client_id[0]
            server = next(s for s in zookeeper_ensemble.servers if session in s.sessions())
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)  # it takes the request, never answers
            topic = TopicInfo("cut-off", uuid.uuid4(), {0: PartitionState((1,), 1, isr=(1,))})
            create = asyncio.create_task(store.create_topic(topic))
            await asyncio.sleep(0.5)
            assert not create.done()
            server.kill()  # the connection drops with the request in flight
            await asyncio.wait_for(create, 15)
            assert (await store.topics())["cut-off"].topic_id == topic.topic_id
            assert [b.broker_id for b in await store.brokers()] == [1]
            assert store.client.client_id[0] == session  # the same session, on another server
            assert any(session in s.sessions() for s in zookeeper_ensemble.servers if s is not server)
        finally:
            await store.close()
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_create_topic_again_with_its_own_id_is_not_an_error(zk: ZkChroot) -> None:
    """Running a topic creation twice (again after its answer was lost) finds its own
    topic, not someone else's: only another topic id is TopicExistsError."""
    async def scenario() -> None:
        store = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=10000)
        await store.start()
        try:
            topic = TopicInfo("twice", uuid.uuid4(), {0: PartitionState((1,), 1, isr=(1,))})
            await store.create_topic(topic)
            await store.create_topic(topic)
            with pytest.raises(TopicExistsError):
                await store.create_topic(TopicInfo("twice", uuid.uuid4(), {0: PartitionState((1,), 1)}))
            assert (await store.topics())["twice"].topic_id == topic.topic_id
        finally:
            await store.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))


# -- a cluster on a 3-server ensemble -----------------------------------------------------


def znode_owner(cluster: LocalCluster, path: str) -> int:
    """The session that owns the ephemeral znode `path` (0: not ephemeral)."""
    assert cluster.zookeeper_connect is not None
    hosts, chroot = split_chroot(cluster.zookeeper_connect)
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=10.0)
    try:
        _, stat = client.get(f"{chroot}{path}")
        return int(stat.ephemeralOwner)
    finally:
        client.stop()
        client.close()


def read_through(server: ZooKeeperServer, path: str) -> tuple[bytes, list[str]]:
    """The data and children of `path`, read through `server` alone."""
    client = KazooClient(hosts=server.connect, timeout=10.0)
    client.start(timeout=10.0)
    try:
        data, _ = client.get(path)
        return bytes(data), sorted(client.get_children(path))
    finally:
        client.stop()
        client.close()


@pytest.mark.slow
def test_cluster_survives_zookeeper_leader_loss_then_controller_loss(ensemble_cluster: LocalCluster) -> None:
    cluster = ensemble_cluster
    ensemble = cluster.zookeeper
    assert ensemble is not None and len(ensemble.servers) == 3
    assert cluster.zookeeper_connect == ",".join(s.connect for s in ensemble.servers)
    assert sorted(s.mode() or "" for s in ensemble.servers) == ["follower", "follower", "leader"]
    create_replicated(cluster, TOPIC, 3)
    acked = produce(cluster.bootstrap, TOPIC, 200)
    controller = cluster.controller()
    epoch = int(read_znode(cluster, "/controller_epoch"))
    owners = {b: znode_owner(cluster, f"/brokers/ids/{b}") for b in range(3)}
    controller_owner = znode_owner(cluster, "/controller")
    assert controller_owner == owners[controller]

    # 1. kill -9 the ZooKeeper leader under an acks=all producer: the cluster does not
    # notice; a topic created meanwhile (its znodes written while the survivors elect a new
    # leader and the sessions move) comes out whole.
    with ProducerThread(cluster.bootstrap, TOPIC) as sender:
        wait_until(lambda: len(sender.acked) > 100, timeout=20, message="records acknowledged before the kill")
        zk_leader = ensemble.leader()
        zk_leader.kill()
        create_replicated(cluster, "created-during-election", 2)
        before = len(sender.acked)
        wait_until(lambda: len(sender.acked) > before + 200, timeout=20,
                   message="records acknowledged after the zookeeper leader died")
    acked.update(sender.acked)
    new_zk_leader = ensemble.leader(timeout=20)
    assert new_zk_leader is not zk_leader
    live_servers = [s for s in ensemble.servers if s is not zk_leader]

    def sessions_moved() -> bool:  # every broker's session is connected to a live server
        return set(owners.values()) <= set().union(*(s.sessions() for s in live_servers))
    wait_until(sessions_moved, timeout=15, interval=0.2, message="the brokers' sessions on the surviving servers")
    assert {b: znode_owner(cluster, f"/brokers/ids/{b}") for b in range(3)} == owners  # same sessions
    assert cluster.registered() == {0, 1, 2}
    assert znode_owner(cluster, "/controller") == controller_owner
    assert int(read_znode(cluster, "/controller_epoch")) == epoch  # no controller change
    acked.update(produce(cluster.bootstrap, TOPIC, 100, prefix="sessions-moved-"))
    assert consume_all(cluster.bootstrap, TOPIC, 3, len(acked)) == acked
    wait_isr(cluster.bootstrap, TOPIC, [0, 1, 2])

    # 2. With that server still down, kill -9 the controller broker: the two remaining
    # servers are a quorum, so its session expires, another broker takes over and the
    # partitions it led move to a live replica.
    led = {p for p, (leader, _) in metadata(cluster.bootstrap, TOPIC).items() if leader == controller}
    assert led, "the controller leads none of the partitions"
    cluster.processes[controller].kill()
    alive = survivors(cluster, {controller})

    def new_controller() -> bool:
        return cluster.controller() not in (controller, -1) and int(read_znode(cluster, "/controller_epoch")) > epoch
    wait_until(new_controller, timeout=20, interval=0.2, message="another broker to become controller")
    successor = cluster.controller()
    assert cluster.registered() == {0, 1, 2} - {controller}
    settled = wait_isr(alive, TOPIC, sorted({0, 1, 2} - {controller}))
    assert all(settled[p][0] != controller for p in led)
    state = json.loads(read_znode(cluster, f"/brokers/topics/{TOPIC}/partitions/{min(led)}/state"))
    assert state["leader"] != controller and state["controller_epoch"] > epoch
    acked.update(produce(alive, TOPIC, 200, prefix="controller-down-"))  # acks=all, ISR of 2

    # 3. The killed ZooKeeper server comes back as a follower with the current znodes.
    zk_leader.start(timeout=30)
    assert zk_leader.mode() == "follower"
    assert new_zk_leader.mode() == "leader"
    assert read_through(zk_leader, "/brokers/ids")[1] == sorted(str(b) for b in {0, 1, 2} - {controller})
    assert json.loads(read_through(zk_leader, "/controller")[0])["brokerid"] == successor
    assert consume_all(alive, TOPIC, 3, len(acked)) == acked


class ProducerThread:
    """acks=all records to `topic` from a thread until the `with` block ends; `acked` is
    (partition, offset) -> value of every acknowledged one; leaving the block fails on
    any delivery error."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.acked: dict[tuple[int, int], bytes] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"produce-{topic}", daemon=True)

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5,
                             "message.timeout.ms": 30000})
        delivered = delivery_recorder(self.acked, self.errors)
        i = 0
        while not self._stop.is_set():
            producer.produce(self.topic, key=f"bg-{i}".encode(), value=f"bg-value-{i}".encode(), on_delivery=delivered)
            producer.poll(0)
            i += 1
            time.sleep(0.002)
        if producer.flush(40) != 0:
            self.errors.append("records left unacknowledged")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive() and not self.errors, self.errors[:5]


# -- the command ---------------------------------------------------------------------------


def test_local_cluster_refuses_an_even_ensemble_in_one_line() -> None:
    result = CliRunner().invoke(main, ["local-cluster", "--zookeepers", "2"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        ("snakafka: --zookeepers: a ZooKeeper ensemble needs an odd number of servers >= 1 "
         "(3, 5, 7: a quorum is a majority), got 2")]


@pytest.mark.slow
@pytest.mark.skipif(not zookeeper_available(), reason="ZooKeeper (Debian's zookeeper package) is not installed")
def test_local_cluster_with_three_zookeepers(tmp_path: Path) -> None:
    port = two_free_ports()
    with open(tmp_path / "stderr.log", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakafka", "local-cluster", "--brokers", "2", "--port", str(port),
             "--zookeepers", "3", "--zookeeper-port", "0", "--data-dir", str(tmp_path / "data")],
            stdout=subprocess.PIPE, stderr=err, start_new_session=True,
        )
    pids: dict[str, int] = {}
    try:
        lines = read_status(proc, 60)
        zk_ports: list[int] = []
        for line in lines[:-1]:
            words = line.split()
            if words[0] == "zookeeper":  # zookeeper <myid> 127.0.0.1:<port> pid <pid> (data in ...)
                assert words[3] == "pid", line
                pids[f"zookeeper {words[1]}"] = int(words[4])
                zk_ports.append(int(words[2].rpartition(":")[2]))
            else:  # broker <id> 127.0.0.1:<port> pid <pid> (log ...)
                assert words[0] == "broker" and words[3] == "pid", line
                pids[f"broker {words[1]}"] = int(words[4])
        assert set(pids) == {"zookeeper 1", "zookeeper 2", "zookeeper 3", "broker 0", "broker 1"}
        assert sorted(parse_mode(four_letter_word(p, "srvr")) or "" for p in zk_ports) == [
            "follower", "follower", "leader"]
        connect = ",".join(f"127.0.0.1:{p}" for p in zk_ports)
        for broker in ("broker 0", "broker 1"):  # each broker may move to any of the three
            assert f"zookeeper.connect={connect}" in psutil.Process(pids[broker]).cmdline()
        bootstrap = lines[-1].removeprefix("bootstrap.servers=")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        wait_until(lambda: sorted(admin.list_topics(timeout=5).brokers) == [0, 1], timeout=20,
                   message="both brokers in the metadata")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        wait_until(lambda: all(gone(pid) for pid in pids.values()), timeout=10, message="every started process gone")
    finally:
        clean_up(proc, pids)
