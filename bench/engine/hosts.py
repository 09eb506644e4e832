"""The engines a run brings up itself and leaves on every exit path: the VM engine (shared by the
runs that join it; the last to leave stops one a run booted) and the local swarm (owned by the run
that brought it up). Where one cannot come up the run goes on: preflight skips its modes. And whether
an engine that went away (a cold cycle's restart) answers again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from bench.core import signals
from bench.core.errors import Terminated, UserError

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime

Say = Callable[[str], None]


def join_vm(say: Say) -> bool:
    """Joins the VM engine's users, booting it if none is up. Returns whether the run joined (and so
    must leave: leave_vm)."""
    from bench.engine.control.vm import qemu as vm

    try:
        state, joined = vm.up_for_run(say=lambda m: say(f"  {m}"))
    except UserError as exc:
        say(f"  the VM engine cannot come up: {exc}")
        return False
    if joined:
        _load_vm_image(say)
    return joined


def _load_vm_image(say: Say) -> None:
    """The VM keeps its storage in memory: a freshly booted one needs the test image again (untimed)."""
    from bench.engine.control.vm.qemu import vm_client
    from bench.engine.image import ensure_image

    try:
        ensure_image(vm_client(timeout=120))
    except Exception as exc:  # preflight then skips the mode with the engine's own words
        say(f"  the VM engine is up but the test image could not be loaded: {exc}")


def leave_vm(say: Say) -> None:
    from bench.engine.control.vm import qemu as vm

    vm.leave(say=lambda m: say(f"  {m}"))


def swarm_up(say: Say) -> bool:
    """Brings the local swarm up when none is healthy; the run then owns it and brings it down on every
    exit path (swarm_down). A healthy swarm someone brought up is used and left up. Returns whether
    the run owns it."""
    from bench.engine import swarm

    if swarm.health(swarm.load_state()) is None:
        return False
    try:
        swarm.up(say=lambda m: say(f"  {m}"))
    except UserError as exc:
        say(f"  the local swarm cannot come up: {exc}")
        return False
    return True


def swarm_down(say: Say) -> None:
    """The swarm this run brought up goes, whatever happened; a second Ctrl-C leaves it for
    `isobench swarm down` and says so."""
    from bench.engine import swarm

    try:
        swarm.down(say=lambda m: say(f"  {m}"))
    except (KeyboardInterrupt, Terminated):
        signals.note_hurry()
        say("  the local swarm was not brought down (second stop signal): run 'isobench swarm down'")
    except UserError as exc:
        say(f"  {exc}")


def answers_anew(rt: "ModeRuntime") -> bool:
    """Whether the engine takes a new connection and answers. Never the run's own client: a pooled
    connection can outlive the engine's listener (a stopping dockerd still answers on open
    connections after its socket is gone), so it would call an engine that is going away "back"."""
    try:
        client = rt.new_client()
    except Exception:
        return False
    try:
        client.ping()
        return True
    except Exception:
        return False
    finally:
        client.close()
