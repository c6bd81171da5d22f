"""The `snakafka` command: serve a broker (more verbs join as features land)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from snakafka.config import BrokerConfig, ConfigError


def _parse_overrides(values: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--override")
        result[key.strip()] = value
    return result


@click.group()
@click.version_option(package_name="snakafka")
def main() -> None:
    """snakafka: a Kafka-compatible broker in Python."""


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE", help="Set a config key (repeatable).")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def serve(config_file: Path | None, overrides: tuple[str, ...], log_level: str) -> None:
    """Run a broker (default: 127.0.0.1:9092, data in ./snakafka-data)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = BrokerConfig.load(config_file, _parse_overrides(overrides))
    except ConfigError as exc:
        click.echo(f"snakafka: {exc}", err=True)
        sys.exit(2)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(config))


async def _serve(config: BrokerConfig) -> None:
    from snakafka.server.broker import Broker

    broker = Broker(config)
    try:
        await broker.start()
    except OSError as exc:
        click.echo(f"snakafka: cannot start: {exc}", err=True)
        sys.exit(1)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(broker.stop()))
    await broker.wait_closed()


if __name__ == "__main__":
    main()
