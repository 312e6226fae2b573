"""What a scan finds: stacks of images (or non-image objects) and the files it skipped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ctlabel.dicom.headers import (
    SliceHeader,
)
from ctlabel.model import StackKind


@dataclass
class FileProblem:
    """A file that was skipped or could not be read, and why."""

    path: str
    reason: str
    fatal: bool = True
    #: The SeriesInstanceUID, when the header got that far.
    series_uid: str = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class SeriesInfo:
    """Series-level header values shared by the files of a stack."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    series_number: int | None
    description: str
    modality: str
    sop_class_uid: str
    rows: int
    columns: int
    #: Values of the identifying attributes (:data:`ctlabel.deid.IDENTIFYING_KEYWORDS`) of the stack's
    #: files: only to clean descriptions, never written.
    identifying: tuple[str, ...] = ()
    #: BurnedInAnnotation: ``YES`` when any file of the stack says so, else as the first file says.
    burned_in_annotation: str = ""


@dataclass
class Stack(SeriesInfo):
    """One image stack (or non-image object) found by :func:`find_series`.

    ``slices`` are sorted along the slice normal for image kinds.
    """

    kind: StackKind = StackKind.VOLUME
    slices: list[SliceHeader] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    spacing: tuple[float, float, float] | None = None
    index: int = 0
    #: Why a single image is not converted on its own: it was split off a larger series.
    split_off: str = ""

    @property
    def files(self) -> list[str]:
        return list(dict.fromkeys(s.path for s in self.slices))

    @property
    def n_slices(self) -> int:
        return len(self.slices)

    @property
    def size(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        return (self.n_slices, self.rows, self.columns)

    @property
    def geometry_hash(self) -> str:
        """Short hash of orientation, matrix and slice positions: tells stacks of one series apart."""
        h = hashlib.sha256()
        first = self.slices[0] if self.slices else None
        h.update(repr((self.rows, self.columns)).encode())
        if first is not None and first.orientation is not None:
            h.update(np.round(np.asarray(first.orientation), 4).tobytes())
        for s in self.slices:
            if s.position is not None:
                h.update(np.round(np.asarray(s.position), 3).tobytes())
        return h.hexdigest()[:8]

    def instances(self) -> list[tuple[str, int, tuple[float, float, float] | None]]:
        """``(SOPInstanceUID, frame, ImagePositionPatient)`` of every slice."""
        return [(s.sop_instance_uid, s.frame, s.position) for s in self.slices]

    def summary(self) -> dict:
        """The stack as data: what ``ctlabel scan --json`` prints."""
        return {
            "index": self.index,
            "kind": self.kind,
            "description": self.description,
            "series_number": self.series_number,
            "modality": self.modality,
            "slices": self.n_slices,
            "size": list(self.size),
            "spacing": None if self.spacing is None else [round(v, 4) for v in self.spacing],
            "warnings": list(self.warnings),
            "split_off": self.split_off,
            "references": list(self.references),
            "files": self.files,
        }


@dataclass
class ScanResult:
    """Stacks found under some paths, and the files that were skipped or unreadable."""

    stacks: list[Stack]
    problems: list[FileProblem]

    def volumes(self) -> list[Stack]:
        return [s for s in self.stacks if s.kind == StackKind.VOLUME]


__all__ = ["FileProblem", "ScanResult", "SeriesInfo", "Stack"]
