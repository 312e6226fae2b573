"""The autosave journal (ctlabel.case.recovery) and the slice bookkeeping (ctlabel.painting.tracking): no GUI."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from ctlabel.case.folder import Case
from ctlabel.case.recovery import (
    DEFAULT_INTERVAL_S,
    JournalFields,
    autosave_interval,
    clear_journal,
    journal_exists,
    pending_recovery,
    read_journal,
    write_journal,
)
from ctlabel.errors import GeometryError, ProvenanceError
from ctlabel.intake.synthetic import make_phantom
from ctlabel.model import SliceEdits
from ctlabel.painting.tracking import SliceTracker, touched_from_box, touched_from_diff, touched_from_indices
from ctlabel.volume import Grid


@pytest.fixture
def case(tmp_path):
    volume, _, table = make_phantom(shape=(12, 32, 32))
    return Case.create(tmp_path / "case", volume, label_table=table)


def test_interval_default_and_env(monkeypatch):
    monkeypatch.delenv("CTLABEL_AUTOSAVE_S", raising=False)
    assert autosave_interval() == DEFAULT_INTERVAL_S <= 30
    monkeypatch.setenv("CTLABEL_AUTOSAVE_S", "2")
    assert autosave_interval() == 2
    monkeypatch.setenv("CTLABEL_AUTOSAVE_S", "300")
    assert autosave_interval() == 30  # never longer than the promise
    monkeypatch.setenv("CTLABEL_AUTOSAVE_S", "junk")
    assert autosave_interval() == 30


def test_journal_round_trip_and_pending(case):
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[3, 5:9, 5:9] = 2
    assert pending_recovery(case) is None
    write_journal(case.recovery_dir, labels, grid, JournalFields(
        SliceEdits({2: [3]}, {}, {2: [4]}, axis=0), annotator="ann",
        events=[{"Who": "ann", "Role": "annotator", "When": "x", "Action": "painted"}]))
    labels[4, 1, 1] = 1
    write_journal(case.recovery_dir, labels, grid, JournalFields(SliceEdits({2: [3], 1: [4]}, axis=0),
                                                                     annotator="ann"))
    files = sorted(p.name for p in case.recovery_dir.iterdir())
    assert files == ["journal-000002.nii.gz", "journal.json"]  # older journal removed
    rec = pending_recovery(case)
    assert rec is not None and rec["Annotator"] == "ann"
    j = read_journal(case.recovery_dir, grid)
    np.testing.assert_array_equal(j.labels, labels)
    assert j.edits == SliceEdits({1: [4], 2: [3]}, axis=0) and j.sequence == 2
    # a draft saved after the journal makes it stale
    time.sleep(0.02)
    case.save_draft(labels, grid)
    os.utime(case.draft_path, (time.time() + 1, time.time() + 1))
    assert pending_recovery(case) is None
    clear_journal(case.recovery_dir)
    assert not journal_exists(case.recovery_dir)


def test_journal_checks_grid_and_hash(case, tmp_path):
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    write_journal(case.recovery_dir, labels, grid)
    other = Grid(grid.shape, grid.affine + np.diag([0, 0, 0.5, 0]))
    with pytest.raises(GeometryError):
        read_journal(case.recovery_dir, other)
    rec = json.loads((case.recovery_dir / "journal.json").read_text())
    rec["VoxelSHA256"] = "0" * 64
    (case.recovery_dir / "journal.json").write_text(json.dumps(rec))
    with pytest.raises(ProvenanceError):
        read_journal(case.recovery_dir)
    with pytest.raises(GeometryError):
        write_journal(tmp_path / "r", np.zeros((2, 2, 2), np.uint8), grid)


# --- paint tracking ----------------------------------------------------------------


def test_touched_from_box_mask_and_full():
    box = (slice(4, 5), slice(10, 14), slice(0, 3))
    mask = np.zeros((1, 4, 3), bool)
    mask[0, 1, 1] = True
    assert touched_from_box(box, mask, np.array([0]), 3, axis=0) == {3: {4}}
    # erasing label 2 touches label 2
    assert touched_from_box(box, mask, np.array([2]), 0, axis=0) == {2: {4}}
    # mask None: the whole box, old values are the box snapshot
    old = np.zeros((1, 4, 3), np.uint8)
    old[0, 0, 0] = 5
    assert touched_from_box(box, None, old, 1, axis=0) == {1: {4}, 5: {4}}
    # painting on another axis (sagittal): the slices are column indices
    box = (slice(0, 3), slice(0, 2), slice(7, 8))
    mask = np.zeros((3, 2, 1), bool)
    mask[1, 0, 0] = True
    assert touched_from_box(box, mask, np.array([0]), 1, axis=2) == {1: {7}}


def test_touched_from_indices_and_diff():
    idx = (np.array([1, 1, 3]), np.array([0, 1, 2]), np.array([0, 0, 0]))
    assert touched_from_indices(idx, np.array([0, 2, 0]), 1, axis=0) == {1: {1, 3}, 2: {1}}
    assert touched_from_indices(idx, np.array([1, 1, 1]), 1, axis=0) == {}
    a = np.zeros((5, 4, 4), np.uint8)
    b = a.copy()
    b[2, 1, 1] = 3
    a[4, 0, 0] = 1
    assert touched_from_diff(a, b, axis=0) == {3: {2}, 1: {4}}


def test_tracker_undo_redo_fill_and_navigation():
    t = SliceTracker(SliceEdits({1: [0]}, axis=0))
    t.record("paint", {1: {5}}, 0)
    t.record("paint", {1: {10}}, 0)
    t.record("fill", {1: set(range(1, 5)) | set(range(6, 10))}, 0)
    assert t.painted() == {1: [0, 5, 10]}
    assert t.interpolated() == {1: [1, 2, 3, 4, 6, 7, 8, 9]}
    t.record("paint", {1: {7}}, 0)  # painting a filled slice makes it painted
    assert 7 not in t.interpolated()[1] and 7 in t.painted()[1]
    t.undo()
    assert 7 in t.interpolated()[1]
    t.undo()  # the fill
    assert t.interpolated() == {}
    t.redo()
    assert t.interpolated()[1][0] == 1
    t.undo()
    t.undo()
    t.undo()
    assert t.painted() == {1: [0]}  # the loaded slices are not undoable
    assert t.undo() is None
    t.redo()
    t.redo()
    assert t.gaps(1) == [(1, 4), (6, 9)]
    assert t.next_gap(1, 0) == 1 and t.next_gap(1, 2) == 6 and t.next_gap(1, 8, -1) == 6
    assert t.next_painted(1, 0) == 5 and t.next_painted(1, 5, -1) == 0 and t.next_painted(1, 10) is None
    # a new record clears redo
    t.record("paint", {2: {3}}, 0)
    assert not t.can_redo


def test_tracker_history_limit_and_axes():
    t = SliceTracker(history_limit=3)
    for z in range(5):
        t.record("paint", {1: {z}}, 0)
    for _ in range(5):
        t.undo()
    assert t.painted() == {1: [0, 1]}  # fell off the undo history: permanent
    t.record("paint", {2: {4}}, 2)
    assert t.axis == 2 and t.axis_for(2) == 2 and t.axis_for(1) == 0
    assert t.painted(2) == {2: [4]} and t.painted(0) == {1: [0, 1]}
    t.commit()
    assert not t.can_undo and t.painted(0) == {1: [0, 1]}
