"""An upload through the server writes the same bytes as before the edit state became typed.

A client's mask carries its slice bookkeeping in its NIfTI header extension (as the plugin's
saves do); the server reads it (painted, interpolated, axis) into the draft's sidecar, then the
annotator submits. With the clock and the software version fixed, the draft and version sidecars
and ``case.json`` are compared with ``tests/data/saved_bytes/team`` (written by this test with
``CTLABEL_WRITE_SAVED_BYTES=1`` on the commit before that change). SQLite only: the files do not
depend on the database.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from sqlalchemy import select
from team_helpers import make_project

from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.io.nifti import write_nifti
from ctlabel.team import admin, uploads
from ctlabel.team.db import User

DATA = Path(__file__).parents[1] / "data"
OLD = DATA / "cases" / "v0.2.0" / "phantom_case"
GOLDEN = DATA / "saved_bytes" / "team"
WRITE = os.environ.get("CTLABEL_WRITE_SAVED_BYTES") == "1"


def _client_mask(path: Path, case: Case) -> None:
    """A mask as a client saves it: labels on the case grid, its bookkeeping in the header extension."""
    labels = np.zeros(case.image_grid().shape, np.uint8)
    labels[4:7, 10:20, 10:20] = 1
    labels[6, 22:26, 22:26] = 2
    extension = {"SchemaVersion": "1.0", "Kind": "mask", "SliceAxis": "slice", "VoxelSHA256": "0" * 64,
                 "Labels": {"1": {"PaintedSlices": [4, 6], "InterpolatedSlices": [5]},
                            "2": {"PaintedSlices": [6], "InterpolatedSlices": []},
                            "3": {"PaintedSlices": [8], "InterpolatedSlices": []}}}
    write_nifti(path, labels, case.image_grid().affine, intent_label=True, extension=extension)


def test_an_upload_and_submit_write_the_same_bytes_as_before(tmp_path, frozen):
    svc = make_project(tmp_path / "p", None)
    Case.create(svc.cases_dir / "phantom", Case.open(OLD).load_image(), label_table=Case.open(OLD).load_labels())
    name, _ = admin.register_case(svc, svc.cases_dir / "phantom")
    admin.add_user(svc, "ann", "annotator")
    with svc.tx() as db:
        ann = db.scalar(select(User).where(User.name == "ann"))
    assert svc.claims.claim_next(ann)["case"] == name
    case = Case.open(svc.cases_dir / name)
    _client_mask(tmp_path / "upload.nii.gz", case)
    spool = uploads.save_stream_to(svc, [(tmp_path / "upload.nii.gz").read_bytes()])
    try:
        uploads.store_upload(svc, ann, name, spool.path, uploads.current_etag(case))
    finally:
        spool.close()
    got = {"uploaded__case.json": case.record_path.read_bytes(),
           "uploaded__draft_dseg.json": (case.masks_dir / "draft_dseg.json").read_bytes()}
    assert svc.claims.submit(ann, name, force=True)["state"] == "submitted"
    got.update({"submitted__case.json": case.record_path.read_bytes(),
                "submitted__v001_dseg.json": (case.masks_dir / "v001_dseg.json").read_bytes()})
    if WRITE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for n, data in got.items():
            (GOLDEN / n).write_bytes(data)
    want = {p.name: p.read_bytes() for p in GOLDEN.iterdir()}
    assert sorted(got) == sorted(want)
    for n in sorted(want):
        assert got[n] == want[n], f"{n} differs from the bytes written before"
    assert verify_case(case).ok
