"""A download never overwrites a local draft holding changes that were never uploaded."""

from __future__ import annotations

import json

import numpy as np
from team_helpers import brain_mask_bytes, make_project

from ctlabel.io.mask import load_mask
from ctlabel.team import admin
from ctlabel.team.client import STATE_FILE, Client


def test_download_keeps_an_unsent_local_draft_and_says_so(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "proj", db_url, philips_template, n_cases=1)
    ann = Client(serve(tmp_path / "proj").url, admin.add_user(svc, "ann", "annotator"))
    name = ann.next_case()["case"]
    folder = ann.download(name, tmp_path / "work")
    draft = folder / "masks" / "draft_dseg.nii.gz"
    draft.write_bytes(brain_mask_bytes(folder, slices=(10, 11)))
    uploaded = ann.upload_draft(folder)["etag"]
    assert load_mask(draft).voxel_hash == uploaded  # the ETag is the voxel hash the client compares

    # nothing local that the server lacks: a second download keeps nothing aside
    ann.download(name, tmp_path / "work")
    assert not (folder / "kept").exists() and Client.kept_drafts(folder) == []

    # the annotator paints on (offline), never uploads, and downloads again (e.g. ctlabel team next)
    draft.write_bytes(brain_mask_bytes(folder, slices=(10, 11, 12, 13)))
    local = load_mask(draft).array.copy()
    ann.download(name, tmp_path / "work")
    [kept] = Client.kept_drafts(folder)
    assert np.array_equal(load_mask(kept).array, local)  # the unsent work is there, whole
    assert load_mask(draft).voxel_hash == uploaded  # the draft is the server's again
    assert json.loads((folder / STATE_FILE).read_text())["KeptDrafts"] == [kept]
