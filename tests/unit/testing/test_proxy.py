"""The black-holing TCP proxy (snakafka.testing.proxy) against a real echo server on
127.0.0.1: bytes flow, a blocked link keeps connections open but silent, and healing
closes the connections that lost bytes while new ones flow again."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from snakafka.testing.proxy import Link, ProxyHub


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def link() -> Iterator[Link]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with ProxyHub() as hub:
        yield hub.link("test", "127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def connect(link: Link) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", link.port), timeout=5)
    sock.settimeout(0.5)
    return sock


def echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def test_bytes_flow_through(link: Link) -> None:
    with connect(link) as sock:
        assert echo(sock, b"hello") == b"hello"
        assert echo(sock, b"x" * 100_000) == b"x" * 100_000


def test_a_blocked_link_is_silent_not_closed(link: Link) -> None:
    with connect(link) as sock, connect(link) as idle:
        assert echo(sock, b"before") == b"before"
        link.block()
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):  # silence: no answer, and no end of stream either
            sock.recv(4096)
        with connect(link) as new:  # new connections are accepted, and just as silent
            new.sendall(b"lost too")
            with pytest.raises(TimeoutError):
                new.recv(4096)
        assert link.dropped_bytes >= len(b"lost")
        link.heal()
        sock.settimeout(5)
        assert sock.recv(4096) == b""  # it lost bytes: closed at the heal
        assert echo(idle, b"after") == b"after"  # nothing lost: it just flows again
    with connect(link) as fresh:
        assert echo(fresh, b"after") == b"after"


def test_nothing_listening_behind_the_link_closes_the_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with ProxyHub() as hub:
        link = hub.link("dead", "127.0.0.1", dead_port)
        with connect(link) as sock:
            sock.settimeout(5)
            assert sock.recv(10) == b""
