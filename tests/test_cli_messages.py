"""CLI exit codes and messages (issue 19, item 9): every refusal says what and why, nothing passes silently.

Real data: the in-repo 5 mm Philips head CT (``sample_data/philips_ct_5mm``) and the 20-slice body CT.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from data_paths import ROOT

from ctlabel import Case
from ctlabel.cli.main import build_parser, main
from ctlabel.io.provenance import sidecar_path

PHILIPS = ROOT / "sample_data" / "philips_ct_5mm"
BODY = ROOT / "sample_data" / "totalseg_body_ct" / "dicom"
CTLABEL = Path(sys.executable).parent / "ctlabel"
NOT_DICOM = ("LICENSE", "README.md", "notes.txt", "meta.json")


def _series(dest: Path, n: int | None = None) -> Path:
    """The Philips series (its DICOM files only) copied into ``dest``."""
    dest.mkdir(parents=True)
    for f in sorted(PHILIPS.glob("I*"))[:n]:
        shutil.copy(f, dest / f.name)
    return dest


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CTLABEL), *map(str, args)], capture_output=True, text=True, timeout=300)


# 1. scan of a folder holding only an unreadable file -------------------------------------------
def test_scan_of_only_an_unreadable_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.dcm").write_bytes(b"not a dicom file at all")
    r = _run("scan", bad)
    assert r.returncode == 2, (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: no readable DICOM series (1 file not readable: x.dcm: ")
    assert "DICM" in line  # the reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("scan", empty).returncode == 2  # consistent with an empty folder


def test_scan_json_of_only_unreadable_files_is_an_error_too(tmp_path, capsys):
    (tmp_path / "a.dcm").write_bytes(b"junk")
    (tmp_path / "b.dcm").write_bytes(b"junk")
    assert main(["scan", "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no readable DICOM series (2 files not readable: a.dcm: " in err and "b.dcm" in err


def test_scan_with_a_series_and_an_unreadable_file_lists_both_and_succeeds(tmp_path, capsys):
    src = _series(tmp_path / "s")
    (src / "x.dcm").write_bytes(b"junk")
    assert main(["scan", str(src)]) == 0
    out = capsys.readouterr().out
    assert "unreadable: " in out and "x.dcm" in out and " 28 " in out


# 2. qa of a mask without its image ------------------------------------------------------------
@pytest.fixture(scope="module")
def loose_mask(tmp_path_factory):
    """A mask file outside its case, a soft-tissue label painted on air (an error QA must find)."""
    from ctlabel.intake.convert import convert

    out = tmp_path_factory.mktemp("qa")
    rep = convert([PHILIPS], out / "cases", jobs=1, progress=False)
    case = Case.open(rep.converted[0]["case"])
    shape = case.load_image().shape
    arr = np.zeros(shape, np.uint8)
    arr[shape[0] // 2, :8, :8] = 1  # liver (soft tissue) in the corner: air
    case.save_draft(arr, case.image_grid())
    loose = out / "mask_dseg.nii.gz"
    shutil.copy(case.draft_path, loose)
    shutil.copy(sidecar_path(case.draft_path), sidecar_path(loose))  # its labels: liver is soft tissue
    return loose, case


def test_qa_of_a_mask_without_image_refuses_and_says_which_checks_cannot_run(loose_mask, capsys):
    mask, _ = loose_mask
    assert main(["qa", str(mask)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {mask}: no image") and "soft_tissue_on_air" in err and "geometry" in err
    assert "--image" in err and "--mask-only" in err


def test_qa_mask_only_runs_and_lists_the_checks_that_did_not_run(loose_mask, capsys):
    mask, case = loose_mask
    assert main(["qa", "--mask-only", str(mask)]) == 0
    out = capsys.readouterr().out
    assert "did not run" in out and "soft_tissue_on_air" in out and "geometry" in out
    # with the image the same mask fails: the check that --mask-only left out finds the error
    assert main(["qa", "--image", str(case.image_path), str(mask)]) == 1
    assert "soft_tissue_on_air" in capsys.readouterr().out
    # a case's own mask finds its image: no refusal
    assert main(["qa", str(case.draft_path)]) == 1
    # checks that need no image are not refused
    assert main(["qa", "--only", "unknown_label,small_island", str(mask)]) == 0


# 3. convert into a file ------------------------------------------------------------------------
def test_convert_output_that_is_a_file_says_so(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("a file")
    assert main(["convert", str(PHILIPS), "-o", str(target), "-q"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {target}: the output must be a folder, and this is a file"
    assert target.read_text() == "a file"


# 4. convert says why it skipped ----------------------------------------------------------------
def test_convert_prints_the_reason_of_each_skipped_stack(tmp_path, capsys):
    """Four images of the real series moved to one position: scan and convert give the same reason."""
    src = _series(tmp_path / "src", 4)
    first = pydicom.dcmread(next(iter(sorted(src.iterdir()))))
    for f in src.iterdir():
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = first.ImagePositionPatient
        ds.save_as(f)
    assert main(["scan", str(src)]) == 0
    assert capsys.readouterr().out.count("4 images of this series share one position") == 4
    assert main(["convert", str(src), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1" in out
    assert "SKIPPED" in out and "4 images of this series share one position: not a volume" in out


# 5. non-DICOM files by name are ignored and listed -------------------------------------------------
@pytest.fixture
def with_notes(tmp_path) -> Path:
    src = _series(tmp_path / "src")
    for name in NOT_DICOM:
        (src / name).write_text("{}\n" if name.endswith(".json") else "some text\n")
    return src


def test_convert_ignores_and_lists_license_and_readme(with_notes, tmp_path):
    r = _run("convert", with_notes, "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "converted 1 " in r.stdout and "failed 0" in r.stdout
    line = next(x for x in r.stdout.splitlines() if "ignored" in x)
    assert "ignored 4 non-DICOM files: " in line and all(n in line for n in NOT_DICOM)
    assert "FAILED" not in r.stdout and "SKIPPED" not in r.stdout
    assert len([p for p in (tmp_path / "out").iterdir() if Case.is_case(p)]) == 1


def test_an_unreadable_file_named_like_dicom_still_fails(with_notes, tmp_path, capsys):
    (with_notes / "IM9999.dcm").write_bytes(b"junk")
    assert main(["convert", str(with_notes), "-o", str(tmp_path / "out"), "-q"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "IM9999.dcm" in out and "ignored 4 non-DICOM files" in out


def test_team_add_cases_ignores_license_and_counts_series_not_project_cases(with_notes, tmp_path, capsys):
    project = tmp_path / "proj"
    assert main(["team", "init", str(project)]) == 0
    assert main(["team", "add-cases", str(project), str(BODY)]) == 0  # another case in the project
    capsys.readouterr()
    assert main(["team", "add-cases", str(project), str(with_notes)]) == 0
    out = capsys.readouterr().out
    assert "ignored 4 non-DICOM files: " in out and "FAILED" not in out
    assert out.strip().splitlines()[-1] == "1 case(s) added, 0 already there"
    # 6. run again: the one series is already there (not the project's 2 cases, not its 28 files)
    assert main(["team", "add-cases", str(project), str(with_notes)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "0 case(s) added, 1 already there"


# 7. every option has a help text -----------------------------------------------------------------
def _parsers(parser: argparse.ArgumentParser, prefix: str = "ctlabel"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prefix} {name}")


def test_every_option_of_every_command_has_a_help_text():
    missing = [f"{where} {'/'.join(a.option_strings) or a.dest}"
               for where, p in _parsers(build_parser()) for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and a.option_strings != ["-h", "--help"]
               and (a.option_strings or a.dest != argparse.SUPPRESS) and not (a.help or "").strip()]
    assert missing == []


def test_team_submit_help_explains_force(capsys):
    with pytest.raises(SystemExit):
        main(["team", "submit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--force" in out and "QA" in out.split("--force", 2)[-1]


def test_core_errors_get_the_flags_of_the_command_that_ran(tmp_path, capsys):
    """The core names the parameter a refusal is about (``options``); each command prints its own flag for it."""
    import pickle

    from ctlabel.dicomweb.pull_options import parse_study_date
    from ctlabel.errors import InputError

    with pytest.raises(InputError) as exc:
        parse_study_date("2024-01-01")
    assert exc.value.options == ("study_date",) and "--" not in str(exc.value)
    assert pickle.loads(pickle.dumps(exc.value)).options == ("study_date",)  # a worker's refusal keeps them
    assert main(["pull", "http://127.0.0.1:9/dicom-web", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: say what to pull")
    assert "(--study UID, --series UID, --uids CSV, --study-date FROM-TO)" in err
    assert main(["pull", "http://127.0.0.1:9/dicom-web", "-o", str(tmp_path / "o"), "--study-date", "2024"]) == 2
    assert capsys.readouterr().err.rstrip().endswith("(--study-date FROM-TO)")
    assert main(["export-dataset", str(tmp_path), str(tmp_path / "out"), "--format", "monai", "--split", "2"]) == 2
    assert capsys.readouterr().err.rstrip().endswith("(--split K, --format FORMAT)")


def test_a_refused_positional_argument_is_named_as_the_usage_names_it(tmp_path, capsys):
    """``team readers PROJECT 0``: N is positional, so the hint is ``(N)``, not a flag the command lacks."""
    from ctlabel.cli.main import main

    assert main(["team", "init", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["team", "readers", str(tmp_path / "p"), "0"]) != 0
    err = capsys.readouterr()
    text = err.out + err.err
    assert "not 0" in text and "(N)" in text and "--readers" not in text
