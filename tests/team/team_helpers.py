"""Helpers of the team server tests: a throwaway PostgreSQL cluster, projects, a served project.

Every server test runs on SQLite and on a real PostgreSQL (``db_url`` is parametrized). The
cluster is made with ``initdb`` (as the ``postgres`` user when run as root, since initdb
refuses root), listens on a unix socket only, and is stopped by its process id at the end.
Without initdb the PostgreSQL parameter is skipped, except under ``CI`` where it fails.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The Philips head session of the test data (tests/data_paths.py: PHILIPS, PHILIPS_5MM).
PHILIPS_SESSION = ROOT / "tests" / "data" / "ct" / "dcmqa_ct_philips_brain" / "dicom" / "S21570"
PHILIPS_5MM = PHILIPS_SESSION / "S2010"


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1])
    which = shutil.which("initdb")
    return Path(which) if which else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A PostgreSQL cluster in a temporary folder, on a unix socket."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="ctlabel-pg-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.sock.mkdir()
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                   "-E", "UTF8"])
        log = self.base / "postgres.log"
        self._run([str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start", "-o",
                   f"-k {self.sock} -p {self.port} -c listen_addresses='' -c fsync=off -c max_connections=300"])
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def _run(self, cmd: list[str]) -> None:
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd}: {r.stdout}{r.stderr}")

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@/{db}?host={self.sock}&port={self.port}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(host=str(self.sock), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        for _ in range(200):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.base, ignore_errors=True)


def make_project(root: Path, url: str | None, template: Path | None = None, n_cases: int = 0, **settings):
    """A team project with ``n_cases`` copies of ``template`` registered; returns the Service."""
    from ctlabel.team import admin

    svc = admin.init_project(root, url=url, **settings)
    for i in range(n_cases):
        dest = svc.cases_dir / f"{template.name[:20]}_c{i:03d}"
        shutil.copytree(template, dest)
        admin.register_case(svc, dest)
    return svc


class Server:
    """``ctlabel team serve`` in a subprocess on a free loopback port; stopped by its process id."""

    def __init__(self, project: Path, args: tuple[str, ...] = ()) -> None:
        self.project = project
        self.args = tuple(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "ctlabel", "team", "serve", str(self.project),
                                          "--port", str(self.port), "--json", *self.args],
                                         stdout=log, stderr=log, env=env)
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server ended: {self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"the server did not come up: {self.log.read_text()}")

    def kill(self) -> None:
        """kill -9, as a crash."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def brain_mask_bytes(case_dir: Path, slices=(10, 11, 12, 13, 14), label: int = 1, shape=None,
                     affine=None) -> bytes:
    """A gzipped NIfTI mask on the case grid: ``label`` on brain tissue (20..60 HU) of some slices."""
    import nibabel as nib
    import numpy as np

    img = nib.load(case_dir / "ct.nii.gz")
    hu = np.asanyarray(img.dataobj)
    disk = np.zeros(shape or img.shape, np.uint8)
    if shape is None:
        for k in slices:
            disk[:, :, k] = np.where((hu[:, :, k] > 20) & (hu[:, :, k] < 60), label, 0)
    else:
        disk[..., 0] = label
    out = nib.Nifti1Image(disk, img.affine if affine is None else affine)
    buf = io.BytesIO(gzip.compress(out.to_bytes(), compresslevel=1))
    return buf.getvalue()


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
