"""Uploads of masks: checked completely before anything is stored.

Before a byte of an upload's body is read (:func:`admit`), the case must exist (404), be the
caller's to upload to (403) and ``If-Match`` must name its current hash (409). An upload is then
received into ``PROJECT/tmp`` (never more than the project's size limit, default 512 MiB: 413),
must be a NIfTI-1/2 file (422) whose header declares exactly the case grid, checked before any
voxel is read, its voxels read no further than the header declares (a file holding more: 422;
:func:`ctlabel.io.nifti.read_nifti`), and hold only label values of the project's label table
(422). It names, in ``If-Match``, the hash of the draft it
started from (:func:`current_etag`: the draft's voxel hash, else the latest version's, else
``none``); anything else is stale (409) and is never merged or written. An accepted draft is
stored through :func:`ctlabel.case.review.save_draft` (a ``saved`` event in the case record), a
reviewer's correction through :func:`ctlabel.case.review.correct`.
"""

from __future__ import annotations

import contextlib
import gzip
import struct
import uuid
from pathlib import Path

import numpy as np

from ctlabel.case import reads, review
from ctlabel.case.folder import Case
from ctlabel.errors import GeometryError, InputError
from ctlabel.io.labels import read_label_table
from ctlabel.io.mask import Mask, labels_present
from ctlabel.io.nifti import read_nifti
from ctlabel.model import MaskProvenance, SliceEdits
from ctlabel.painting.tracking import changed_slices
from ctlabel.team import project as layout
from ctlabel.team.db import CaseRow, Upload, User
from ctlabel.team.etags import NO_MASK, current_etag, editable_mask_path
from ctlabel.team.service import Conflict, Invalid, Service, TooLarge

CHUNK = 1024 * 1024


class Spool:
    """An upload being received into ``PROJECT/tmp``; removed on close."""

    def __init__(self, svc: Service, limit: int) -> None:
        tmp = svc.root / layout.TMP
        tmp.mkdir(exist_ok=True)
        self.path = tmp / f"upload-{uuid.uuid4().hex}.nii.gz"
        self.limit = limit
        self.size = 0
        self._f = open(self.path, "wb")  # closed in finish() or close()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(f"the upload is larger than the limit of {self.limit} bytes")
        self._f.write(chunk)

    def finish(self) -> Path:
        self._f.flush()
        self._f.close()
        return self.path

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _nifti_kind(path: Path) -> str:
    """``nifti1``/``nifti2`` from the header bytes (gzip or not); Invalid otherwise."""
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            hdr = f.read(540)
    except (OSError, EOFError):
        raise Invalid("the upload is not a NIfTI file (a broken gzip stream)") from None
    if len(hdr) >= 348:
        for order in ("<", ">"):
            size = struct.unpack(order + "i", hdr[:4])[0]
            if size == 348 and hdr[344:348] in (b"n+1\x00", b"ni1\x00"):
                return "nifti1"
            if size == 540 and hdr[4:8] in (b"n+2\x00", b"ni2\x00"):
                return "nifti2"
    raise Invalid("the upload is not a NIfTI-1 or NIfTI-2 file; masks are uploaded as .nii.gz")


def check_mask(svc: Service, case: Case, path: Path) -> Mask:
    """Read an uploaded mask and check it against the case grid and the project's label table."""
    _nifti_kind(path)
    try:  # the header against the case grid before any voxel; then no more bytes than it declares
        data = read_nifti(path, grid=case.image_grid(), what="the uploaded mask")
    except (InputError, GeometryError) as exc:
        raise Invalid(exc.reason) from None
    arr = data.array
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise Invalid("a mask holds whole-number labels")
        arr = arr.astype(np.uint16 if arr.max(initial=0) > 255 else np.uint8)
    if arr.min(initial=0) < 0:
        raise Invalid("a mask holds no negative labels")
    mask = Mask(arr, data.affine, _embedded(data.extension_json), path)
    table = read_label_table(svc.root / layout.LABELS)
    values = set(labels_present(arr))  # the non-zero voxels only: no sort of the whole volume
    unknown = sorted(values - set(table.indices))
    if unknown:
        raise Invalid(f"label value(s) {unknown} are not in the project's label table "
                      f"({', '.join(f'{lab.index} {lab.name}' for lab in table)})")
    return mask


def _embedded(extension) -> MaskProvenance | None:
    """The provenance copy in an upload's header extension; none when there is none or nonsense."""
    try:
        return MaskProvenance.from_dict(extension) if isinstance(extension, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _edits(mask: Mask) -> SliceEdits:
    """The slice edits an upload's header extension records; none when it records none or nonsense."""
    try:
        return mask.edits
    except (KeyError, TypeError, ValueError, AttributeError):
        return SliceEdits()


def _uploader(svc: Service, user: User, name: str, kind: str) -> tuple[CaseRow, str | None]:
    """The case row an upload goes to, once the caller may upload to it; and the caller's read, if any."""
    with svc.tx() as db:
        row = svc.get_case(db, name)
        if kind == "draft":
            svc.claims.require_annotator_of(db, user, row)
        else:
            svc.reviews.require_reviewer_of(db, user, row)
        return row, svc.double_reads.reader_name(db, user, row) if kind == "draft" else None


def _require_base(if_match: str | None, base: str) -> None:
    """Conflict (409) unless ``If-Match`` names ``base``, the hash the case is at."""
    tag = (if_match or "").strip().strip('"')
    if tag.startswith("W/"):
        tag = tag[2:].strip('"')
    if not tag:
        raise Conflict(f"an upload names the draft it started from in If-Match (now {base})")
    if tag != base:
        raise Conflict(f"the case changed since this draft was downloaded (it started from {tag}, the case is "
                       f"now at {base}); download it again, nothing was stored")


def admit(svc: Service, user: User, name: str, if_match: str | None, *, kind: str = "draft") -> None:
    """What an upload must pass before a byte of its body is read: NotFound, Forbidden, Conflict as the rules say.

    The case exists, the caller may upload to it (``draft``: its annotator or reader;
    ``correction``: its reviewer), and ``If-Match`` names the hash it is at now.
    :func:`store_upload` checks all of it again under the case lock once the body is in (so this
    look at the case's files takes no lock: the sidecars are replaced atomically).
    """
    row, reader = _uploader(svc, user, name, kind)
    _require_base(if_match, current_etag(svc.folder(row), reader))


def store_upload(svc: Service, user: User, name: str, path: Path, if_match: str | None, *, kind: str = "draft",
                 comment: str | None = None) -> dict:
    """Check a received mask and store it as the case draft (or a reviewer's correction).

    Raises Invalid (422) for a file that is not a mask of this case, Conflict (409) when
    ``if_match`` is missing or not the current hash, Forbidden/NotFound as the rules say.
    """
    row, reader = _uploader(svc, user, name, kind)
    case_id = row.id
    case = svc.folder(row)
    mask = check_mask(svc, case, path)
    size = path.stat().st_size
    with svc.case_lock(case_id):
        base = current_etag(case, reader)
        _require_base(if_match, base)
        edits = _edits(mask)
        if reader is not None:
            written = svc.change(reads.save_read, case, reader, mask.array, mask.grid, user.name, annotator=user.name,
                                 edits=edits)
            new = written.voxel_sha256
        elif kind == "draft":
            written = svc.change(review.save_draft, case, mask.array, mask.grid, user.name, role="annotator",
                                 annotator=user.name, edits=edits)
            new = written.voxel_sha256
        else:
            painted = changed_slices(case.load_version(case.versions()[-1]).array, mask.array)
            svc.change(review.correct, case, mask.array, mask.grid, user.name, painted=painted, comment=comment)
            new = current_etag(case)
        with svc.tx() as db:
            row = db.get_one(CaseRow, case_id)
            svc.sync(db, row)
            if kind == "draft" and row.annotator_id == user.id:
                svc.renew(db, row)
            elif reader is not None:
                svc.double_reads.renew_read(db, user, row)
            db.add(Upload(case_id=case_id, user_id=user.id, kind=kind, base_sha256=base, voxel_sha256=new,
                          size=size))
            svc.log(db, user, row, "upload" if kind == "draft" else "correct", sha256=new, size=size)
            return {"case": row.name, "etag": new, "state": row.state, "size": size}


def save_stream_to(svc: Service, chunks, limit: int | None = None) -> Spool:
    """Write an iterable of byte chunks to a spool file (sync helper for scripts and tests)."""
    spool = Spool(svc, limit or (512 * 1024 * 1024))
    try:
        for c in chunks:
            spool.write(c)
        spool.finish()
    except BaseException:
        spool.close()
        raise
    return spool


__all__ = ["NO_MASK", "Spool", "admit", "check_mask", "current_etag", "editable_mask_path", "store_upload"]
