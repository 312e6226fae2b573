"""The Worklist's review of a case read by three annotators, against a real team server (readers=3).

Three annotators submit their reads of a case through ``ctlabel.Client``; the server fuses them
(STAPLE). The reviewer's Review next shows the layers "read 1" .. "read 3", "fusion" and
"disagreement" (where the reads differ: ``ctlabel.measure.fusion.disagreement_map``) and each reader's Dice with
the fusion, sensitivity and specificity; Approve fusion approves the fused version on the server.
The next case: Approve read with read 2 chosen.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from ctlabel.measure.fusion import disagreement_map
from ctlabel.team.client import Client

from ._worklist_team import make_team
from .test_worklist import _login, _viewer, _wait

READERS = ("ann", "ann_laptop", "ann3")
SLICES = {"ann": (5, 6, 7, 8), "ann_laptop": (6, 7, 8, 9), "ann3": (5, 6, 7, 8, 9)}


@pytest.fixture
def team(tmp_path, monkeypatch):
    from ctlabel.team import admin
    from ctlabel.team.double_read import set_readers

    monkeypatch.setenv("CTLABEL_CACHE_DIR", str(tmp_path / "cache"))
    t = make_team(tmp_path)
    t.tokens["ann3"] = admin.add_user(t.svc, "ann3", "annotator")
    set_readers(t.svc, 3)
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


def _three_reads(clients, tmp_path, tag: str) -> str:
    got = [clients[who].next_case() for who in READERS]
    name = got[0]["case"]
    assert {g["case"] for g in got} == {name} and [g["read"] for g in got] == [1, 2, 3]
    for who in READERS:
        d = clients[who].download(name, tmp_path / f"{who}-{tag}")
        clients[who].upload_draft(d, _read_mask(d, SLICES[who], tmp_path / f"{who}-{tag}.nii.gz"))
        clients[who].submit(name)
    return name


def test_three_reads_fusion_shown_and_approved(make_napari_viewer, qtbot, team, tmp_path):
    clients = {who: Client(team.url, team.tokens[who]) for who in (*READERS, "rev")}
    name = _three_reads(clients, tmp_path, "1")
    reads = clients["rev"].reads(name)
    fused = reads["fusion"]
    assert fused["method"] == "staple" and len(fused["readers"]) == 3

    # the reviewer: Review next shows each read, the fusion, the disagreement and the figures
    viewer, _lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "rev")
    wl.review_next()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == name
    names = [ly.name for ly in viewer.layers]
    assert {"read 1", "read 2", "read 3", "fusion", "disagreement"} <= set(names)
    arrays = [np.asarray(viewer.layers[f"read {k}"].data) for k in (1, 2, 3)]
    fusion = np.asarray(viewer.layers["fusion"].data)
    assert np.array_equal(np.asarray(viewer.layers["disagreement"].data), disagreement_map(arrays, fusion))
    assert np.asarray(viewer.layers["disagreement"].data).any()  # the reads differ on slices 5 and 9
    text = wl.agreement_label.text()
    assert wl.double_box.isVisibleTo(wl) and "Fusion</b> (staple)" in text
    assert f"ann_laptop: Dice with the fusion {fused['readers'][1]['mean_dice']:.3f}" in text and "sens" in text
    assert [wl.read_choice.itemData(i) for i in range(wl.read_choice.count())] == ["1", "2", "3"]
    assert wl.approve_fusion_button.isEnabled() and wl.approve_read_button.isEnabled()

    # Approve fusion: the fused version is the approved one on the server
    wl.approve_fusion_button.click()
    _wait(qtbot, wl)
    assert wl.review_info is None and "fusion" not in [ly.name for ly in viewer.layers]
    record = json.loads((team.project / "cases" / name / "case.json").read_text())
    assert record["State"] == "approved" and record["ApprovedVersion"] == fused["version"]

    # the other case: read 2 chosen, Approve read
    other = _three_reads(clients, tmp_path, "2")
    assert other != name
    wl.review_next()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == other
    read2 = next(r["version"] for r in clients["rev"].reads(other)["reads"] if r["slot"] == 2)
    wl.read_choice.setCurrentIndex(1)
    assert wl.read_choice.currentData() == "2"
    wl.approve_read_button.click()
    _wait(qtbot, wl)
    record = json.loads((team.project / "cases" / other / "case.json").read_text())
    assert record["State"] == "approved" and record["ApprovedVersion"] == read2
    for c in clients.values():
        c.close()
