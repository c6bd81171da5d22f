"""The `snakafka` command (also `python -m snakafka`).

Thin on purpose: parse arguments, load BrokerConfig, set up logging and the event loop,
run the broker until SIGINT / SIGTERM. A bad config ends with its one-line message and
exit status 2 (click's usage-error status), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import click

from snakafka.cli.options import (
    CONFIG_ERROR_EXIT,
    START_ERROR_EXIT,
    buffer_logging,
    parse_overrides,
    use_log_format,
)
from snakafka.config.broker import BrokerConfig, ConfigError

log = logging.getLogger("snakafka.cli")

def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (faster sockets), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@click.group()
@click.version_option(package_name="snakafka")
def main() -> None:
    """snakafka: Apache Kafka's broker, rebuilt in Python."""


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Set a config key, over the file's value (repeatable).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(config_file: Path | None, overrides: tuple[str, ...], log_level: str) -> None:
    """Run a broker: CONFIG_FILE is a Kafka server.properties file (optional).

    Defaults: listens on 127.0.0.1:9092, data in ./snakafka-data.
    """
    buffer = buffer_logging(log_level)
    try:
        config = BrokerConfig.load(config_file, parse_overrides(overrides))
        config.require_broker_id()
    except ConfigError as exc:
        use_log_format(buffer, "text")
        click.echo(f"snakafka: {exc}", err=True)
        raise SystemExit(CONFIG_ERROR_EXIT) from None
    use_log_format(buffer, config.logging_format, config.broker_id)
    config.log_all()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        status = runner.run(_serve(config))
    if status:
        raise SystemExit(status)


async def _serve(config: BrokerConfig) -> int:
    """Start the broker, wait for a signal or for the broker to close, stop it cleanly
    (stop() writes the clean-shutdown marker). Returns the exit status."""
    from snakafka.cluster.store.zk_brokers import BrokerIdInUseError
    from snakafka.cluster.store.zookeeper import ZooKeeperUnreachableError
    from snakafka.server.broker import Broker  # the heavy layers load only when serving

    broker = Broker(config)
    try:
        await broker.start()
    except ConfigError as exc:  # a key store or JAAS config that does not load, checked before anything opens
        click.echo(f"snakafka: {exc}", err=True)
        return CONFIG_ERROR_EXIT
    except (OSError, BrokerIdInUseError, ZooKeeperUnreachableError) as exc:
        # e.g. the port is taken, the broker id is in use: one line, as for a config error
        # start() released what it had opened; without the clean-shutdown marker the
        # next start runs log recovery.
        click.echo(f"snakafka: cannot start the broker: {exc}", err=True)
        return START_ERROR_EXIT
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop_requested.is_set():
            log.warning("second %s: exiting without a clean shutdown", signal.Signals(signum).name)
            raise SystemExit(130)
        log.info("%s received, stopping", signal.Signals(signum).name)
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    closed = asyncio.create_task(broker.wait_closed(), name="broker-closed")
    stop = asyncio.create_task(stop_requested.wait(), name="stop-requested")
    try:
        await asyncio.wait({closed, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (closed, stop):
            task.cancel()
        await broker.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


from snakafka.cli.acls import acls
from snakafka.cli.cluster import local_cluster
from snakafka.cli.console import console_consumer, console_producer
from snakafka.cli.groups import groups
from snakafka.cli.users import users

main.add_command(acls)
main.add_command(groups)
main.add_command(local_cluster)
main.add_command(console_producer)
main.add_command(console_consumer)
main.add_command(users)

# Admin commands (kafka-topics.sh, kafka-configs.sh, kafka-leader-election.sh, ...)
from snakafka.cli.cluster_admin import cluster, log_dirs
from snakafka.cli.configs import configs
from snakafka.cli.partitions import delete_records, describe_producers, leader_election
from snakafka.cli.reassign import reassign_partitions
from snakafka.cli.topics import topics

for _command in (topics, configs, cluster, leader_election, delete_records, log_dirs, describe_producers,
                 reassign_partitions):
    main.add_command(_command)


if __name__ == "__main__":
    main()
