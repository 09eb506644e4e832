"""The ready line: the container's first line of output, read from an attach stream opened before start."""

from __future__ import annotations

from typing import Any

from bench.core.outcomes import BadOutput

READY_LIMIT_BYTES = 64 * 1024


def _recv(sock: Any, n: int = 4096) -> bytes:
    # No select/poll first (docker-py's frames_iter polls the file descriptor, which
    # blocks forever over TLS when the rest of a frame already sits decrypted in the
    # SSL buffer); a blocking read is safe here because the watchdog bounds the phase.
    data: bytes = sock.recv(n) if hasattr(sock, "recv") else sock.read(n)
    return data


def raw_socket(sock: Any) -> Any:
    """The socket under docker-py's attach stream (a SocketIO over a unix socket): reading it directly
    skips a buffered-IO layer inside the timed `ready` window. TLS sockets are read as they are."""
    inner = getattr(sock, "_sock", None)
    return inner if inner is not None and hasattr(inner, "recv") else sock


def read_first_line(sock: Any, marker: str) -> str:
    """Reads the multiplexed attach stream (8-byte frame headers) until the first
    newline of output; checks it is the ready marker."""
    raw, out = b"", b""
    while b"\n" not in out:
        chunk = _recv(sock)
        if not chunk:
            raise BadOutput(f"the container's output ended before its ready line (got {out[:200]!r})")
        raw += chunk
        while len(raw) >= 8 and len(raw) >= 8 + int.from_bytes(raw[4:8], "big"):
            size = int.from_bytes(raw[4:8], "big")
            out += raw[8 : 8 + size]
            raw = raw[8 + size :]
        if len(out) > READY_LIMIT_BYTES:
            raise BadOutput(f"no newline in the first {READY_LIMIT_BYTES} bytes of output")
    line = out.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    if line.strip() != marker:
        raise BadOutput(f"first line was {line[:200]!r}, expected {marker!r}")
    return line


def close_socket(sock: Any) -> None:
    for obj in (sock, getattr(sock, "_response", None)):
        try:
            if obj is not None:
                obj.close()
        except Exception:
            pass
