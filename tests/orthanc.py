"""A real Orthanc (with its DICOMweb plugin) for the tests of ``ctlabel pull``, and small fake servers.

Orthanc 1.10 has no option for its listening address: it listens on every interface. So the
fixture starts it in a network namespace of its own (``unshare --net``, loopback only) and
reaches it through a forwarder that listens on 127.0.0.1 in the test's namespace and opens each
connection inside Orthanc's namespace (``setns`` on the forwarding thread). Orthanc's own
configuration also refuses remote clients (``"RemoteAccessAllowed": false``) and has no DICOM
(DIMSE) server. The forwarder's port stays the same when Orthanc is stopped and started again on
the same storage, so a pull can be resumed on the same URL.

Orthanc is stopped by its process id: terminate, then kill. Without the ``Orthanc`` program the
tests are skipped, except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

CLONE_NEWNET = 0x40000000
DICOMWEB_PLUGIN_PATHS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                         "/usr/lib/orthanc/libOrthancDicomWeb.so")
#: Brings the loopback interface of the new namespace up, asks to be ended with the test process
#: (PR_SET_PDEATHSIG, kept across exec), then becomes Orthanc (same process id).
_LO_UP_THEN_EXEC = r"""
import ctypes, fcntl, os, signal, socket, struct, sys
ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)
if os.getppid() == 1:
    sys.exit("the test process is gone")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0))[:18])[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
s.close()
os.execv(sys.argv[1], sys.argv[1:])
"""
INNER_PORT = 8042  # inside Orthanc's own namespace, so it never clashes with anything
_libc = ctypes.CDLL(None, use_errno=True)


def orthanc_program() -> str | None:
    return shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
                                            if os.access(p, os.X_OK)), None)


def dicomweb_plugin() -> str | None:
    return next((p for p in DICOMWEB_PLUGIN_PATHS if os.path.exists(p)), None)


def require_orthanc() -> None:
    """Skip (fail under CI) when Orthanc, its DICOMweb plugin or network namespaces are not available."""
    missing = []
    if orthanc_program() is None:
        missing.append("the Orthanc program (apt-get install orthanc)")
    if dicomweb_plugin() is None:
        missing.append("the DICOMweb plugin (apt-get install orthanc-dicomweb)")
    if shutil.which("unshare") is None:
        missing.append("unshare (util-linux)")
    if not missing and os.geteuid() != 0:
        missing.append("root, to run Orthanc in a loopback-only network namespace")
    if missing:
        reason = "needs " + ", ".join(missing) + " (scripts/setup.sh installs the packages)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class _Forwarder:
    """Listen on 127.0.0.1 here; forward each connection to a port inside another network namespace."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.home_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self.target_ns: int | None = None
        self.lock = threading.Lock()
        self.open_sockets: set[socket.socket] = set()
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def set_target(self, pid: int | None) -> None:
        with self.lock:
            if self.target_ns is not None:
                os.close(self.target_ns)
            self.target_ns = None if pid is None else os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)

    def _connect_inside(self) -> socket.socket:
        with self.lock:
            if self.target_ns is None:
                raise ConnectionRefusedError("no server")
            _setns(self.target_ns)  # this thread only
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # belongs to the target namespace
            finally:
                _setns(self.home_ns)
        try:
            s.connect(("127.0.0.1", INNER_PORT))
        except OSError:
            s.close()
            raise
        return s

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = self._connect_inside()
        except OSError:
            client.close()
            return
        with self.lock:
            self.open_sockets |= {client, server}
        t = threading.Thread(target=self._pump, args=(server, client), daemon=True)
        t.start()
        self._pump(client, server)
        t.join()
        with self.lock:
            self.open_sockets -= {client, server}
        client.close()
        server.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        for s in (dst, src):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop_connections(self) -> None:
        with self.lock:
            for s in list(self.open_sockets):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.drop_connections()
        self.set_target(None)
        os.close(self.home_ns)


class Orthanc:
    """One Orthanc with the DICOMweb plugin, its storage and log in ``workdir``.

    ``users``: {"name": "password"} turns HTTP basic authentication on.
    """

    def __init__(self, workdir: Path, users: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = users or {}
        self.proc: subprocess.Popen | None = None
        self.forwarder = _Forwarder()
        self.base = f"http://127.0.0.1:{self.forwarder.port}"
        self.dicomweb = self.base + "/dicom-web"
        self.config = self.workdir / "orthanc.json"
        self.config.write_text(json.dumps(self._config(), indent=2))

    def _config(self) -> dict:
        config = {
            "Name": "ctlabel-test",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "storage"),
            "HttpServerEnabled": True,
            "HttpPort": INNER_PORT,
            "RemoteAccessAllowed": False,
            "DicomServerEnabled": False,  # no DIMSE listener at all (Orthanc 1.10 has the switch)
            "DicomPort": 0,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": dict(self.users),
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": "127.0.0.1",
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
            "SaveJobs": False,
            "ConcurrentJobs": 1,
            "HttpThreadsCount": 8,
            "StableAge": 1,
            "WebDavEnabled": False,
            "HttpDescribeErrors": True,
        }
        return config

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> Orthanc:
        log = open(self.workdir / "orthanc.log", "ab")
        self.proc = subprocess.Popen(
            ["unshare", "--net", sys.executable, "-c", _LO_UP_THEN_EXEC, orthanc_program(), str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while True:  # the namespace exists once unshare has run: wait until the process is Orthanc
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc ended at start (exit {self.proc.returncode}): {self.log_tail()}")
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{self.proc.pid}/exe").endswith("Orthanc"):
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Orthanc did not start")
            time.sleep(0.02)
        self.forwarder.set_target(self.proc.pid)
        while True:
            try:
                self.get("/system")
                return self
            except (OSError, urllib.error.URLError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc ended at start (exit {self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Orthanc did not answer /system within {timeout} s: {self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop Orthanc by its process id (terminate, then kill) and drop the forwarded connections."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.forwarder.set_target(None)
        self.forwarder.drop_connections()

    def close(self) -> None:
        self.stop()
        self.forwarder.close()

    def log_tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "orthanc.log").read_text(errors="replace")[-n:]
        return ""

    # --- REST -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, data: bytes | None = None,
                 content_type: str | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.users:
            name, password = next(iter(self.users.items()))
            req.add_header("Authorization", "Basic " + b64encode(f"{name}:{password}".encode()).decode())
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def get(self, path: str):
        return json.loads(self._request("GET", path))

    def upload(self, *paths: Path) -> int:
        """POST each DICOM file (files below folders too; DIRFILE/DICOMDIR left out) to /instances."""
        n = 0
        for p in paths:
            files = sorted(f for f in Path(p).rglob("*") if f.is_file()) if Path(p).is_dir() else [Path(p)]
            for f in files:
                if f.name.upper() in ("DIRFILE", "DICOMDIR"):
                    continue
                with open(f, "rb") as fh:
                    head = fh.read(132)
                if head[128:] != b"DICM":
                    continue
                self._request("POST", "/instances", f.read_bytes(), "application/dicom")
                n += 1
        return n


@contextlib.contextmanager
def running_orthanc(workdir: Path, users: dict[str, str] | None = None):
    require_orthanc()
    server = Orthanc(workdir, users)
    try:
        yield server.start()
    finally:
        server.close()


# --- servers that misbehave ---------------------------------------------------------------------
@contextlib.contextmanager
def http_status_server(status: int = 500):
    """A loopback HTTP server that answers ``status`` to everything; yields its URL and the request headers seen."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            body = b"no"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def silent_server():
    """A loopback socket that accepts connections and never answers; yields its URL."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)  # the kernel completes the handshakes; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/dicom-web"
    finally:
        s.close()
