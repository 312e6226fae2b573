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
    assert e.painted == {3: (1, 5)} and e.slice_axis == "slice"
    # a label erased to nothing stays listed with no slices (the sidecar's Present: false)
    assert e.for_present([]).painted == {3: ()} and e.for_present([3]).interpolated == {3: (2, 3, 4)}
    read = SliceEdits.from_sidecar({"3": {"PaintedSlices": [5, 1], "InterpolatedSlices": []}}, "row")
    assert read.painted == {3: (1, 5)} and read.interpolated == {} and read.axis == 1
    with pytest.raises(ValueError, match="SliceAxis"):
        SliceEdits.from_sidecar({}, "time")
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


def _shared_records():
    """Every case record and mask sidecar of the committed old case and of a fresh reviewed case."""
    from pathlib import Path

    old = Path(__file__).parent / "data" / "cases" / "v0.2.0" / "phantom_case"
    return [old / "case.json"], sorted((old / "masks").glob("v*_dseg.json"))


def test_case_records_round_trip_and_are_validated():
    import json

    from ctlabel.model import CaseRecord, CaseState

    [path], _ = _shared_records()
    d = json.loads(path.read_text())
    rec = CaseRecord.from_dict(d)
    assert rec.state is CaseState.APPROVED and rec.approved_version == "v002"
    assert [e.action for e in rec.events][-1] == "approved" and rec.events[-1].who == "rita"
    assert rec.to_dict() == d
    assert json.dumps(rec.to_dict(), sort_keys=True) == json.dumps(d, sort_keys=True)
    with pytest.raises(ValueError, match="unknown case State"):
        CaseRecord.from_dict({**d, "State": "finished"})
    with pytest.raises(ValueError):
        CaseRecord.from_dict({**d, "Events": [{**d["Events"][0], "Action": "teleported"}]})
    with pytest.raises(ValueError, match="Events must be a list"):
        CaseRecord.from_dict({**d, "Events": "none"})


def test_mask_provenance_round_trips_and_gives_the_slice_edits():
    import json

    from ctlabel.io.provenance import validate
    from ctlabel.model import MaskProvenance

    _, sidecars = _shared_records()
    assert len(sidecars) == 2
    for path in sidecars:
        d = json.loads(path.read_text())
        prov = MaskProvenance.from_dict(d)
        assert prov.to_dict() == d
        validate(prov.to_dict())
        assert prov.edits.axis == 0 and prov.version == path.name[:4]
        for lab, entry in d["Labels"].items():
            assert list(prov.edits.painted.get(int(lab), ())) == sorted(entry["PaintedSlices"])
    with pytest.raises(ValueError, match="VoxelSHA256"):
        MaskProvenance.from_dict({**d, "VoxelSHA256": "abc"})
    with pytest.raises(ValueError, match="SliceAxis"):
        MaskProvenance.from_dict({**d, "SliceAxis": "time"})
    with pytest.raises(ValueError, match="negative slice"):
        MaskProvenance.from_dict({**d, "Labels": {"1": {**d["Labels"]["1"], "PaintedSlices": [-2]}}})


def test_a_record_leaves_out_what_its_file_did_not_have():
    """A record without SchemaVersion or ImageVoxelSHA256 is written back without them; a fresh one has all."""
    import json

    from ctlabel.model import CaseRecord, CaseState

    [path], _ = _shared_records()
    d = json.loads(path.read_text())
    for missing in ("SchemaVersion", "ImageVoxelSHA256"):
        partial = {k: v for k, v in d.items() if k != missing}
        assert list(CaseRecord.from_dict(partial).to_dict().items()) == list(partial.items()), missing
    assert CaseRecord(CaseState.IN_PROGRESS).to_dict() == {"SchemaVersion": "1.0", "State": "in_progress",
                                                           "ImageVoxelSHA256": None, "Events": []}


def test_event_attributes_are_the_stored_fields():
    """Every event of the v0.2.0 case and of the review day (tests/data/saved_bytes/review) read as attributes."""
    import json
    from pathlib import Path

    from ctlabel.model import CaseRecord

    [old], _ = _shared_records()
    day = Path(__file__).parent / "data" / "saved_bytes" / "review" / "12_image_replaced__case.json"
    raws = [ev for path in (old, day) for ev in json.loads(path.read_text())["Events"]]
    events = [ev for path in (old, day) for ev in CaseRecord.from_dict(json.loads(path.read_text())).events]
    assert len(events) == len(raws) >= 30
    assert {e.action for e in events} >= {"withdrawn", "read", "accepted", "imported", "image_replaced"}
    for raw, ev in zip(raws, events, strict=True):
        assert (ev.who, ev.role, ev.when, ev.action, ev.version) == (raw["Who"], raw["Role"], raw["When"],
                                                                    raw["Action"], raw.get("Version"))
        assert ev.voxel_sha256 == raw.get("VoxelSHA256") and ev.comment == raw.get("Comment")
        assert ev.previous_event_sha256 == raw.get("PreviousEventSHA256") and ev.reader == raw.get("Reader")
        assert dict(ev.files) == (raw.get("Files") or {}) and list(ev.reads) == (raw.get("Reads") or [])
        assert ev.creates is raw.get("Creates", True) and ev.forced is bool(raw.get("Forced"))
        assert list(ev.qa_errors) == (raw.get("QAErrors") or []) and ev.fusion == raw.get("Fusion")
        assert ev.new_image_voxel_sha256 == raw.get("NewImageVoxelSHA256")
        assert ev.to_dict() == raw and list(ev.to_dict()) == list(raw)


def test_sidecars_and_records_read_and_written_back_give_the_same_bytes():
    """MaskProvenance and CaseRecord are the readers and writers: a file read and written back is the file.

    Over the v0.2.0 case and every file the recorded editing day wrote (tests/data/saved_bytes);
    key order included (write_json's form), so a typed rewrite changes no byte and no event hash.
    """
    import json
    from pathlib import Path

    from ctlabel.model import CaseRecord, MaskProvenance

    def dumped(d):
        return json.dumps(d, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    records, sidecars = _shared_records()
    saved = sorted((Path(__file__).parent / "data" / "saved_bytes").rglob("*.json"))
    records += [p for p in saved if p.name.endswith("__case.json")]
    sidecars += [p for p in saved if p.name.endswith("_dseg.json")]
    assert len(records) >= 7 and len(sidecars) >= 7
    for path in sidecars:
        text = path.read_text()
        assert dumped(MaskProvenance.from_dict(json.loads(text)).to_dict()) == text, path.name
    for path in records:
        text = path.read_text()
        assert dumped(CaseRecord.from_dict(json.loads(text)).to_dict()) == text, path.name
