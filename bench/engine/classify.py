"""Failure categories: every failed sample carries one, with the engine's own words beside it.

Categories are stable strings (the analysis groups by them); messages are raw,
so an unknown error keeps the text the engine gave.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Optional

import docker.errors
import requests.exceptions

from bench.core.outcomes import (
    API_ERROR,
    BAD_OUTPUT,
    CLEANUP_FAILED,
    CLIENT_HYPERV_ONLY,
    ENGINE_CONTROL,
    ENGINE_DISK_FULL,
    ENGINE_UNAVAILABLE,
    ERROR,
    FEATURE_MISSING,
    IMAGE_INCOMPATIBLE,
    ISOLATION_REJECTED,
    NO_HYPERVISOR,
    NOT_FOUND,
    OS_MISMATCH,
    RUNTIME_ERROR,
    RUNTIME_UNKNOWN,
    TIMEOUT,
    TLS_ERROR,
    BadOutput,
    CallTimeout,
    EngineControlError,
)


@dataclass(frozen=True)
class Rule:
    pattern: str
    category: str
    advice: str


# Checked in order against an engine error's text. The Windows rows carry the
# HCS codes and texts that Windows engines return; `advice` is what preflight (and so
# `doctor` and a run's skip reasons) adds to the engine's words: how to fix it.
RULES: tuple[Rule, ...] = (
    # First: an OCI runtime that cannot write its state or the container's layer quotes the errno inside its
    # own error ("OCI runtime create failed: ... no space left on device"), and that is the disk's fault.
    # Windows engines say it in Win32's words (ERROR_DISK_FULL).
    Rule(
        r"no space left on device|there is not enough space on the disk",
        ENGINE_DISK_FULL,
        "the engine's data root is full: free space there (docker system prune, unused images) or grow its filesystem",
    ),
    Rule(
        r"unknown runtime specified",
        RUNTIME_UNKNOWN,
        'register the runtime in the engine\'s daemon.json "runtimes" and reload dockerd',
    ),
    Rule(
        r"invalid isolation",
        ISOLATION_REJECTED,
        "this engine does not offer that isolation (Linux engines only support 'default')",
    ),
    # HCS 0xc0370101 in both wordings: the old one ("The operating system of the container does not
    # match the operating system of the host", with the code) and the one Docker 18.09+ prints on
    # hosts from 1809 on, without the code ("The container operating system does not match the host
    # operating system", after CreateComputeSystem, hcsshim:: or hcs::).
    Rule(
        r"0xc0370101|operating system of the container does not match"
        r"|container operating system does not match the host operating system",
        OS_MISMATCH,
        "process isolation needs an image built for the host's Windows build: pick the matching tag or use hyperv "
        "isolation",
    ),
    # Client editions (Windows 10/11): none before 1809 runs process isolation, and the engine says so.
    Rule(
        r"windows client operating systems (earlier than version 1809 can )?only (support|run) hyper-v containers",
        CLIENT_HYPERV_ONLY,
        "this Windows client edition runs only Hyper-V isolation: use the hyperv mode, or Windows 10 1809+ / Server",
    ),
    Rule(
        r"0xc0351000|no hypervisor is present",
        NO_HYPERVISOR,
        "Hyper-V isolation needs the Hyper-V role (and nested virtualisation when the host is itself a VM)",
    ),
    Rule(
        r"a required feature is not installed",
        FEATURE_MISSING,
        "enable the Containers feature (and Hyper-V for hyperv isolation), then reboot",
    ),
    Rule(
        r"the system cannot find the file specified",
        IMAGE_INCOMPATIBLE,
        "the image is older or newer than this host supports: pull the tag for this Windows build",
    ),
    Rule(
        r"failed to detach vhd|context deadline exceeded",
        CLEANUP_FAILED,
        "the engine could not release the container's disk in time: it is retried with backoff",
    ),
    Rule(
        r"oci runtime|runtime create failed|runc|runsc|exec format error",
        RUNTIME_ERROR,
        "the OCI runtime failed: check the engine's log for the runtime's own message",
    ),
)


def advice_for(category: str) -> Optional[str]:
    """How to fix a failure of this category, where a rule says."""
    return next((r.advice for r in RULES if r.category == category), None)


def _engine_text(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        explanation = exc.explanation
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        return str(explanation or exc)
    return str(exc)


def match_rule(text: str, rules: tuple[Rule, ...] = RULES) -> Optional[Rule]:
    low = text.lower()
    for rule in rules:
        if re.search(rule.pattern, low):
            return rule
    return None


def _is_connection_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (ssl.SSLError,)):
            return False
        if isinstance(cur, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
            return True
        if isinstance(cur, docker.errors.DockerException) and "connection" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _is_tls_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)) or "certificate" in text or "ssl" in text


def classify(exc: BaseException, rules: tuple[Rule, ...] = RULES) -> tuple[str, str]:
    """(category, message) for an exception raised by an engine call or a cycle check. ``rules``: an
    engine kind's own table (its rows first, then these), from bench.engine.drivers."""
    if isinstance(exc, CallTimeout):
        return TIMEOUT, str(exc)
    if isinstance(exc, BadOutput):
        return BAD_OUTPUT, str(exc)
    if isinstance(exc, EngineControlError):
        return ENGINE_CONTROL, str(exc)
    text = _engine_text(exc).strip() or exc.__class__.__name__
    if isinstance(exc, docker.errors.APIError):
        rule = match_rule(text, rules)
        if rule is not None:
            return rule.category, text
        if isinstance(exc, docker.errors.NotFound):
            return NOT_FOUND, text
        return API_ERROR, text
    if _is_tls_failure(exc):
        return TLS_ERROR, text
    if _is_connection_failure(exc):
        return ENGINE_UNAVAILABLE, text
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return TIMEOUT, text
    return ERROR, f"{exc.__class__.__name__}: {text}"
