"""The `snakafka` command: one module per command family (main: serve and the group of
commands; cluster: local-cluster; groups; console: console-producer / console-consumer),
options shared by them in options.py."""

from snakafka.cli.main import main

__all__ = ["main"]
