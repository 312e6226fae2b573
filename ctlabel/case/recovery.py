"""The autosave journal of an editing session (no GUI).

While a person edits a case, the editor writes the whole label volume and its
slice bookkeeping to ``<case>/masks/recovery/`` at most :func:`autosave_interval`
seconds after any edit. After a crash, reopening the case finds the journal and
offers to restore it. A normal save of the draft clears the journal.

Layout::

    masks/recovery/journal-<seq>.nii.gz   the labels (NIfTI, on the image grid)
    masks/recovery/journal.json           what the journal holds; names the NIfTI

Each write puts a new NIfTI beside the old one (atomically), then replaces
``journal.json`` (atomically), then deletes older NIfTIs. A crash at any point
leaves a complete journal: the old one or the new one. ``journal.json`` records
the voxel hash of the labels, so a mismatched pair is detected on read.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctlabel.errors import CaseError, ProvenanceError
from ctlabel.io.atomic import write_json
from ctlabel.io.nifti import read_nifti, write_nifti
from ctlabel.io.provenance import now_utc
from ctlabel.model import SliceEdits
from ctlabel.volume import Grid, voxel_hash

#: Longest time (s) between an edit and its journal write.
DEFAULT_INTERVAL_S = 30.0
#: Environment variable that sets a shorter interval (seconds; capped at the default).
INTERVAL_ENV = "CTLABEL_AUTOSAVE_S"
JOURNAL = "journal.json"
_PREFIX = "journal-"
_SUFFIX = ".nii.gz"

__all__ = [
    "DEFAULT_INTERVAL_S",
    "Journal",
    "JournalFields",
    "autosave_interval",
    "clear_journal",
    "journal_exists",
    "pending_recovery",
    "read_journal",
    "write_journal",
]


def autosave_interval() -> float:
    """Seconds between an edit and its journal write: ``$CTLABEL_AUTOSAVE_S`` or 30, never above 30."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        value = DEFAULT_INTERVAL_S
    if not np.isfinite(value) or value <= 0:
        value = DEFAULT_INTERVAL_S
    return float(min(max(value, 0.05), DEFAULT_INTERVAL_S))


@dataclass
class Journal:
    """A journal read back."""

    labels: np.ndarray
    grid: Grid
    edits: SliceEdits = field(default_factory=SliceEdits)
    annotator: str | None = None
    events: list[dict] = field(default_factory=list)
    written: str = ""
    sequence: int = 0
    record: dict = field(default_factory=dict)


def _journal_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))


@dataclass(frozen=True)
class JournalFields:
    """What a journal records beside the labels: the edited slices, the axis, who, the events.

    Attributes
    ----------
    edits : SliceEdits
        The painted and interpolated slices per label, and their axis.
    annotator : str, optional
        Who edits.
    events : list of dict, optional
        The events of the mask so far.
    image_voxel_sha256 : str, optional
        The voxel hash of the image the labels were painted on.
    """

    edits: SliceEdits = field(default_factory=SliceEdits)
    annotator: str | None = None
    events: list[dict] | None = None
    image_voxel_sha256: str | None = None


def write_journal(folder: str | os.PathLike, labels: np.ndarray, grid: Grid,
                  fields: JournalFields | None = None) -> Path:
    """Write the journal atomically; return the path of ``journal.json``.

    ``labels`` must not change while this runs (pass a copy when writing from a thread).

    Parameters
    ----------
    folder : path
        The case's recovery folder.
    labels : numpy.ndarray
        The working labels.
    grid : Grid
        The grid of the labels (the case image's).
    fields : JournalFields, optional
        The bookkeeping recorded beside the labels (default: none).

    Returns
    -------
    pathlib.Path
        ``folder/journal.json``.
    """
    f = fields if fields is not None else JournalFields()
    folder = Path(folder)
    grid.require_match(Grid(tuple(labels.shape), grid.affine), "the journal labels", folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = _journal_files(folder)
    seq = 1 + max((int(p.name[len(_PREFIX):-len(_SUFFIX)]) for p in old
                   if p.name[len(_PREFIX):-len(_SUFFIX)].isdigit()), default=0)
    name = f"{_PREFIX}{seq:06d}{_SUFFIX}"
    arr = np.ascontiguousarray(labels)
    write_nifti(folder / name, arr, grid.affine, intent_label=True, descrip="ctlabel recovery journal")
    record = {
        "Kind": "recovery_journal",
        "File": name,
        "Sequence": seq,
        "Written": now_utc(),
        "Host": socket.gethostname(),
        "PID": os.getpid(),
        "Shape": [int(s) for s in arr.shape],
        "Affine": np.asarray(grid.affine, float).tolist(),
        "VoxelSHA256": voxel_hash(arr, grid.affine),
        "ImageVoxelSHA256": f.image_voxel_sha256,
        "SliceAxis": f.edits.axis,
        "Annotator": f.annotator,
        "PaintedSlices": {str(k): list(v) for k, v in f.edits.painted.items()},
        "InterpolatedSlices": {str(k): list(v) for k, v in f.edits.interpolated.items()},
        "Events": list(f.events or []),
    }
    write_json(folder / JOURNAL, record)
    for p in old:
        if p.name != name:
            try:
                p.unlink()
            except OSError:
                pass
    return folder / JOURNAL


def journal_exists(folder: str | os.PathLike) -> bool:
    """True when ``folder`` (a case's recovery folder) holds a journal."""
    return (Path(folder) / JOURNAL).is_file()


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError("there is no recovery journal", folder) from None
    except (OSError, ValueError) as exc:
        raise ProvenanceError(f"the recovery journal is unreadable ({exc})", folder / JOURNAL) from None
    if not isinstance(record, dict) or record.get("Kind") != "recovery_journal":
        raise ProvenanceError("not a recovery journal", folder / JOURNAL)
    return record


def _journal_edits(record: dict, path: Path) -> SliceEdits:
    """The slice edits of a journal (its own form: label -> slices, the axis as a number)."""
    try:
        return SliceEdits(record.get("PaintedSlices") or {}, {}, record.get("InterpolatedSlices") or {},
                          int(record.get("SliceAxis", 0)))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProvenanceError(f"the recovery journal's slices are not valid: {exc}", path) from None


def read_journal(folder: str | os.PathLike, grid: Grid | None = None) -> Journal:
    """Read the journal; check its voxels against the recorded hash and against ``grid``."""
    folder = Path(folder)
    record = _read_record(folder)
    data = read_nifti(folder / record["File"])
    arr = data.array
    if voxel_hash(arr, data.affine) != record.get("VoxelSHA256"):
        raise ProvenanceError("the recovery journal labels do not match their record", folder / record["File"])
    jgrid = Grid(tuple(int(s) for s in arr.shape), data.affine)
    if grid is not None:
        grid.require_match(jgrid, "the recovery journal", folder)
    return Journal(
        labels=arr,
        grid=jgrid,
        edits=_journal_edits(record, folder / JOURNAL),
        annotator=record.get("Annotator"),
        events=list(record.get("Events", [])),
        written=str(record.get("Written", "")),
        sequence=int(record.get("Sequence", 0)),
        record=record,
    )


def clear_journal(folder: str | os.PathLike) -> None:
    """Remove the journal (after a save, or when the person declines to restore)."""
    folder = Path(folder)
    for p in [folder / JOURNAL, *_journal_files(folder)]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CaseError(f"cannot remove the recovery journal ({exc.strerror})", p) from None


def pending_recovery(case) -> dict | None:
    """The journal record of a case when it holds edits newer than the saved draft, else None.

    ``case`` is a :class:`ctlabel.case.folder.Case`. A journal older than the draft (the
    draft was saved later) is stale and not offered.
    """
    folder = Path(case.recovery_dir)
    if not journal_exists(folder):
        return None
    try:
        record = _read_record(folder)
    except (CaseError, ProvenanceError):
        return None
    if not (folder / str(record.get("File", ""))).is_file():
        return None
    draft = Path(case.draft_path)
    if draft.exists() and draft.stat().st_mtime > (folder / JOURNAL).stat().st_mtime:
        return None
    return record
