"""Small CLI contracts: ``view`` without a display or with a bad path, ``demo`` headless, ``verify`` errors.

Every failure is one line ``error: <what>: <reason>`` with exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_paths import ROOT

from ctlabel import Case
from ctlabel.case import review as rv
from ctlabel.cli.main import main
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.provenance import sidecar_path

SAMPLE = ROOT / "sample_data" / "totalseg_body_ct" / "dicom"


def _headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONFAULTHANDLER"] = ""
    return env


def _ctlabel(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True,
                          env=env or _headless_env(), cwd=cwd, timeout=300)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def test_view_without_display_says_how_to_run_headless():
    line = _one_error_line(_ctlabel("view"))
    assert line.startswith("error: no display: ")
    assert "xvfb-run" in line and "ctlabel demo --batch" in line and "ctlabel convert" in line
    # a viewable path does not change that: the display is what is missing
    assert _one_error_line(_ctlabel("view", SAMPLE)).startswith("error: no display: ")


def test_view_offscreen_platform_is_not_refused_for_want_of_a_display(tmp_path):
    env = {**_headless_env(), "QT_QPA_PLATFORM": "offscreen"}
    r = _ctlabel("view", tmp_path / "missing", env=env)
    assert "no display" not in r.stderr  # the path is checked, the display is not asked for
    assert _one_error_line(r) == f"error: {tmp_path / 'missing'}: no such file or folder"


def test_view_bad_path_is_one_line_naming_it_before_any_viewer(tmp_path):
    text = tmp_path / "notdicom.txt"
    text.write_text("not an image\n")
    line = _one_error_line(_ctlabel("view", text))
    assert line.startswith(f"error: {text}: ") and "not a DICOM file" in line
    assert "DICOM folder" in line and "NIfTI" in line  # says what would open
    assert _one_error_line(_ctlabel("view", tmp_path / "nope")) == f"error: {tmp_path / 'nope'}: no such file or folder"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    line = _one_error_line(_ctlabel("view", empty))
    assert line.startswith(f"error: {empty}: ") and "no DICOM" in line


def test_demo_without_display_converts_the_body_ct(tmp_path):
    r = _ctlabel("demo", "-o", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    body = [c for c in report["converted"] if c["description"] == "CT Body 3.0"]
    assert len(body) == 1 and body[0]["size"] == [20, 512, 512]
    assert all("BRAIN" not in c["description"] for c in report["converted"])  # the head phantom is not the demo
    case = Case(Path(body[0]["case"]))
    assert case.load_image().shape == (20, 512, 512)
    assert "liver" in [lab.name for lab in case.load_labels()]
    assert str(Path(body[0]["case"])) in r.stdout


def test_verify_missing_path_says_so(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"


@pytest.fixture
def submitted(tmp_path):
    vol, mask, table = make_phantom(shape=(8, 20, 20))
    case = Case.create(tmp_path / "case", vol, label_table=table)
    case.save_draft(mask, case.image_grid(), painted={1: [3]}, annotator="a")
    rv.submit(case, "a")
    return case


def test_verify_null_sidecar_hash_names_the_file_and_says_it_is_missing(submitted, capsys):
    side = sidecar_path(submitted.version_path(1))
    record = json.loads(side.read_text())
    record["VoxelSHA256"] = None
    side.write_text(json.dumps(record))
    assert main(["verify", str(submitted.root)]) == 1
    out = capsys.readouterr().out
    assert "NoneType" not in out
    problem = next(line for line in out.splitlines() if "v001" in line)
    assert side.name in problem and "missing" in problem
