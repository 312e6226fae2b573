"""A fresh clone runs the tests: the data is in the repository, intact, and nothing reads beside it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from data_paths import ANATOMY, CT2, CT3, CT_DATA, GE_TILT, PHILIPS, PHILIPS_1MM, PHILIPS_5MM, ROOT

TESTS = ROOT / "tests"
#: Ways of reaching data outside the checkout: the maintainers' ``../shared`` and absolute folders.
OUTSIDE = re.compile(r"""shared["'/\\]|["']\.\.["']\s*/\s*["']shared|["']/(work|home|data|mnt|srv)/""")
SOURCES = sorted(p for p in TESTS.rglob("*.py") if p.name != Path(__file__).name)


def test_no_test_reads_data_from_outside_the_repository():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in SOURCES
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def test_the_guard_sees_the_ways_out():
    assert OUTSIDE.search('ROOT / ".." / "shared" / "data"')
    assert OUTSIDE.search("Path('../shared/data/ct')")
    assert OUTSIDE.search('Path("/work/shared/data")')
    assert not OUTSIDE.search('CT_DATA / "pydicom_ct"  # the shared series')


def test_every_data_path_is_inside_the_repository():
    for path in (CT_DATA, PHILIPS, PHILIPS_1MM, PHILIPS_5MM, GE_TILT, CT3, CT2, ANATOMY):
        assert path.is_dir(), path
        assert path.resolve().is_relative_to(ROOT.resolve()), path
    assert {"totalseg_example_ct", "totalseg_cta_aorta"} <= {p.name for p in ANATOMY.iterdir()}


@pytest.mark.parametrize("folder", sorted([*CT_DATA.iterdir(), *ANATOMY.iterdir()]), ids=lambda p: p.name)
def test_data_folder_has_its_licence_and_matches_its_checksums(folder):
    """Each source folder: its licence, and every file of SHA256SUMS.txt present (links resolved) and intact."""
    source = (folder / "LICENSE_AND_SOURCE.txt").read_text()
    assert "github.com" in source and re.search("licen[cs]e", source, re.IGNORECASE)
    lines = [line.split(maxsplit=1) for line in (folder / "SHA256SUMS.txt").read_text().splitlines() if line]
    assert lines
    for digest, name in lines:
        f = folder / name
        assert f.resolve().is_relative_to(ROOT.resolve()), f  # a link stays inside the checkout
        assert hashlib.sha256(f.read_bytes()).hexdigest() == digest, f
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {name for _, name in lines} <= on_disk


def test_the_demo_prints_a_command_that_runs_as_printed(tmp_path):
    """README: ``.venv/bin/ctlabel demo`` without a display; its 'label a case' command, pasted as is."""
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    from ctlabel import Case

    script = os.path.relpath(Path(sys.executable).with_name("ctlabel"), tmp_path)  # as typed: not on PATH
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if Path(p).resolve() != Path(sys.executable).resolve().parent)

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    r = run(script, "demo", "-o", "out")
    assert r.returncode == 0, r.stderr
    [line] = [x for x in r.stdout.splitlines() if x.startswith("label a case")]
    argv = shlex.split(line.split(": ", 1)[1])
    if shutil.which("xvfb-run"):  # no display here: the command starts one
        assert argv[:2] == ["xvfb-run", "-a"], line
        argv = argv[2:]
    exe, verb, case = argv
    assert exe == script and verb == "view" and Case.is_case(tmp_path / case), line
    assert run(exe, "--help").returncode == 0
    # without the virtual display the same command reaches the display check (the case path was accepted)
    r = run(exe, verb, case)
    assert r.returncode == 2 and r.stderr.startswith("error: no display"), r.stderr
    assert f"xvfb-run -a {script} view {case}" in r.stderr and f"{script} demo --batch" in r.stderr


def test_self_command_names_what_runs(tmp_path, monkeypatch):
    import os
    import sys

    from ctlabel.cli.command import self_command

    script = Path(sys.executable).with_name("ctlabel")
    assert self_command("/x/ctlabel/__main__.py", "/opt/v/bin/python") == "/opt/v/bin/python -m ctlabel"
    monkeypatch.setenv("PATH", str(script.parent))
    assert self_command(str(script)) == "ctlabel"  # on PATH: the name runs it
    monkeypatch.setenv("PATH", str(tmp_path))
    assert self_command(str(script)) == str(script)
    monkeypatch.chdir(tmp_path)
    typed = os.path.relpath(script)  # e.g. .venv/bin/ctlabel, as the README types it
    assert self_command(typed) == typed
