"""Corrupt case files (issue 22): ``verify`` and ``review-status`` name the file and the reason, no traceback.

A real case (pydicom's CT2 series, converted, one version submitted, a draft) gets one of its JSON
files replaced by deeply nested JSON or by values of the wrong type. Every command reports it as
``error: <file>: <reason>`` (``review-status`` exits 2; ``verify`` reports the case as failing, exit 1);
no ``RecursionError``, ``AttributeError`` or ``TypeError`` escapes.
"""

import json
import shutil

import numpy as np
import pytest
from data_paths import CT2

import ctlabel
from ctlabel.case.folder import Case
from ctlabel.case.review import save_draft, submit
from ctlabel.cli.main import main

DEEP = "[" * 100000 + "]" * 100000


@pytest.fixture(scope="module")
def real_case(tmp_path_factory):
    """A converted real series with v001 submitted and a draft beside it."""
    root = tmp_path_factory.mktemp("case")
    rep = ctlabel.convert([CT2 / "dicom"], root / "out", progress=False)
    case = Case(root / "out" / rep.converted[0]["case"])
    vol = case.load_image()
    labels = np.zeros(vol.array.shape, np.uint8)
    labels[0, 2:6, 2:6] = 1
    save_draft(case, labels, vol.grid, "ann")
    submit(case, "ann", force=True)
    shutil.copy(case.version_path(1), case.draft_path)
    shutil.copy(case.version_path(1).with_name("v001_dseg.json"), case.root / "masks" / "draft_dseg.json")
    return case.root


FILES = {"case.json": "case.json", "ct.json": "ct.json", "v001": "masks/v001_dseg.json",
         "draft": "masks/draft_dseg.json"}


def _wrong(name: str, original: dict):
    """Variants of a real file: nested too deeply, or values of the wrong type."""
    d = json.loads(json.dumps(original))
    if name == "deep":
        return DEEP
    if name == "deep-field":
        return json.dumps({**d, "Extra": "x"}).replace('"x"', DEEP)
    if name == "events-zero":
        return json.dumps({"Events": 0})
    if name == "a-list":
        return "[1, 2]"
    if name == "events-ints":
        d["Events"] = [0, 1]
    elif name == "event-fields":
        for ev in d.get("Events") or [{}]:
            ev.update({"Files": [1], "Version": 5, "Reads": "v001", "Who": {}})
        d.setdefault("Events", [{"Files": [1], "Version": 5}])
    elif name == "summary-types":
        d.update({"State": 5, "SchemaVersion": 1, "ApprovedVersion": [], "Kind": {}})
    elif name == "sidecar-types":
        d.update({"Labels": [1, 2], "Geometry": [], "Source": 5, "Sources": {}})
    elif name == "geometry-types":
        d["Geometry"] = {"Warnings": 5, "MissingSlices": ["ab"], "SlicePositionsMM": "x"}
        d["Source"] = {"Slices": 5}
        d["Labels"] = {"1": 5}
    return json.dumps(d)


RECORD_VARIANTS = ["deep", "deep-field", "events-zero", "a-list", "events-ints", "event-fields", "summary-types"]
SIDECAR_VARIANTS = ["deep", "deep-field", "events-zero", "a-list", "events-ints", "summary-types", "sidecar-types",
                    "geometry-types"]


@pytest.mark.parametrize("which", sorted(FILES))
def test_corrupt_json_of_a_case_is_an_error_naming_the_file(real_case, tmp_path, capsys, which):
    for variant in RECORD_VARIANTS if which == "case.json" else SIDECAR_VARIANTS:
        case = tmp_path / variant / real_case.name
        shutil.copytree(real_case, case)
        target = case / FILES[which]
        target.write_text(_wrong(variant, json.loads(target.read_text())))
        for command in ("verify", "review-status"):
            code = main([command, str(case)])  # an escaping exception fails the test
            out = capsys.readouterr()
            text = out.out + out.err
            assert "Traceback" not in text
            if which == "case.json":  # the record: every command refuses the case, naming the file
                assert code == (1 if command == "verify" else 2), (variant, command, text)
                assert f"{target}:" in text and "error" in text, (variant, command, text)
            elif command == "verify":  # a sidecar: verify names it (the draft's is a warning: it is editable)
                assert code == (0 if which == "draft" else 1) and f"{target}:" in text, (variant, text)
            else:  # review-status does not read sidecars
                assert code == 0, (variant, text)


def test_the_bounded_reader_refuses_depth_size_and_non_objects(tmp_path):
    from ctlabel.errors import ProvenanceError
    from ctlabel.io.jsonfile import read_json_object

    p = tmp_path / "x.json"
    for text, reason in ((DEEP, "deeper than"), ('{"a":' * 70 + "1" + "}" * 70, "deeper than"),
                         ("[]", "a list, not a JSON object"), ("{", "not valid JSON")):
        p.write_text(text)
        with pytest.raises(ProvenanceError, match=reason) as err:
            read_json_object(p, "the thing")
        assert err.value.path == str(p)
    p.write_text('{"a": "' + "x" * 2000 + '"}')
    with pytest.raises(ProvenanceError, match="more than the 1000"):
        read_json_object(p, "the thing", max_bytes=1000)
    p.write_text('{"a": ' * 60 + "1" + "}" * 60)
    assert read_json_object(p, "the thing")["a"]


# --- 10. the heads log: malformed, emptied, cut, forged or unchained lines -------------------------

def _two_cases(real_case, tmp_path):
    """The real case and a copy of it beside it, with the log they share; returns (case, other, log)."""
    from ctlabel.case.integrity import HEADS_LOG, append_head

    folder = tmp_path / "cases"
    shutil.copytree(real_case.parent, folder)
    other = folder / "other_case"
    shutil.copytree(folder / real_case.name, other)
    log = folder / HEADS_LOG
    line = [ln for ln in log.read_text().splitlines() if real_case.name in ln][-1]
    d = json.loads(line)
    append_head(Case(other), d["HeadEventSHA256"], d["Events"])  # the copy's head, as ctlabel writes it
    return Case(folder / real_case.name), Case(other), log


def _verify(case, capsys):
    code = main(["verify", "--skip-image", str(case.root)])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


def test_the_heads_log_of_real_events_chains_and_verifies_clean(real_case, tmp_path, capsys):
    import hashlib

    case, other, log = _two_cases(real_case, tmp_path)
    lines = log.read_text().splitlines()
    assert len(lines) >= 2
    previous = ["0" * 64] + [hashlib.sha256(ln.encode()).hexdigest() for ln in lines[:-1]]
    assert [json.loads(ln).get("PreviousLineSHA256") for ln in lines] == previous
    for c in (case, other):
        code, out = _verify(c, capsys)
        assert code == 0 and "heads log" not in out, out


@pytest.mark.parametrize("bad", ["{", "[]", "5", DEEP, '{"Case": "%s", "Events": "abc", "HeadEventSHA256": 1}',
                                 '{"Case": "%s", "Events": {}}', "\x00\xff garbage"])
def test_a_malformed_line_is_a_warning_naming_the_log_for_every_case_beside_it(real_case, tmp_path, capsys, bad):
    case, other, log = _two_cases(real_case, tmp_path)
    bad = bad.replace("%s", case.root.name)
    lines = log.read_text().splitlines()
    log.write_text("\n".join([*lines[:1], bad, *lines[1:], bad]) + "\n")
    for c in (case, other):
        code, out = _verify(c, capsys)
        assert code == 0 and f"{log}: " in out and "malformed" in out, out


def test_an_emptied_log_is_a_warning(real_case, tmp_path, capsys):
    case, _, log = _two_cases(real_case, tmp_path)
    log.write_text("")
    code, out = _verify(case, capsys)
    assert code == 0 and "has no line for this case" in out and str(log) in out, out


def test_a_log_cut_at_its_beginning_or_edited_in_its_middle_is_a_warning(real_case, tmp_path, capsys):
    case, _, log = _two_cases(real_case, tmp_path)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[1:]) + "\n")
    code, out = _verify(case, capsys)
    assert "cut from its beginning" in out, out
    log.write_text("\n".join([lines[0], lines[-1]]) + "\n")  # the middle removed
    code, out = _verify(case, capsys)
    assert "does not chain to the line before it" in out, out


def test_a_forged_line_with_no_events_does_not_hide_a_rollback(real_case, tmp_path, capsys):
    from ctlabel.case.review import approve

    case, _, log = _two_cases(real_case, tmp_path)
    earlier = case.record_path.read_text()
    approve(case, "rev")
    case.record_path.write_text(earlier)  # rolled back to the copy before the approval
    code, out = _verify(case, capsys)
    assert code == 1 and "rolled back" in out, out
    with open(log, "a") as f:
        f.write(json.dumps({"Case": case.root.name, "Events": 0, "HeadEventSHA256": "0" * 64,
                            "When": "2026-01-01T00:00:00Z"}) + "\n")
    code, out = _verify(case, capsys)
    assert code == 1 and "rolled back" in out and "unchained" in out, out


def test_an_old_unchained_log_stays_readable_with_one_warning(real_case, tmp_path, capsys):
    from ctlabel.case.review import approve

    case, _, log = _two_cases(real_case, tmp_path)
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    log.write_text("".join(json.dumps({k: v for k, v in d.items() if k != "PreviousLineSHA256"}) + "\n"
                           for d in lines))
    code, out = _verify(case, capsys)
    assert code == 0 and out.count("are unchained") == 1, out
    earlier = case.record_path.read_text()
    approve(case, "rev")  # a new line, chained to the old last line
    code, out = _verify(case, capsys)
    assert code == 0 and out.count("are unchained") == 1 and "inconsistent" not in out, out
    case.record_path.write_text(earlier)
    code, out = _verify(case, capsys)
    assert code == 1 and "rolled back" in out, out
