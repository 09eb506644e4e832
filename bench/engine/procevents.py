"""The kernel's process events (netlink connector, cn_proc): fork, exec and exit of the engine's
processes, stamped by the kernel on CLOCK_MONOTONIC, the clock ``time.perf_counter_ns`` reads on
Linux, so they fall on the harness's own timeline.

Root only. The listener follows the processes below the roots it is given (dockerd, containerd):
a fork whose parent it follows adds the child, so a shim that daemonizes (re-parented to init) is
still followed. An exec's command line is read from /proc at once (a process that already ended
keeps its name unknown: its exec and exit are still recorded). The listener runs on its own thread
and measures its own CPU; ``close`` unsubscribes and closes the socket, on every exit path.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
NLMSG_DONE = 3
FORK, EXEC, EXIT = 0x1, 0x2, 0x80000000
_NLMSG = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")
_HDR = _NLMSG.size + _CN_MSG.size
_SHAPES = {0x1: struct.Struct("=4i"), 0x2: struct.Struct("=2i"), 0x80000000: struct.Struct("=4i")}
RCVBUF = 8 << 20
# close() waits this long at most for the thread, which wakes at least every BATCH_S (it is a daemon: the
# process's end ends it anyway); a run's shutdown after a second Ctrl-C waits not at all (bench.measure.cost)
CLOSE_WAIT_S = 0.3
KEEP = 200_000  # events kept (a few minutes of an engine's life)
SO_RCVBUFFORCE = 33
BATCH_S = 0.1  # forks and exits are drained at least this often (a timer wake-up costs ~80 us of CPU here)
SO_ATTACH_FILTER = 26
# A classic BPF filter, run by the kernel on each event before it is queued: only exec, the fork of
# a process (not a thread) and the exit of a process pass. Go engines start threads all the time;
# without it the listener woke for each. Loads are big-endian, the fields host-endian (x86: little):
# `what` is compared byte-swapped; pid == tgid compares two loads alike, whatever the order.
_OFF = _NLMSG.size + _CN_MSG.size  # the proc_event
_LD, _JEQ_K, _JEQ_X, _RET, _TAX = 0x20, 0x15, 0x1D, 0x06, 0x07
_SWAP = {v: int.from_bytes(v.to_bytes(4, "little"), "big") for v in (0x1, 0x2, 0x80000000)}
FILTER: tuple[tuple[int, int, int, int], ...] = (
    (_LD, 0, 0, _OFF),  # 0: what
    (_JEQ_K, 12, 0, _SWAP[0x2]),  # 1: exec -> 14 accept
    (_JEQ_K, 2, 0, _SWAP[0x1]),  # 2: fork -> 5
    (_JEQ_K, 5, 0, _SWAP[0x80000000]),  # 3: exit -> 9, else 4
    (_RET, 0, 0, 0),  # 4: drop
    (_LD, 0, 0, _OFF + 24),  # 5: fork's child_pid
    (_TAX, 0, 0, 0),  # 6
    (_LD, 0, 0, _OFF + 28),  # 7: fork's child_tgid
    (_JEQ_X, 5, 4, 0),  # 8: a process -> 14 accept, a thread -> 13 drop
    (_LD, 0, 0, _OFF + 16),  # 9: exit's pid
    (_TAX, 0, 0, 0),  # 10
    (_LD, 0, 0, _OFF + 20),  # 11: exit's tgid
    (_JEQ_X, 1, 0, 0),  # 12: a process -> 14 accept, a thread -> 13 drop
    (_RET, 0, 0, 0),  # 13: drop
    (_RET, 0, 0, 0xFFFF),  # 14: accept
)


# Two sockets: exec events wake the listener at once (a short-lived `runc start` must still be in /proc
# when its command line is read), forks and exits only queue, and are drained with them or every BATCH_S.
EXEC_ONLY = ((_LD, 0, 0, _OFF), (_JEQ_K, 0, 1, _SWAP[0x2]), (_RET, 0, 0, 0xFFFF), (_RET, 0, 0, 0))
FORK_EXIT = (FILTER[0], (_JEQ_K, 11, 0, _SWAP[0x2])) + FILTER[2:]  # exec -> 13: drop


def _attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    """Attaches a filter (little-endian hosts only: elsewhere every event is read, and filtered here)."""
    if sys.byteorder != "little":
        return
    prog = b"".join(struct.pack("=HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies the program


@dataclass(frozen=True)
class ProcEvent:
    ns: int  # CLOCK_MONOTONIC, as time.perf_counter_ns
    what: str  # "fork", "exec", "exit"
    pid: int
    other: int  # fork: the parent; exit: the exit code; exec: 0
    argv: tuple[str, ...] = ()


def _message(op: int) -> bytes:
    body = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(body), 0)
    return _NLMSG.pack(_HDR + len(body), NLMSG_DONE, 0, 0, os.getpid()) + cn + body


def _argv(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0")[:12] if a)


def parse(data: bytes) -> list[tuple[int, int, tuple[int, ...]]]:
    """(what, timestamp ns, the event's ints) of every process event in one datagram."""
    out = []
    off = 0
    while off + _HDR + _EVENT.size <= len(data):
        length = _NLMSG.unpack_from(data, off)[0]
        what, _cpu, ts = _EVENT.unpack_from(data, off + _HDR)
        body = off + _HDR + _EVENT.size
        if what in (FORK, EXIT):
            out.append((what, ts, struct.unpack_from("=4i", data, body)))
        elif what == EXEC:
            out.append((what, ts, struct.unpack_from("=2i", data, body)))
        if length <= 0:
            break
        off += (length + 3) & ~3
    return out


class ProcEvents:
    """Follows the processes below ``roots``; ``window`` gives the events between two instants."""

    def __init__(self, roots: Iterable[int], below: Optional[dict[int, int]] = None) -> None:
        self.followed: set[int] = set(roots)
        if below:  # processes already running below the roots (from a pid -> parent pid map)
            from bench.engine.cgroups import children

            self.followed |= set(children(below, self.followed))
        self.events: deque[ProcEvent] = deque(maxlen=KEEP)
        self.lost = 0  # datagrams the kernel dropped (the socket's buffer overflowed)
        self._tid: Optional[int] = None
        self._cpu_ns = 0
        self._socks: list[socket.socket] = []
        self.drained_ns = 0  # every event stamped before this perf_counter instant has been taken
        self._stop = threading.Event()
        self._drained = threading.Event()  # set after each drain (window() waits on it, never polls)
        self._focus = threading.Event()
        self.paused = False
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "ProcEvents":
        """Subscribes (OSError when not root or the kernel has no connector: the caller says why)."""
        try:
            for program in (EXEC_ONLY, FORK_EXIT):
                self._socks.append(_subscribed(program))
        except OSError:
            self._close_socks()
            raise
        self._thread = threading.Thread(target=self._loop, name="isobench-proc-events", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        """Focused (a start in flight), it wakes on each exec; else every BATCH_S. Then it drains both sockets
        and takes their events in time order. A wake-up costs ~20-80 us of CPU on this 2-core VM, so forks
        and exits never wake it, and execs only while it is focused."""
        execs, rest = self._socks
        self._tid = threading.get_native_id()
        buf = bytearray(65536)
        while not self._stop.is_set():
            if self._focus.is_set():
                try:
                    select.select([execs], [], [], BATCH_S)
                except (OSError, ValueError):
                    return  # closed under us
            else:
                self._wake.wait(BATCH_S)
                self._wake.clear()
            now = time.perf_counter_ns()  # every event stamped before now is queued: read below
            got = self._drain(rest, buf) + self._drain(execs, buf)
            for what, ts, ints in sorted(got, key=lambda e: e[1]):
                self._take(what, ts, ints)
            self.drained_ns = now
            self._drained.set()

    def focus(self, on: bool) -> None:
        """While a start is in flight: exec events are taken at once, while their processes still exist."""
        if on:
            self._focus.set()
            self._wake.set()
        else:
            self._focus.clear()

    def pause(self, on: bool) -> None:
        """Unsubscribes (the kernel then sends no process events at all) or subscribes again: the cycles of
        an in-run A/B without the listener (bench.measure.cost, ISOBENCH_PROC_EVENTS_OFF)."""
        if on == self.paused:
            return
        self.paused = on
        for sock in list(self._socks):
            try:
                sock.send(_message(PROC_CN_MCAST_IGNORE if on else PROC_CN_MCAST_LISTEN))
            except OSError:
                pass

    def _drain(self, sock: socket.socket, buf: bytearray) -> list[tuple[int, int, tuple[int, ...]]]:
        out: list[tuple[int, int, tuple[int, ...]]] = []
        one = _HDR + _EVENT.size  # the connector sends one event per datagram
        while True:
            try:
                n = sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno != 105:  # ENOBUFS: the kernel dropped events; counted, go on
                    return out
                self.lost += 1
                continue
            if n < one:
                continue
            what, _cpu, ts = _EVENT.unpack_from(buf, _HDR)
            if n <= one + 24 and what in _SHAPES:  # the common case, without building a list
                out.append((what, ts, _SHAPES[what].unpack_from(buf, one)))
            else:
                out.extend(parse(bytes(buf[:n])))

    @property
    def cpu_ns(self) -> int:
        """The listener thread's own CPU so far (its schedstat, read from outside: nothing per event)."""
        if self._tid is None:
            return 0
        try:
            with open(f"/proc/self/task/{self._tid}/schedstat", "rb") as fh:
                self._cpu_ns = int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread ended: its last reading stands
        return self._cpu_ns

    def _take(self, what: int, ts: int, ints: tuple[int, ...]) -> None:
        if what == FORK:
            _ppid, ptgid, cpid, ctgid = ints
            if ptgid in self.followed and cpid == ctgid:  # a new process, not a thread
                self.followed.add(ctgid)
                self.events.append(ProcEvent(ts, "fork", ctgid, ptgid))
        elif what == EXEC:
            pid, tgid = ints
            if tgid in self.followed:
                self.events.append(ProcEvent(ts, "exec", tgid, 0, _argv(tgid)))
        elif what == EXIT:
            pid, tgid, code, _sig = ints
            if pid == tgid and tgid in self.followed:
                self.followed.discard(tgid)
                self.events.append(ProcEvent(ts, "exit", tgid, code))

    def window(self, t_from: int, t_to: int, wait_s: float = 0.2) -> list[ProcEvent]:
        """The followed processes' events stamped in [t_from, t_to], once the listener has read past
        ``t_to`` (or ``wait_s`` passed: the events read so far)."""
        deadline = time.monotonic() + wait_s
        while self.drained_ns < t_to and self.alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._drained.clear()
            self._drained.wait(min(remaining, 2 * BATCH_S))
        return [e for e in list(self.events) if t_from <= e.ns <= t_to]

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Unsubscribes and closes the sockets (idempotent; safe from any thread and exit path), after
        waiting at most ``wait_s`` for the thread to see its stop (0: not at all)."""
        self._stop.set()
        self._wake.set()
        if wait_s > 0 and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=wait_s)
        self._close_socks()

    def _close_socks(self) -> None:
        socks, self._socks = self._socks, []
        for sock in socks:
            try:
                if not self.paused:  # the kernel counts subscriptions: a paused socket has given its up
                    sock.send(_message(PROC_CN_MCAST_IGNORE))
            except OSError:
                pass
            sock.close()


def _subscribed(program: tuple[tuple[int, int, int, int], ...]) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        _attach_filter(sock, program)
        sock.bind((0, CN_IDX_PROC))
        sock.send(_message(PROC_CN_MCAST_LISTEN))
    except OSError:
        sock.close()
        raise
    return sock
