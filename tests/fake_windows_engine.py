"""A local HTTP server that answers the Docker Engine API as a Windows engine does.

Only for the Windows-only request shapes (isolation fields, nanoserver images by
build, HCS error bodies); everything else is tested on the real Linux engine.
The answers follow the Engine API reference (v1.41) and the error texts real
Windows engines return: hcsshim errors arrive as HTTP 500 with
{"message": "..."} bodies on start, and "failed to detach VHD" on remove.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

OS_MISMATCH = (
    "container {cid} encountered an error during hcsshim::System::Start: failure in a Windows system "
    "call: The container operating system does not match the host operating system. (0xc0370101)"
)
NO_HYPERVISOR = "hcsshim::CreateComputeSystem {cid}: No hypervisor is present on this system. (0xc0351000)"
FILE_NOT_FOUND = "hcsshim::CreateComputeSystem {cid}: The system cannot find the file specified."
DETACH_VHD = "unable to remove filesystem for {cid}: hcsshim::DeactivateLayer failed: failed to detach VHD: timeout"


@dataclass
class WindowsHost:
    build: int = 17763
    ubr: int = 5329
    edition: str = "Windows Server 2019 Datacenter"
    hyperv: bool = True
    isolation_default: str = "process"
    images: dict[str, str] = field(
        default_factory=lambda: {
            "mcr.microsoft.com/windows/nanoserver:1809": "10.0.17763.5329",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022": "10.0.20348.2227",
        }
    )
    # remove fails this many times per container with "failed to detach VHD" before it works
    detach_failures: int = 0
    # older engines and images leave OsVersion out of the image inspect
    report_os_version: bool = True
    # Hyper-V starts that work before the hypervisor stops answering (None: always, while hyperv is True):
    # a host that passes preflight and then fails mid-run
    hyperv_starts_ok: Optional[int] = None
    # A swarm manager (the service scenario): /info says so and /services, /tasks, /nodes answer. Every
    # task of a service is rejected with `task_error` (swarm's Status.Err, as the engine words it).
    swarm: bool = False
    task_error: str = NO_HYPERVISOR.format(cid="3a5c")
    # More Windows nodes of that swarm (their hostnames), ready, their engines not reachable from here.
    workers: tuple[str, ...] = ()


class FakeWindowsEngine:
    def __init__(self, host: Optional[WindowsHost] = None) -> None:
        self.host = host or WindowsHost()
        self.requests: list[dict[str, Any]] = []
        self.containers: dict[str, dict[str, Any]] = {}
        self.execs: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.tasks: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                engine.handle(self, "GET")

            def do_POST(self) -> None:
                engine.handle(self, "POST")

            def do_DELETE(self) -> None:
                engine.handle(self, "DELETE")

            def do_HEAD(self) -> None:
                engine.handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeWindowsEngine":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answers --------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        h = self.host
        return {
            "Platform": {"Name": "Docker Engine - Community"},
            "Version": "20.10.24",
            "ApiVersion": "1.41",
            "MinAPIVersion": "1.24",
            "Os": "windows",
            "Arch": "amd64",
            "KernelVersion": f"10.0 {h.build} ({h.build}.1.amd64fre.rs5_release.180914-1434)",
            "Components": [{"Name": "Engine", "Version": "20.10.24"}],
        }

    def info(self) -> dict[str, Any]:
        h = self.host
        return {
            "OSType": "windows",
            "OperatingSystem": f"{h.edition} Version 1809 (OS Build {h.build}.{h.ubr})",
            "Driver": "windowsfilter",
            "Isolation": h.isolation_default,
            "NCPU": 4,
            "MemTotal": 8 << 30,
            "Name": "WINHOST",
            "Runtimes": {},
            "DefaultRuntime": "",
            "KernelVersion": self.version()["KernelVersion"],
            # Windows engines give local time with its offset
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + ".1234567" + time.strftime("%z"),
            "Swarm": (
                {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "winnode1", "Cluster": {"ID": "c1"}}
                if h.swarm
                else {"LocalNodeState": "inactive", "ControlAvailable": False}
            ),
        }

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any = None) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        h.send_response(status)
        h.send_header(
            "Content-Type", "application/json" if body is not None and not isinstance(body, bytes) else "text/plain"
        )
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Api-Version", "1.41")
        h.send_header("Ostype", "windows")
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _error(self, h: BaseHTTPRequestHandler, status: int, message: str) -> None:
        self._send(h, status, {"message": message})

    def _hijack(self, h: BaseHTTPRequestHandler) -> socket.socket:
        h.wfile.write(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        h.wfile.flush()
        h.close_connection = True
        return h.connection

    @staticmethod
    def _frame(text: bytes) -> bytes:
        return bytes([1, 0, 0, 0]) + len(text).to_bytes(4, "big") + text

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        path = re.sub(r"^/v[\d.]+", "", url.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"null") if length else None
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
        m = re.fullmatch(r"/containers/([^/]+)/(\w+)", path)
        if path == "/_ping":
            return self._send(h, 200, b"OK")
        if path == "/version":
            return self._send(h, 200, self.version())
        if path == "/info":
            return self._send(h, 200, self.info())
        if self.host.swarm and self._swarm(h, method, path, query, body):
            return None
        if path == "/events":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            time.sleep(3600)  # a quiet event stream; the daemon thread dies with the server
            return None
        img = re.fullmatch(r"/images/(.+)/json", path)
        if img:
            ref = img.group(1)
            if ref not in self.host.images:
                return self._error(h, 404, f"No such image: {ref}")
            return self._send(
                h,
                200,
                {
                    "Id": "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, ref).hex * 2,
                    "Size": 104857600,
                    "Os": "windows",
                    "Architecture": "amd64",
                    **({"OsVersion": self.host.images[ref]} if self.host.report_os_version else {}),
                },
            )
        if path == "/containers/create" and method == "POST":
            if body["Image"] not in self.host.images:
                return self._error(h, 404, f"No such image: {body['Image']}")
            iso = (body.get("HostConfig") or {}).get("Isolation") or ""
            if iso not in ("", "default", "process", "hyperv"):
                return self._error(
                    h, 400, f"Invalid isolation: \"{iso}\" - windows daemon supports 'default', 'process', or 'hyperv'"
                )
            cid = uuid.uuid4().hex * 2
            self.containers[cid] = {
                "Id": cid,
                "body": body,
                "state": "created",
                "removes": 0,
                "started": threading.Event(),
                "labels": body.get("Labels") or {},
            }
            return self._send(h, 201, {"Id": cid, "Warnings": []})
        if path == "/containers/json":
            wanted = json.loads(query.get("filters", "{}")).get("label", [])
            out = []
            for c in list(self.containers.values()):
                labels = c["labels"]
                if all(
                    (w.split("=", 1)[0] in labels)
                    and ("=" not in w or labels.get(w.split("=", 1)[0]) == w.split("=", 1)[1])
                    for w in wanted
                ):
                    out.append({"Id": c["Id"], "Labels": labels, "State": c["state"]})
            return self._send(h, 200, out)
        if m:
            cid, action = m.groups()
            c = self.containers.get(cid)
            if c is None:
                return self._error(h, 404, f"No such container: {cid}")
            return self._container(h, method, c, action, query, body)
        dm = re.fullmatch(r"/containers/([^/]+)", path)
        if dm and method == "DELETE":
            c = self.containers.get(dm.group(1))
            if c is None:
                return self._error(h, 404, f"No such container: {dm.group(1)}")
            if c["state"] == "running" and query.get("force") not in ("1", "True", "true"):
                return self._error(
                    h,
                    409,
                    "You cannot remove a running container. Stop the container before attempting removal or force "
                    "remove",
                )
            if c["removes"] < self.host.detach_failures:
                c["removes"] += 1
                return self._error(h, 500, DETACH_VHD.format(cid=c["Id"]))
            c["started"].set()
            del self.containers[c["Id"]]
            return self._send(h, 204)
        ex = re.fullmatch(r"/exec/([^/]+)/(start|json)", path)
        if ex:
            eid, what = ex.groups()
            if what == "json":
                return self._send(h, 200, {"ID": eid, "ExitCode": 0, "Running": False})
            sock = self._hijack(h)
            sock.close()
            return None
        return self._error(h, 404, f"page not found: {method} {path}")

    def _swarm(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str], body: Any) -> bool:
        """The swarm manager's answers; False when the path is not one of them."""
        svc = re.fullmatch(r"/services/([^/]+)(/update)?", path)
        if path == "/nodes":
            self._send(h, 200, [self._node(), *(self._node(w) for w in self.host.workers)])
        elif path == "/services/create" and method == "POST":
            sid = uuid.uuid4().hex[:25]
            self.services[sid] = {"ID": sid, "Version": {"Index": 1}, "Spec": body}
            self._tasks_for(sid)
            self._send(h, 201, {"ID": sid})
        elif path == "/services":
            self._send(h, 200, list(self.services.values()))
        elif path == "/tasks":
            wanted = json.loads(query.get("filters", "{}")).get("service", [])
            self._send(h, 200, [t for t in self.tasks if not wanted or t["ServiceID"] in wanted])
        elif svc and svc.group(1) not in self.services:
            self._error(h, 404, f"service {svc.group(1)} not found")
        elif svc and svc.group(2) and method == "POST":
            self.services[svc.group(1)].update(Spec=body, Version={"Index": 2})
            self._tasks_for(svc.group(1))
            self._send(h, 200, {"Warnings": None})
        elif svc and method == "DELETE":
            del self.services[svc.group(1)]
            self.tasks = [t for t in self.tasks if t["ServiceID"] != svc.group(1)]
            self._send(h, 200, b"")
        elif svc:
            self._send(h, 200, self.services[svc.group(1)])
        else:
            return False
        return True

    def _node(self, worker: Optional[str] = None) -> dict[str, Any]:
        """The manager's own node (this engine's), or a worker of that name."""
        node = {
            "ID": f"node-{worker}" if worker else "winnode1",
            "Description": {
                "Hostname": worker or "WINHOST",
                "Platform": {"OS": "windows"},
                "Engine": {"EngineVersion": "20.10.24"},
            },
            "Spec": {"Role": "worker" if worker else "manager", "Availability": "active", "Labels": {}},
            "Status": {"State": "ready"},
        }
        return node if worker else {**node, "ManagerStatus": {"Leader": True}}

    def _tasks_for(self, sid: str) -> None:
        """One task per missing replica, rejected at once with the host's task error (as a Windows node
        rejects a Hyper-V task without a hypervisor)."""
        mode = {k.lower(): v for k, v in (self.services[sid]["Spec"].get("Mode") or {}).items()}  # Go reads any case
        replicas = (mode.get("replicated") or {}).get("Replicas", 1)
        have = [t for t in self.tasks if t["ServiceID"] == sid]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".5000000Z"
        for slot in range(len(have) + 1, replicas + 1):
            self.tasks.append(
                {
                    "ID": uuid.uuid4().hex[:25],
                    "ServiceID": sid,
                    "Slot": slot,
                    "NodeID": "winnode1",
                    "DesiredState": "running",
                    "Spec": self.services[sid]["Spec"]["TaskTemplate"],
                    "Status": {
                        "Timestamp": stamp,
                        "State": "rejected",
                        "Message": "preparing",
                        "Err": self.host.task_error,
                    },
                }
            )

    def _container(
        self, h: BaseHTTPRequestHandler, method: str, c: dict[str, Any], action: str, query: dict[str, str], body: Any
    ) -> None:
        cid = c["Id"]
        iso = (c["body"].get("HostConfig") or {}).get("Isolation") or "default"
        effective = self.host.isolation_default if iso == "default" else iso
        if action == "json":
            return self._send(
                h,
                200,
                {
                    "Id": cid,
                    "Created": "2026-11-28T00:00:00.0000000Z",
                    "State": {
                        "Status": c["state"],
                        "Running": c["state"] == "running",
                        "ExitCode": 0 if c["state"] != "exited" else 1067,
                        "StartedAt": "2026-11-28T00:00:01.0000000Z",
                        "FinishedAt": "2026-11-28T00:00:02.0000000Z",
                    },
                    "HostConfig": {
                        "Isolation": effective,
                        "Runtime": "",
                        "NetworkMode": (c["body"].get("HostConfig") or {}).get("NetworkMode"),
                    },
                    "Config": {"Image": c["body"]["Image"], "Labels": c["labels"]},
                },
            )
        if action == "attach":
            sock = self._hijack(h)
            c["started"].wait(60)
            if c["state"] == "running":
                sock.sendall(self._frame(b"ready\r\n"))
            time.sleep(0.05)
            sock.close()
            return None
        if action == "start":
            image_build, image_ubr = (int(x) for x in self.host.images[c["body"]["Image"]].split(".")[2:4])
            if effective == "hyperv" and (not self.host.hyperv or self.host.hyperv_starts_ok == 0):
                c["started"].set()
                return self._error(h, 500, NO_HYPERVISOR.format(cid=cid))
            if effective == "hyperv" and self.host.hyperv_starts_ok is not None:
                self.host.hyperv_starts_ok -= 1
            # Server 2016 shares its kernel only with images of the same revision (UBR) too.
            if effective == "process" and (
                image_build != self.host.build or (image_build == 14393 and image_ubr != self.host.ubr)
            ):
                c["started"].set()
                return self._error(h, 500, OS_MISMATCH.format(cid=cid))
            if effective == "hyperv" and image_build > self.host.build:
                c["started"].set()
                return self._error(h, 500, FILE_NOT_FOUND.format(cid=cid))
            c["state"] = "running"
            c["started"].set()
            return self._send(h, 204)
        if action == "exec":
            eid = uuid.uuid4().hex
            self.execs[eid] = {"container": cid, "body": body}
            return self._send(h, 201, {"Id": eid})
        if action == "stop":
            c["state"] = "exited"
            return self._send(h, 204)
        return self._error(h, 404, f"page not found: {action}")
