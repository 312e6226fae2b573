"""Saves that never tear: SIGKILL at random points of draft saves, then open the case again."""

import os
import random
import signal
import time

import numpy as np
import pytest

from ctlabel.case import verify as case_verify
from ctlabel.case.folder import Case
from ctlabel.case.lock import acquire_lock
from ctlabel.io.provenance import read_sidecar, sidecar_path
from ctlabel.volume import voxel_hash

KILLS = 100


def _saver(case: Case) -> None:
    """Save drafts forever, each different (runs in a forked child until killed)."""
    grid = case.image_grid()
    rng = np.random.default_rng(os.getpid())
    n = 0
    while True:
        labels = np.zeros(grid.shape, np.uint8)
        k = n % grid.shape[0]
        labels[k, rng.integers(0, 400):, rng.integers(0, 400):] = 1 + n % 3
        case.save_draft(labels, grid, painted={1 + n % 3: [k]}, annotator="a1")
        n += 1


def _strays(case: Case) -> list:
    return [p for folder in (case.root, case.masks_dir) for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_killed_saves_leave_no_torn_pair_and_no_temporary_file(tmp_path, ct3_volume):
    case = Case.create(tmp_path / "case", ct3_volume)
    rnd = random.Random(7)
    torn_seen = strays_seen = 0
    for _ in range(KILLS):
        pid = os.fork()
        if pid == 0:  # the child saves until it is killed
            try:
                _saver(case)
            finally:
                os._exit(0)
        time.sleep(rnd.uniform(0.02, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if case.draft_path.exists():
            torn_seen += _torn(case.draft_path)
        strays_seen += bool(_strays(case))
        # the next open: take the lock (as an editor does) and read the draft
        with acquire_lock(case.root, "a1"):
            mask = case.load_draft()
            if mask is not None:
                assert mask.hash_matches, "a torn mask/sidecar pair survived the next open"
            assert not _strays(case), "temporary files survived the next open"
    assert torn_seen > 0 and strays_seen > 0, "no kill landed inside a save: the test proves nothing"
    assert not [p for p in case_verify.verify_case(case).problems if p.what == "draft"]


def _torn(path) -> bool:
    """True when the mask on disk and its sidecar disagree (read without ctlabel's repair)."""
    import nibabel as nib

    side = sidecar_path(path)
    if not side.exists():
        return True
    img = nib.load(path)
    raw = np.asarray(img.dataobj).T.astype(np.uint8)
    return read_sidecar(side)["VoxelSHA256"] != voxel_hash(raw, img.affine)
