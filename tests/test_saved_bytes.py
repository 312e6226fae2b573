"""The files a save writes stay byte for byte what they were (issue 22, item 1: the model as currency).

One editing day on a copy of the v0.2.0 fixture case, with the clock and the software version
fixed: paint, erase a label to nothing, interpolate, apply a pre-label, autosave, save, submit,
correct, approve, start a new draft. Every sidecar, ``case.json`` and the autosave journal it
writes are compared with the bytes the code wrote before the edit state became typed
(``tests/data/saved_bytes/core``, written by this test with ``CTLABEL_WRITE_SAVED_BYTES=1`` on
the commit before that change). The fixture itself must still verify and open afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

import ctlabel
from ctlabel.case import review
from ctlabel.case.editing import EditingSession
from ctlabel.case.verify import verify_case

DATA = Path(__file__).parent / "data"
OLD = DATA / "cases" / "v0.2.0"
GOLDEN = DATA / "saved_bytes" / "core"
GOLDEN_REVIEW = DATA / "saved_bytes" / "review"
WRITE = os.environ.get("CTLABEL_WRITE_SAVED_BYTES") == "1"


def _snapshot(case: ctlabel.Case, step: str, out: dict[str, bytes]) -> None:
    """The files of the case that this step wrote or changed (named ``<step>__<file>``)."""
    now = {p.name: p.read_bytes() for p in [case.record_path, *sorted(case.masks_dir.glob("*.json"))]}
    journal = case.recovery_dir / "journal.json"
    if journal.exists():
        rec = json.loads(journal.read_text(encoding="utf-8"))
        rec["Host"], rec["PID"] = "host", 0  # where it ran, not what it holds
        now["journal.json"] = json.dumps(rec, indent=2).encode()
    seen = getattr(case, "_seen_bytes", {p.name: p.read_bytes() for p in OLD.joinpath("phantom_case").rglob("*.json")})
    for name, data in now.items():
        if seen.get(name) != data:
            out[f"{step}__{name}"] = data
    object.__setattr__(case, "_seen_bytes", now)


def _editing_day(root: Path) -> dict[str, bytes]:
    case = ctlabel.Case.open(root)
    out: dict[str, bytes] = {}
    with EditingSession.open(root, "anna") as s:
        s.labels[0, 12:20, 12:20] = 1
        s.labels[2, 12:20, 12:20] = 1
        s.record_edit("paint", {1: {0, 2}}, axis=0)
        gone = {int(k) for k in np.flatnonzero((s.labels == 5).any(axis=(1, 2)))}
        s.labels[s.labels == 5] = 0
        s.record_edit("paint", {5: gone}, axis=0)  # erased to nothing: listed, not present
        assert s.interpolate([1])[1]
        s.labels[11, 30:34, 30:34] = 2
        s.record_edit("fill", {}, axis=0)
        s.mark_prelabelled({2: {"Kind": "automatic", "Name": "threshold", "Parameters": {"lo": 20}}})
        s.write_journal()
        _snapshot(case, "1_journal", out)
        s.save()
        _snapshot(case, "2_saved", out)
        s.labels[10, 12:20, 12:20] = 1
        s.record_edit("paint", {1: {10}}, axis=0)
        assert s.submit(force=True) == 3
        _snapshot(case, "3_submitted", out)
    labels = np.array(case.load_version(3).array)
    labels[1, 0:4, 0:4] = 3
    review.correct(case, labels, case.image_grid(), "rita", comment="kidney on slice 1")
    _snapshot(case, "4_corrected", out)
    review.approve(case, "rolf", comment="fine")
    _snapshot(case, "5_approved", out)
    with EditingSession.open(root, "anna") as s:
        s.labels[11, 12:16, 12:16] = 4
        s.record_edit("paint", {4: {11}}, axis=0)
        s.save()
        _snapshot(case, "6_new_draft", out)
    return out


def test_an_editing_day_writes_the_same_bytes_as_before(tmp_path, frozen):
    shutil.copytree(OLD, tmp_path / "cases")
    got = _editing_day(tmp_path / "cases" / "phantom_case")
    if WRITE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, data in got.items():
            (GOLDEN / name).write_bytes(data)
    want = {p.name: p.read_bytes() for p in GOLDEN.iterdir()}
    assert sorted(got) == sorted(want)
    for name in sorted(want):
        assert got[name] == want[name], f"{name} differs from the bytes written before"
    assert verify_case(ctlabel.Case.open(tmp_path / "cases" / "phantom_case")).ok


def _review_day(root: Path) -> dict[str, bytes]:
    """Every other writer of case.json: withdraw, reject, the label table, the review policy, an import,
    a submit of an imported version, reading by two readers (no fusion), the image replaced."""
    from ctlabel.case import accept, reads
    from ctlabel.intake.convert_image import WHO

    case = ctlabel.Case.open(root)
    out: dict[str, bytes] = {}
    grid = case.image_grid()
    base = np.array(case.load_version(2).array)
    with EditingSession.open(root, "anna") as s:
        s.labels[3, 12:20, 12:20] = 1
        s.record_edit("paint", {1: {3}}, axis=0)
        s.save()
        assert s.submit(force=True) == 3
    _snapshot(case, "1_submitted", out)
    assert reads.withdraw(case, "anna") == 3
    _snapshot(case, "2_withdrawn", out)
    assert review.submit(case, "anna", force=True) == 4
    review.reject(case, "rolf", "the kidney is missing on slice 3")
    _snapshot(case, "3_rejected", out)
    review.save_label_table(case, case.load_labels(), "lena", role="reviewer")
    _snapshot(case, "4_labels_changed", out)
    review.start_new_draft(case, "anna")
    assert review.submit(case, "anna", force=True) == 5
    accept.accept_by_policy(case, "anna", {"min_gold": 1}, {"accepted": True, "draw": 0.5})
    _snapshot(case, "5_accepted", out)
    review.reject(case, "rolf", "not after all")
    labels = base.copy()
    labels[4, 0:4, 0:4] = 3
    assert review.add_version(case, labels, grid, "imp", imported_from={"FileName": "other.nii.gz"}) == 6
    _snapshot(case, "6_imported", out)
    assert review.submit(case, "anna", force=True) == 6
    review.approve(case, "rolf")
    _snapshot(case, "7_approved_import", out)
    review.start_new_draft(case, "anna")  # in progress again: now read by two readers
    for reader, k in (("r1", 5), ("r2", 6)):
        labels = base.copy()
        labels[k, 20:24, 20:24] = 2
        reads.save_read(case, reader, labels, grid, reader)
        _snapshot(case, f"8_saved_{reader}", out)
    assert reads.submit_read(case, "r1", "r1", force=True) == 7
    reads.withdraw(case, "r1", reader="r1")
    _snapshot(case, "9_read_withdrawn", out)
    assert reads.submit_read(case, "r1", "r1", force=True) == 8
    assert reads.submit_read(case, "r2", "r2", force=True) == 9
    _snapshot(case, "10_reads_submitted", out)
    review.approve(case, "rolf", version=8, comment="r1's read")
    _snapshot(case, "11_read_approved", out)
    from ctlabel.case.record import append_event, load_case_record
    from ctlabel.io.provenance import event

    ev = event(WHO, "system", "image_replaced", OldImageVoxelSHA256="0" * 64, NewImageVoxelSHA256="1" * 64)
    append_event(case, load_case_record(case), ev)  # as intake.convert_image does (load_record before 5e5093e)
    _snapshot(case, "12_image_replaced", out)
    return out


def test_every_writer_of_the_case_record_writes_the_same_bytes_as_before(tmp_path, frozen):
    """The review actions beyond the editing day (issue 22, item 1: case.json through CaseRecord and Event).

    The bytes in ``tests/data/saved_bytes/review`` were written by the code before case.json was read into
    and written from CaseRecord (the commit before 5e5093e), with ``CTLABEL_WRITE_SAVED_BYTES=1``.
    """
    shutil.copytree(OLD, tmp_path / "cases")
    got = _review_day(tmp_path / "cases" / "phantom_case")
    if WRITE:
        shutil.rmtree(GOLDEN_REVIEW, ignore_errors=True)
        GOLDEN_REVIEW.mkdir(parents=True)
        for name, data in got.items():
            (GOLDEN_REVIEW / name).write_bytes(data)
    want = {p.name: p.read_bytes() for p in GOLDEN_REVIEW.iterdir()}
    assert sorted(got) == sorted(want)
    for name in sorted(want):
        assert got[name] == want[name], f"{name} differs from the bytes written before"


def test_the_fixture_still_verifies_and_opens_with_its_slices():
    case = ctlabel.Case.open(OLD / "phantom_case")
    assert verify_case(case).ok
    before = {p: p.read_bytes() for p in sorted((OLD / "phantom_case").rglob("*")) if p.is_file()}
    with EditingSession.open(case.root, "anna") as s:  # opens (takes and gives back the lock)
        assert s.tracker.painted(0) == {k: [9] for k in range(1, 6)}
        assert s.tracker.axis == 0
    after = {p: p.read_bytes() for p in sorted((OLD / "phantom_case").rglob("*")) if p.is_file()}
    assert after == before
