"""`snakafka local-cluster`: a ZooKeeper (or an ensemble of 3, 5, 7) and N brokers on this
machine, for trying cluster mode in one command.

Each broker is a `snakafka serve` child process with zookeeper.connect and broker.id set,
exactly what one would run by hand; the command prints one status line per process
(with its PID), then waits. Ctrl-C or SIGTERM stops every broker (cleanly, in parallel)
and then ZooKeeper, each by its PID. With --zookeepers N every broker's zookeeper.connect
lists all N servers, so the cluster keeps running while a majority of them is up.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from snakafka.cli.options import (
    CONFIG_ERROR_EXIT,
    LOG_FORMAT,
    START_ERROR_EXIT,
    parse_overrides,
)

if TYPE_CHECKING:
    from snakafka.testing.cluster import LocalCluster
    from snakafka.testing.secure import SecureSetup

log = logging.getLogger("snakafka.cli")


@click.command("local-cluster")
@click.option("--brokers", default=3, show_default=True, type=click.IntRange(1, 64), help="How many brokers.")
@click.option("--port", "first_port", default=9092, show_default=True, type=click.IntRange(1, 65535),
              help="Broker i listens on 127.0.0.1:PORT+i.")
@click.option("--zookeepers", default=1, show_default=True, type=int,
              help="How many ZooKeeper servers: 1, or an ensemble of 3, 5, 7 (odd: a quorum is a majority).")
@click.option("--zookeeper-port", default=2181, show_default=True, type=click.IntRange(0, 65535),
              help="ZooKeeper's client port on 127.0.0.1, server i's PORT+i-1 in an ensemble (0: free ones).")
@click.option("--data-dir", default=Path("snakafka-cluster"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="ZooKeeper's data and each broker's log dir and log file go here (kept between runs).")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A broker config key for every broker (repeatable).")
@click.option("--secure", is_flag=True,
              help="SASL_SSL only: make a CA, broker and client certificates, an admin user (SCRAM-SHA-512/256, "
                   "PLAIN) and the configs under DATA_DIR/security, and print the client settings.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def local_cluster(brokers: int, first_port: int, zookeepers: int, zookeeper_port: int, data_dir: Path,
                  overrides: tuple[str, ...], secure: bool, log_level: str) -> None:
    """Run a local cluster: ZOOKEEPERS ZooKeeper servers and BROKERS brokers (ids 0..n-1)."""
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    from snakafka.testing.cluster import LocalCluster
    from snakafka.testing.zookeeper import check_ensemble_size, missing_zookeeper

    try:
        check_ensemble_size(zookeepers)
    except ValueError as exc:
        click.echo(f"snakafka: --zookeepers: {exc}", err=True)
        raise SystemExit(CONFIG_ERROR_EXIT) from None
    if (missing := missing_zookeeper()) is not None:
        click.echo(f"snakafka: {missing}", err=True)
        raise SystemExit(START_ERROR_EXIT)
    data_dir = data_dir.resolve()
    security = None
    if secure:
        from snakafka.testing.secure import SecureSetup

        security = SecureSetup(data_dir / "security").create()
    cluster = LocalCluster(data_dir, brokers=brokers, zookeeper_port=zookeeper_port or None, zookeepers=zookeepers,
                           ports=[first_port + i for i in range(brokers)], overrides=parse_overrides(overrides),
                           security=security)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received, stopping the cluster", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cluster.start()
        except (OSError, RuntimeError, TimeoutError) as exc:  # start() stopped what it had started
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            click.echo(f"snakafka: cannot start the cluster: {first_line}", err=True)
            raise SystemExit(START_ERROR_EXIT) from None
        assert cluster.zookeeper is not None
        for server in cluster.zookeeper.servers:
            name = "zookeeper" if server.server_id is None else f"zookeeper {server.server_id}"
            click.echo(f"{name} {server.connect} pid {server.pid} (data in {server.directory})")
        for i, process in enumerate(cluster.processes):
            click.echo(f"broker {i} {process.bootstrap} pid {process.pid} (log {process.log_path})")
        click.echo(f"bootstrap.servers={cluster.bootstrap}")
        if security is not None:
            _print_client_settings(security)
        _watch(cluster, stop)
    finally:
        cluster.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("cluster stopped")


def _print_client_settings(security: SecureSetup) -> None:
    directory = security.directory
    click.echo(f"SASL_SSL, user {security.admin_user} password {security.admin_password}; certificates in {directory}")
    click.echo(f"Kafka clients (--command-config, --producer.config): {directory / 'client.properties'}")
    for key, value in security.client_properties().items():
        click.echo(f"  {key}={value}")
    click.echo(f"librdkafka (confluent-kafka; kcat -F {directory / 'librdkafka.config'}):")
    for key, value in security.librdkafka_config().items():
        click.echo(f"  {key}={value}")


def _watch(cluster: LocalCluster, stop: threading.Event) -> None:
    """Wait for a signal; report a broker or ZooKeeper server that exits on its own (it is
    not restarted)."""
    reported: set[int] = set()
    servers = cluster.zookeeper.servers if cluster.zookeeper is not None else []
    running = {server.pid for server in servers}
    while not stop.wait(0.5):
        for i, process in enumerate(cluster.processes):
            if i not in reported and process.proc is not None and process.proc.poll() is not None:
                reported.add(i)
                log.warning("broker %d (pid %d) exited with status %s; see %s", i, process.pid,
                            process.proc.returncode, process.log_path)
        for server in servers:
            if server.pid in running and not server.running:
                running.discard(server.pid)
                log.warning("zookeeper %s (pid %s) exited; see %s", server.server_id or "", server.pid,
                            server.log_path)
