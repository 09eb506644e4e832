"""The lean path reopens a keep-alive connection the engine dropped while it was idle (no engine needed).

A restarted engine (cold rounds, a VM booted again, a fault) closes every open connection. Before
this check, the next timed request went out on the dead socket and came back as a failed create
("Broken pipe", "the engine closed the connection before answering") charged to the mode.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from bench.engine.endpoints import Endpoint
from bench.measure.wire import Wire

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"Id":"c1"}'


def _serve_one_answer_per_connection(listener: socket.socket, closed: list[threading.Event]) -> None:
    """Answers one request on each connection, then closes it as a restarting engine would."""
    for event in closed:
        conn, _ = listener.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(4096)
            conn.sendall(ANSWER)
        event.set()


def _engine_socket(tmp_path: Path) -> tuple[str, socket.socket]:
    """A listening unix socket standing in for the engine's."""
    path = str(tmp_path / "engine.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(2)
    return path, listener


def test_a_dropped_idle_connection_is_reopened_before_the_next_request(tmp_path: Path) -> None:
    path, listener = _engine_socket(tmp_path)
    closed = [threading.Event(), threading.Event()]
    server = threading.Thread(target=_serve_one_answer_per_connection, args=(listener, closed), daemon=True)
    server.start()
    wire = Wire(Endpoint(f"unix://{path}", "unix"), "1.41", 5)
    try:
        wire.connect()
        first = wire.sock
        assert wire.send(wire.request("POST", "/containers/create", None, {})).json() == {"Id": "c1"}
        assert wire.sock is first  # framed answer: the connection is kept
        assert closed[0].wait(5)  # the server closed the first connection and now waits for a second one
        wire.connect()
        assert wire.sock is not None and wire.sock is not first
        assert wire.send(wire.request("POST", "/containers/create", None, {})).json() == {"Id": "c1"}
    finally:
        wire.close()
        listener.close()


def test_a_live_idle_connection_is_kept(tmp_path: Path) -> None:
    path, listener = _engine_socket(tmp_path)
    wire = Wire(Endpoint(f"unix://{path}", "unix"), "1.41", 5)
    try:
        wire.connect()
        conn, _ = listener.accept()  # accepted and open, nothing sent: a live idle connection
        first = wire.sock
        wire.connect()
        assert wire.sock is first
        conn.close()
        wire.connect()
        assert wire.sock is not first  # closed by the peer: reopened (the listener still accepts)
    finally:
        wire.close()
        listener.close()
