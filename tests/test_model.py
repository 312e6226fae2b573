"""The domain model: enums equal their strings on disk, values are validated when built, JSON round trips."""

import pytest
from data_paths import CT_DATA, GE_TILT

import ctlabel
from ctlabel.io.provenance import ACTIONS, ROLES, event
from ctlabel.model import (
    Action,
    CaseState,
    Event,
    GeometryWarning,
    SliceEdits,
    StackKind,
    WarningCode,
    warning_codes,
)


@pytest.fixture(scope="module")
def shared_scan():
    return ctlabel.find_series(CT_DATA)


def test_enums_cover_what_is_written_and_equal_its_strings(shared_scan):
    assert set(Action) == set(ACTIONS) and {str(r) for r in ROLES} <= {"annotator", "reviewer", "system"}
    assert CaseState("in_progress") == "in_progress" and StackKind.VOLUME == "volume"
    kinds = {s.kind for s in shared_scan.stacks}
    assert kinds <= set(StackKind)


def test_every_warning_of_the_shared_data_parses_to_a_known_code_and_back(shared_scan):
    warnings = [w for s in shared_scan.stacks for w in s.warnings]
    warnings += ctlabel.load_series(GE_TILT).warnings
    assert len(warnings) >= 3
    for text in warnings:
        w = GeometryWarning.parse(text)
        assert w.code is not WarningCode.OTHER, text
        assert str(w) == text
    assert {WarningCode.GANTRY_TILT, WarningCode.NON_UNIFORM_SPACING} <= warning_codes(warnings)
    assert GeometryWarning.parse("made up text").code is WarningCode.OTHER


def test_slice_edits_are_validated_and_drop_erased_labels():
    e = SliceEdits(painted={"3": [5, 1, 5]}, interpolated={3: [2, 3, 4]}, axis=0)
    assert e.painted == {3: (1, 5)} and e.to_lists()["painted"] == {3: [1, 5]}
    assert e.for_present([]).painted == {} and e.for_present([3]).interpolated == {3: (2, 3, 4)}
    with pytest.raises(ValueError, match="negative"):
        SliceEdits(painted={1: [-1]})
    with pytest.raises(ValueError, match="positive label"):
        SliceEdits(painted={0: [1]})
    with pytest.raises(ValueError, match="axis"):
        SliceEdits(axis=3)


def test_events_round_trip_with_the_provenance_event_form():
    d = event("ann1", "annotator", "submitted", "v001", VoxelSHA256="ab" * 32)
    e = Event.from_dict(d)
    assert e.action is Action.SUBMITTED and e.to_dict() == d
    with pytest.raises(ValueError):
        Event("x", "boss", "2026-01-01T00:00:00Z", "saved")
    with pytest.raises(ValueError):
        Event(" ", "annotator", "2026-01-01T00:00:00Z", "saved")
