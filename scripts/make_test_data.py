"""Make ``tests/data/ct`` and ``tests/data/anatomy`` from the public data in ``../shared/data``.

Run once by a maintainer (``python scripts/make_test_data.py [SOURCE]``, SOURCE defaults to
``../shared/data``); the tests read only the copy in the repository. What the copy changes:

* ``ct/dcmqa_ct_philips_brain/dicom/S21570/S2020`` (the 140-slice 1 mm Philips series, 72 MB
  uncompressed) is re-encoded to JPEG-LS lossless (17 MB). Every header element other than the
  transfer syntax and the pixel data is kept; the decoded pixels are checked equal to the source's,
  so every slice, its position and its HU values are those of the published series.
* The files of ``totalseg_body_ct_dicom``, which ``sample_data/totalseg_body_ct`` holds byte for
  byte, are relative symbolic links to it, not a second copy. The Philips 5 mm series ``S2010`` is
  also in ``sample_data/philips_ct_5mm`` but is copied: the session's DIRFILE lists its files, and
  ctlabel refuses an index entry that leads outside the index's folder through a link. Git stores
  the two identical copies as one object, so the repository does not grow by them.
* Each folder keeps its ``LICENSE_AND_SOURCE.txt`` (with a note of these changes appended) and a
  ``SHA256SUMS.txt`` of the files stored; the Philips folder also keeps the source's list as
  ``SHA256SUMS_source.txt``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import JPEGLSLossless

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data"
S2020 = Path("dcmqa_ct_philips_brain") / "dicom" / "S21570" / "S2020"
#: Folders of the source whose files ``sample_data`` holds already (source folder -> sample folder).
IN_SAMPLES = {Path("totalseg_body_ct_dicom"): ROOT / "sample_data" / "totalseg_body_ct"}
NOTE = """
==== Changes in this copy (ctlabel tests/data, made by scripts/make_test_data.py) ====
{changes}
SHA256SUMS.txt lists the files as stored here.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reencode(src: Path, dst: Path) -> None:
    """``src`` written to ``dst`` as JPEG-LS lossless, its decoded pixels checked equal."""
    ds = pydicom.dcmread(src)
    before = ds.pixel_array.copy()
    ds.compress(JPEGLSLossless, generate_instance_uid=False)
    ds.save_as(dst, enforce_file_format=True)
    after = pydicom.dcmread(dst).pixel_array
    if before.dtype != after.dtype or not np.array_equal(before, after):
        raise SystemExit(f"{dst}: decoded pixels differ from {src}")


def link_or_copy(src: Path, dst: Path, rel: Path) -> str:
    """Store ``src`` at ``dst``: a link to the identical file in sample_data, else a copy."""
    for folder, sample in IN_SAMPLES.items():
        if rel.is_relative_to(folder) and rel.name != "LICENSE_AND_SOURCE.txt":  # that one gets a note
            twin = sample / rel.relative_to(folder)
            if twin.is_file() and sha256(twin) == sha256(src):
                dst.symlink_to(os.path.relpath(twin, dst.parent))
                return "link"
    if rel.parent.name == S2020.name and rel.is_relative_to(S2020) and rel.name != "DIRFILE":
        reencode(src, dst)
        return "jpeg-ls"
    shutil.copy2(src, dst)
    dst.chmod(0o644)
    return "copy"


def make(source: Path, kind: str, name: str) -> None:
    src_root, out_root = source / kind / name, OUT / kind / name
    if out_root.exists():
        shutil.rmtree(out_root)
    how: dict[str, int] = {}
    for src in sorted(p for p in src_root.rglob("*") if p.is_file()):
        rel = src.relative_to(src_root)
        dst = out_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.name == "SHA256SUMS.txt":
            continue
        done = link_or_copy(src, dst, Path(name) / rel)
        how[done] = how.get(done, 0) + 1
    listed = [line.split(maxsplit=1)[1] for line in (src_root / "SHA256SUMS.txt").read_text().splitlines() if line]
    sums = "".join(f"{sha256(out_root / f)}  {f}\n" for f in listed)
    (out_root / "SHA256SUMS.txt").write_text(sums)
    changes = []
    if how.get("jpeg-ls"):
        shutil.copy2(src_root / "SHA256SUMS.txt", out_root / "SHA256SUMS_source.txt")
        (out_root / "SHA256SUMS_source.txt").chmod(0o644)
        changes.append(f"{S2020.relative_to(name)}: its {how['jpeg-ls']} images re-encoded to JPEG-LS lossless"
                       " (transfer syntax 1.2.840.10008.1.2.4.80) to fit the repository; all other header elements"
                       " kept and the decoded pixels checked equal to the source's. SHA256SUMS_source.txt lists the"
                       " files as published.")
    if how.get("link"):
        changes.append(f"{how['link']} files are relative links to the identical files in sample_data/.")
    if changes:
        lic = out_root / "LICENSE_AND_SOURCE.txt"
        lic.write_text(lic.read_text() + NOTE.format(changes="\n".join(changes)))
    print(f"{kind}/{name}: {how}")


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "data").resolve()
    for kind in ("ct", "anatomy"):
        for folder in sorted(p for p in (source / kind).iterdir() if p.is_dir()):
            make(source, kind, folder.name)


if __name__ == "__main__":
    main()
