"""The Worklist's double-reading review against a real team server (readers=2).

Two annotators submit their reads of a case through ``ctlabel.Client``; the reviewer's Review next
shows both reads as the layers "read A" and "read B" side by side (grid mode) and their Dice in
the review panel; Approve B approves read B on the server (``ApprovedVersion`` is B's version).
The next case: Correct from A, paint, upload the merge and approve it.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from ctlabel.team.client import Client
from ctlabel_napari._worklist_double import viewer_grid

from ._worklist_team import make_team
from .test_worklist import _login, _viewer, _wait


@pytest.fixture
def team(tmp_path, monkeypatch):
    from ctlabel.team.double_read import set_readers

    monkeypatch.setenv("CTLABEL_CACHE_DIR", str(tmp_path / "cache"))
    t = make_team(tmp_path)
    set_readers(t.svc, 2)
    yield t
    t.server.stop()


def _read_mask(case_dir, slices, dest):
    """A read on the case grid: a block on each of ``slices`` (last NIfTI axis)."""
    import nibabel as nib

    img = nib.load(case_dir / "ct.nii.gz")
    data = np.zeros(img.shape, np.uint8)
    for k in slices:
        data[18:30, 18:30, k] = 1
    dest.write_bytes(gzip.compress(nib.Nifti1Image(data, img.affine).to_bytes(), compresslevel=1))
    return dest


def test_double_read_review_side_by_side_approve_b(make_napari_viewer, qtbot, team, tmp_path):
    # two annotators read the same case and submit through the client
    clients = {who: Client(team.url, team.tokens[who]) for who in ("ann", "ann_laptop", "rev")}
    a = clients["ann"].next_case()
    b = clients["ann_laptop"].next_case()
    name = a["case"]
    assert b["case"] == name and (a["read"], b["read"]) == ("A", "B")
    for who, slices in (("ann", (5, 6, 7, 8)), ("ann_laptop", (6, 7, 8, 9))):
        d = clients[who].download(name, tmp_path / who)
        clients[who].upload_draft(d, _read_mask(d, slices, tmp_path / f"{who}.nii.gz"))
        clients[who].submit(name)
    reads = clients["rev"].reads(name)
    version_b = next(r["version"] for r in reads["reads"] if r["slot"] == "B")
    dice = reads["agreement"]["labels"][0]["dice"]
    assert 0.5 < dice < 1.0

    # the reviewer: Review next shows read A and read B side by side, and their Dice
    viewer, _lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "rev")
    wl.review_next()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == name
    names = [ly.name for ly in viewer.layers]
    grid = viewer_grid(viewer)
    assert "read A" in names and "read B" in names and grid.enabled

    def cell(layer_name):
        return grid.position(names.index(layer_name), viewer.layers)

    image = wl.review_widget.image_layer.name
    assert cell("read A") == cell(image) != cell("read B") == cell(f"{image} (B)")  # side by side, each on the CT
    assert wl.double_box.isVisibleTo(wl) and f"Dice {dice:.3f}" in wl.agreement_label.text()
    la, lb = (np.asarray(viewer.layers[f"read {s}"].data) for s in "AB")
    assert la.any() and lb.any() and not np.array_equal(la, lb)
    assert wl.approve_b_button.isEnabled() and wl.correct_a_button.isEnabled()

    # Approve B: read B is the approved version on the server
    wl.approve_b_button.click()
    _wait(qtbot, wl)
    assert wl.review_info is None and not grid.enabled
    assert "read A" not in [ly.name for ly in viewer.layers]
    assert clients["rev"].case(name)["state"] == "approved"
    record = json.loads((team.project / "cases" / name / "case.json").read_text())
    assert record["ApprovedVersion"] == version_b

    # the other case: Correct from A, paint, upload the merge, approve it (a plain approve of the latest)
    other = clients["ann"].next_case()["case"]
    assert other != name and clients["ann_laptop"].next_case()["case"] == other
    for who, slices in (("ann", (5, 6)), ("ann_laptop", (6, 7))):
        d = clients[who].download(other, tmp_path / f"{who}-2")
        clients[who].upload_draft(d, _read_mask(d, slices, tmp_path / f"{who}-2.nii.gz"))
        clients[who].submit(other)
    wl.review_next()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == other and grid.enabled
    read_a = np.asarray(viewer.layers["read A"].data).copy()
    wl.correct_a_button.click()
    layer = wl.review_widget.labels_layer
    assert not grid.enabled and layer.editable and layer.visible and np.array_equal(np.asarray(layer.data), read_a)
    z = int(np.nonzero(read_a.any(axis=(1, 2)))[0].max()) + 2  # a slice read A left empty
    layer.brush_size = 5
    layer.paint((z, 24, 24), 1)
    wl.upload_correction()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == other and "read B" in [ly.name for ly in viewer.layers]  # shown again
    wl.approve()
    _wait(qtbot, wl)
    record = json.loads((team.project / "cases" / other / "case.json").read_text())
    read_versions = {r["version"] for r in clients["rev"].reads(other)["reads"]}
    merge = clients["rev"].case(other)["versions"][-1]
    assert record["State"] == "approved" and record["ApprovedVersion"] == merge and merge not in read_versions
    for c in clients.values():
        c.close()
