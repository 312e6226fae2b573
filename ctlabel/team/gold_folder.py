"""The case folder of a gold serving: the gold case's image and labels under fresh identifiers.

To the annotator a serving must look like any case of the project. A normal case's id is
:func:`ctlabel.case.naming.case_folder_name` of the UIDs its ``ct.json`` records (anybody can
recompute it), so a serving cannot keep the source's ``ct.json`` under a new id. It gets the
source's ``ct.json`` byte for byte with only its UIDs re-issued (study, series, frame of
reference, every SOP instance: :func:`fresh_uid`), and the case id made from them by the same
rule. Everything else is the source's: ``ct.nii.gz`` (a hard link: instant whatever its size,
the same bytes and modification time; a copy keeping the time where a link is refused),
``labels.tsv`` and the modification times of both files (a download's ``Last-Modified``), an empty
``masks/``, and a ``case.json`` with no event, as a converted case has. Its ``GoldServing`` field
names the source and the reference version for the lead, ``verify`` and the exports
(:func:`ctlabel.export.dataset.select_case` refuses a serving); the annotator never receives
``case.json``. The reference mask stays in the source case, which the annotator cannot read.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from pathlib import Path

from ctlabel.case import record as case_record
from ctlabel.case.folder import IMAGE, LABELS, MASKS, RECORD, Case
from ctlabel.case.naming import case_folder_name
from ctlabel.errors import CaseError
from ctlabel.export.dataset import GOLD_SERVING
from ctlabel.io.atomic import write_json
from ctlabel.model import CaseRecord, CaseState

#: The ``case.json`` field that marks a gold serving (never sent to an annotator).
MARKER = GOLD_SERVING
PSEUDONYM_ROOT = "2.25."


def fresh_uid(uid: str, rng: random.Random) -> str:
    """A new UID of the same form as ``uid``.

    A pseudonym (``2.25.<integer>``, :func:`ctlabel.io.provenance.pseudonymize_uid`) becomes
    another pseudonym; any other UID keeps its root (all but its last two components) and gets
    random digits of the same lengths in those two.
    """
    if not uid:
        return uid
    if uid.startswith(PSEUDONYM_ROOT):
        return PSEUDONYM_ROOT + str(rng.getrandbits(128))
    parts = uid.split(".")
    keep = max(1, len(parts) - 2)
    tail = [str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(len(p) - 1)) if p else p
            for p in parts[keep:]]
    return ".".join(parts[:keep] + tail)


def reissued_sidecar(text: str, rng: random.Random) -> tuple[str, str]:
    """``ct.json`` text with its UIDs re-issued, and the case id they make.

    Parameters
    ----------
    text : str
        The source's ``ct.json``.
    rng : random.Random
        Where the new UIDs come from.

    Returns
    -------
    (str, str)
        The new text (only the UID strings differ) and its case id.
    """
    src = json.loads(text).get("Source") or {}
    slices = [s for s in src.get("Slices") or [] if s]
    old = [src.get(k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")]
    old += [s.get("SOPInstanceUID") for s in slices]
    new = {u: fresh_uid(u, rng) for u in old if u}
    for before, after in new.items():
        text = text.replace(json.dumps(before), json.dumps(after))
    served = json.loads(text)["Source"]
    instances = [(s.get("SOPInstanceUID") or "", int(s.get("Frame", 1)), s.get("ImagePositionPatient"))
                 for s in served.get("Slices") or [] if s]
    name = case_folder_name(served.get("StudyInstanceUID", ""), served.get("SeriesInstanceUID", ""),
                            served.get("SeriesNumber"), instances)
    return text, name


def _same_times(src: Path, dst: Path) -> None:
    st = src.stat()
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def make_serving(source: Case, cases_dir: Path, rng: random.Random, marker: dict) -> Path:
    """Make the folder of a new serving of ``source`` in ``cases_dir``; return it.

    Parameters
    ----------
    source : Case
        The gold case.
    cases_dir : path
        ``PROJECT/cases``.
    rng : random.Random
        Where the new UIDs come from.
    marker : dict
        What ``case.json``'s ``GoldServing`` records (source, reference version).

    Returns
    -------
    pathlib.Path
        The new case folder (named like a converted case).
    """
    text, name = reissued_sidecar(source.image_sidecar.read_text(encoding="utf-8"), rng)
    dest = cases_dir / name
    if dest.exists():
        raise CaseError("a case folder of this name exists already", dest)
    tmp = cases_dir / f".gold-{name}.part"
    tmp.mkdir(mode=0o700)
    try:
        try:
            os.link(source.image_path, tmp / IMAGE)
        except OSError:  # a file system without hard links: a copy with the same times
            shutil.copy2(source.image_path, tmp / IMAGE)
        sidecar = Case(tmp).image_sidecar
        sidecar.write_text(text, encoding="utf-8")
        _same_times(source.image_sidecar, sidecar)
        shutil.copy2(source.root / LABELS, tmp / LABELS)
        (tmp / MASKS).mkdir()
        rec = case_record.load_case_record(source)
        fresh = CaseRecord(CaseState.IN_PROGRESS, (), rec.image_voxel_sha256, rec.schema_version, {MARKER: marker})
        write_json(tmp / RECORD, fresh.to_dict())
        os.rename(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return dest


__all__ = ["MARKER", "fresh_uid", "make_serving", "reissued_sidecar"]
