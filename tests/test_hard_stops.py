"""Hard stops: a full disk, an empty lock, a killed batch. Nothing saved is lost, nothing is stranded."""

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from data_paths import PHILIPS_5MM

import ctlabel
from ctlabel.case.folder import Case
from ctlabel.case.lock import acquire_lock
from ctlabel.errors import CaseError, LockError


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def small_disk(tmp_path):
    """A 6 MiB tmpfs, mounted by the test (CI runs as root) and unmounted after it."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {r.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_a_ctlabel_error_naming_the_file_and_the_draft_stays(small_disk, ct3_volume):
    case = Case.create(small_disk / "case", ct3_volume)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[1, 100:200, 100:200] = 1
    case.save_draft(labels, grid, painted={1: [1]}, annotator="a1")
    before = _digest(case.masks_dir)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # fill the disk to the last block
        with pytest.raises(OSError):
            while True:
                f.write(os.urandom(1 << 16))
                f.flush()
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, grid.shape, dtype=np.uint8)  # does not compress: needs room
    with pytest.raises(CaseError) as info:
        case.save_draft(noisy, grid, painted={1: [0, 1, 2], 2: [0, 1, 2]}, annotator="a1")
    assert "draft_dseg" in str(info.value) and "No space left" in str(info.value)
    assert _digest(case.masks_dir) == before
    assert not [p for p in case.masks_dir.iterdir() if p.name.startswith(".")]  # no temporary files left
    mask = case.load_draft()
    assert np.array_equal(mask.array, labels) and mask.hash_matches


def test_a_full_disk_in_convert_is_one_failed_series(small_disk):
    out = small_disk / "out"
    with open(small_disk / "filler", "wb") as f:
        f.truncate(0)
        f.write(b"\0" * (5 << 20))
    rep = ctlabel.convert([PHILIPS_5MM], out, progress=False, jobs=1)
    assert not rep.ok and "No space left" in rep.failed[0]["reason"]
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


def test_an_empty_lock_is_taken_over_once_it_is_old(tmp_path, ct3_volume):
    case = Case.create(tmp_path / "c", ct3_volume)
    case.lock_path.write_bytes(b"")  # created, never written (the creator died, or the disk was full)
    with pytest.raises(LockError):  # a fresh empty lock may still be being written
        acquire_lock(case.root, "b")
    old = time.time() - 60
    os.utime(case.lock_path, (old, old))
    with acquire_lock(case.root, "b") as lock:
        assert json.loads(case.lock_path.read_text())["user"] == "b" and lock.info.user == "b"


def _contend(root, barrier, results):
    barrier.wait()
    try:
        lock = acquire_lock(root, f"p{os.getpid()}")
        results.put("won")
        time.sleep(1.0)
        lock.release()
    except LockError:
        results.put("lost")


def test_contenders_for_an_abandoned_empty_lock_get_it_once(tmp_path, ct3_volume):
    case = Case.create(tmp_path / "c", ct3_volume)
    case.lock_path.write_bytes(b"{not json")
    old = time.time() - 60
    os.utime(case.lock_path, (old, old))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(case.root, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["lost", "lost", "lost", "won"]


@pytest.mark.slow
def test_killing_a_batch_kills_its_workers_and_a_rerun_resumes(tmp_path):
    src = tmp_path / "src"
    for i in range(6):  # six copies of a real series, each its own series
        import pydicom

        dst = src / f"s{i}"
        dst.mkdir(parents=True)
        series = pydicom.uid.generate_uid()
        for f in sorted(PHILIPS_5MM.glob("I*")):
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID = series
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.save_as(dst / f.name)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "ctlabel", "convert", str(src), "-o", str(out), "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = [c for c in parent.children(recursive=True)]
        time.sleep(0.05)
    assert len(workers) >= 2, "the batch never started its workers"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers outlived their batch: {[p.pid for p in alive]}"
    done_before = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.exists() else []
    assert all(Case.is_case(p) for p in done_before)  # no half-written case in place
    rep = ctlabel.convert([src], out, progress=False, jobs=2)
    assert rep.ok and len(rep.converted) + len(done_before) == 6
    assert len([p for p in out.iterdir() if p.is_dir()]) == 6  # partial folders of the dead run are gone
    assert all(Case(p).load_image().shape == (28, 512, 512) for p in out.iterdir() if p.is_dir())
