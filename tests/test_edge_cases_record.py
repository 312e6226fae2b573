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
