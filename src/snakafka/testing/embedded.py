"""A snakafka broker inside the calling process, for test suites: the same `Broker` that
`snakafka serve` runs, on an asyncio event loop of its own in a daemon thread.

    with EmbeddedBroker() as broker:  # a free port on 127.0.0.1, data in a temporary dir
        producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})

It shares the GIL with the tests that drive it; `BrokerProcess` runs the broker in a
child process when a test needs isolation or kill -9. Several EmbeddedBrokers may run at
once, each with its own thread and loop. The loop is asyncio's own (not uvloop), and no
signal handlers are installed: those belong to the main thread and to `snakafka serve`.

Thread-safety: start() and stop() may be called from any thread (one at a time, under a
lock); only the broker's thread touches the broker. Import cost: this module imports the
config and broker modules only in start(), so importing snakafka.testing stays cheap.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

if TYPE_CHECKING:
    from snakafka.config.broker import BrokerConfig
    from snakafka.server.broker import Broker

T = TypeVar("T")

log = logging.getLogger(__name__)

# What tests want and Kafka's default does not give: a group's first rebalance at once,
# not after 3 s of waiting for more members. Callers' overrides win.
DEFAULT_OVERRIDES: Mapping[str, str] = {"group.initial.rebalance.delay.ms": "0"}
HOST = "127.0.0.1"

_thread_ids = itertools.count(1)


class EmbeddedBrokerError(RuntimeError):
    """The broker could not start (with its one-line reason) or failed while running."""


class EmbeddedBroker:
    """A broker on `HOST`, in a thread of this process.

    data_dir: where the logs live; None: a temporary directory, removed at stop.
    port: the listener's port; 0: a free one chosen by the OS when the socket is bound
      (it is then advertised in Metadata, and `port` / `bootstrap` report it).
    overrides: Kafka config keys, as `snakafka serve --override key=value` takes them,
      applied over `DEFAULT_OVERRIDES`; `listeners` or `log.dirs` / `log.dir` here win
      over port / data_dir.
    """

    def __init__(self, data_dir: Path | str | None = None, port: int = 0,
                 overrides: Mapping[str, str] | None = None) -> None:
        self.overrides: dict[str, str] = {**DEFAULT_OVERRIDES, **{k: str(v) for k, v in (overrides or {}).items()}}
        if data_dir is not None and ("log.dirs" in self.overrides or "log.dir" in self.overrides):
            raise ValueError("give either data_dir or a log.dirs / log.dir override, not both")
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._requested_port = port
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._data_dir: Path | None = None
        self._port: int | None = None
        self._metrics_port: int | None = None  # with a metrics.http.listener override
        self._failure: BaseException | None = None  # set by the broker's thread
        self._broker: Broker | None = None  # while serving

    # -- what tests read ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the broker is bound to (kept after stop, for a restart on it)."""
        if self._port is None:
            raise EmbeddedBrokerError("the embedded broker has not been started")
        return self._port

    @property
    def bootstrap(self) -> str:
        """`bootstrap.servers` for clients: "127.0.0.1:<port>"."""
        return f"{HOST}:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        """"http://127.0.0.1:<port>" of /metrics, /healthz and /readyz when the broker was
        given a `metrics.http.listener` override (port 0: a free one), else None."""
        return None if self._metrics_port is None else f"http://{HOST}:{self._metrics_port}"

    @property
    def data_dir(self) -> Path | None:
        """The (first) log directory: the given one, or the temporary one while it exists."""
        return self._given_data_dir or self._data_dir

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        where = self.bootstrap if self._port is not None else "not started"
        return f"EmbeddedBroker({where}, data_dir={self.data_dir})"

    def call(self, fn: Callable[[Broker], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `fn(broker)` on the broker's own loop and return its result: how a test
        drives broker internals that have no wire API of their own (the Broker object
        belongs to that loop's thread; only touch it from there)."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            raise EmbeddedBrokerError("the embedded broker is not serving")

        async def on_loop() -> T:
            return await fn(broker)

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Self:
        """Start the broker and return once it serves. A bad config raises its ConfigError
        (one line naming the key) before any thread starts; a failed start (port in use,
        a log dir of another broker) raises EmbeddedBrokerError with the broker's reason;
        no start within `timeout` seconds raises TimeoutError. Each leaves nothing running."""
        with self._lock:
            if self._thread is not None:
                raise EmbeddedBrokerError(f"the embedded broker is already started ({self!r})")
            self._failure = None
            try:
                config = self._config()
            except BaseException:
                self._remove_temp_dir()
                raise
            self._loop = loop = asyncio.new_event_loop()
            self._stop_event = stop_event = asyncio.Event()
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(loop, config, stop_event, ready),
                                            name=f"snakafka-embedded-{next(_thread_ids)}", daemon=True)
            self._thread.start()
            if not ready.wait(timeout):
                stopped = self._halt(timeout=10.0)
                raise TimeoutError(f"the embedded broker did not start within {timeout}s"
                                   + ("" if stopped else " (and its thread is still busy)"))
            failure = self._failure
            if failure is not None:
                self._halt(timeout=10.0)
                self._failure = None
                raise EmbeddedBrokerError(f"cannot start the broker: {failure}") from failure
            log.info("embedded broker serving on %s, data in %s", self.bootstrap, self.data_dir)
            return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly (the logs get their clean-shutdown marker) and join the thread; then
        remove the temporary data directory. Harmless when not running or already stopped.
        Raises TimeoutError if the thread does not end within `timeout` seconds (call again
        to keep waiting), EmbeddedBrokerError if the broker failed while running."""
        with self._lock:
            if not self._halt(timeout):
                raise TimeoutError(f"the embedded broker did not stop within {timeout}s")
            failure, self._failure = self._failure, None
            if failure is not None:
                raise EmbeddedBrokerError(f"the embedded broker failed: {failure}") from failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the caller's side ----------------------------------------------------------------

    def _config(self) -> BrokerConfig:
        """The broker's config, loaded and checked as `snakafka serve` does."""
        from snakafka.config.broker import BrokerConfig

        defaults = {"listeners": f"PLAINTEXT://{HOST}:{self._requested_port}"}
        if "log.dirs" not in self.overrides and "log.dir" not in self.overrides:
            if self._given_data_dir is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="snakafka-")
                self._data_dir = Path(self._temp_dir.name)
            else:
                self._data_dir = self._given_data_dir
            defaults["log.dirs"] = str(self._data_dir)
        config = BrokerConfig.load(None, {**defaults, **self.overrides})
        if "log.dirs" in self.overrides or "log.dir" in self.overrides:
            self._data_dir = Path(config.log_dirs[0])
        config.require_single_broker()
        return config

    def _halt(self, timeout: float) -> bool:
        """Ask the broker's loop to stop, join its thread, remove a temporary data dir.
        False if the thread is still running after `timeout` (nothing is removed then)."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is not None:
            if thread.is_alive() and loop is not None and stop_event is not None:
                try:
                    loop.call_soon_threadsafe(stop_event.set)
                except RuntimeError:  # the loop is closed already: the thread is ending
                    pass
            thread.join(timeout)
            if thread.is_alive():
                return False
        self._thread = self._loop = self._stop_event = None
        self._remove_temp_dir()
        return True

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None
            self._data_dir = None

    # -- the broker's thread ----------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, config: BrokerConfig, stop_event: asyncio.Event,
             ready: threading.Event) -> None:
        try:
            # The Runner closes the loop at the end, after cancelling what is left on it
            # and shutting down its default executor (asyncio.to_thread's threads).
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                runner.run(self._serve(config, stop_event, ready))
        except BaseException as exc:  # handed to the caller by start() or stop()
            self._failure = exc
            if ready.is_set():
                log.error("embedded broker failed", exc_info=exc)
        finally:
            ready.set()

    async def _serve(self, config: BrokerConfig, stop_event: asyncio.Event, ready: threading.Event) -> None:
        # the heavy layers load only when serving
        from snakafka.server.broker import Broker

        broker = Broker(config)
        starting = asyncio.create_task(broker.start(), name="broker-start")
        stop_requested = asyncio.create_task(stop_event.wait(), name="stop-requested")
        try:
            await asyncio.wait({starting, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # stop() while starting: start() timed out
                starting.cancel()
                await asyncio.wait({starting})
            # A start that failed or was given up has released what it had opened.
            if starting.cancelled():
                return
            error = starting.exception()
            if error is not None:
                raise error
            self._port = broker.port
            self._metrics_port = broker.metrics_server.port if broker.metrics_server is not None else None
            self._broker = broker
            ready.set()
            await stop_requested
        finally:
            stop_requested.cancel()
        self._broker = None
        await broker.stop()
