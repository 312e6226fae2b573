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
