"""The case folder: one per series, the unit every ctlabel tool reads and writes.

Layout (defined here only)::

    <case>/
      ct.nii.gz, ct.json          the image and its provenance
      labels.tsv                  the label table
      masks/draft_dseg.nii.gz     the editable working mask (+ .json), replaced atomically
      masks/draft-<reader>_dseg.nii.gz  a reader's own draft of a double-read case (+ .json)
      masks/vNNN_dseg.nii.gz      frozen versions (+ .json), never overwritten
      masks/recovery/             the autosave journal of an editing session
      case.json                   state and event log
      case.lock                   present while somebody edits the case
      case.decision.lock          present while a review decision is written (a moment)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np

from ctlabel.errors import CaseError, CtlabelError, GeometryError
from ctlabel.io.atomic import write_json
from ctlabel.io.image import load_image, save_image
from ctlabel.io.labels import LabelTable, default_label_table, read_label_table, write_label_table
from ctlabel.io.mask import Mask, MaskFields, load_mask, mask_fields, save_mask
from ctlabel.io.provenance import read_mask_sidecar, read_sidecar, sidecar_path
from ctlabel.model import CaseRecord, CaseState, MaskProvenance
from ctlabel.volume import Grid, Volume

IMAGE = "ct.nii.gz"
LABELS = "labels.tsv"
MASKS = "masks"
DRAFT = "draft_dseg.nii.gz"
RECORD = "case.json"
LOCK = "case.lock"
DECISION_LOCK = "case.decision.lock"
RECOVERY = "recovery"
_VERSION = re.compile(r"^v(\d{3,})_dseg\.nii\.gz$")
_READER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_reader(reader: str) -> str:
    """A reader's name as it goes into a file name (no separators, no ``..``); CaseError otherwise."""
    if not isinstance(reader, str) or not _READER.match(reader) or ".." in reader:
        raise CaseError(f"not a reader name for a file: {reader!r}")
    return reader


@dataclass(frozen=True)
class Case:
    """Paths and basic reads/writes of one case folder."""

    root: Path

    def __post_init__(self) -> None:
        """Accept any path (``Case("cases/x")``); anything else is a :class:`CaseError` saying so."""
        if not isinstance(self.root, Path):
            if not isinstance(self.root, (str, os.PathLike)):
                raise CaseError(f"a case is a folder path (str or PathLike), not {type(self.root).__name__}")
            object.__setattr__(self, "root", Path(self.root))

    # --- layout -----------------------------------------------------------
    @property
    def image_path(self) -> Path:
        return self.root / IMAGE

    @property
    def image_sidecar(self) -> Path:
        return sidecar_path(self.image_path)

    @property
    def labels_path(self) -> Path:
        return self.root / LABELS

    @property
    def masks_dir(self) -> Path:
        return self.root / MASKS

    @property
    def draft_path(self) -> Path:
        return self.masks_dir / DRAFT

    @property
    def record_path(self) -> Path:
        return self.root / RECORD

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK

    @property
    def recovery_dir(self) -> Path:
        return self.masks_dir / RECOVERY

    def reader_draft_path(self, reader: str) -> Path:
        """The draft of one reader of a double-read case: ``masks/draft-<reader>_dseg.nii.gz``."""
        return self.masks_dir / f"draft-{check_reader(reader)}_dseg.nii.gz"

    def version_path(self, number: int) -> Path:
        return self.masks_dir / f"v{number:03d}_dseg.nii.gz"

    def versions(self) -> list[int]:
        """Numbers of the frozen versions present, ascending."""
        if not self.masks_dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.masks_dir.iterdir() if (m := _VERSION.match(p.name)))

    # --- open / create ------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike) -> Case:
        """Open an existing case folder; raise :class:`CaseError` if it is not one."""
        root = Path(root)
        if not (root / IMAGE).is_file():
            raise CaseError(f"not a ctlabel case folder (no {IMAGE})", root)
        return cls(root)

    @staticmethod
    def is_case(path: str | os.PathLike) -> bool:
        return (Path(path) / IMAGE).is_file()

    @classmethod
    def create(
        cls,
        root: str | os.PathLike,
        volume: Volume,
        *,
        label_table: LabelTable | None = None,
        pseudonymize_salt: str | None = None,
    ) -> Case:
        """Write a new case folder: image, sidecar, label table and an empty case record.

        Raises
        ------
        CaseError
            ``root`` exists and is not an empty folder (nothing in it is touched), or it
            cannot be written.
        """
        case = cls(Path(root))
        _require_empty_writable(case.root)
        case.masks_dir.mkdir(parents=True, exist_ok=True)
        record = save_image(case.image_path, volume, pseudonymize_salt=pseudonymize_salt)
        write_label_table(case.labels_path, label_table or default_label_table())
        if not case.record_path.exists():
            write_json(case.record_path, CaseRecord(CaseState.IN_PROGRESS, (), record["VoxelSHA256"]).to_dict())
        return case

    # --- reads ----------------------------------------------------------------
    def load_image(self) -> Volume:
        return load_image(self.image_path)

    def image_record(self) -> dict:
        return read_sidecar(self.image_sidecar)

    def image_grid(self) -> Grid:
        """The image grid, from the NIfTI header (no voxel read)."""
        import nibabel as nib

        img = cast("nib.Nifti1Image", nib.load(os.fspath(self.image_path)))
        return Grid(tuple(int(s) for s in img.shape[:3][::-1]), img.affine.copy())

    def load_labels(self) -> LabelTable:
        if not self.labels_path.exists():
            return default_label_table()
        return read_label_table(self.labels_path)

    def save_labels(self, table: LabelTable) -> None:
        write_label_table(self.labels_path, table)

    def load_draft(self) -> Mask | None:
        """The draft mask checked against the image grid, or None if there is none yet."""
        if not self.draft_path.exists():
            return None
        return load_mask(self.draft_path, self.image_grid(), repair_torn=True)

    def load_reader_draft(self, reader: str) -> Mask | None:
        """One reader's draft checked against the image grid, or None if there is none."""
        path = self.reader_draft_path(reader)
        return load_mask(path, self.image_grid(), repair_torn=True) if path.exists() else None

    def load_version(self, number: int) -> Mask:
        p = self.version_path(number)
        if not p.exists():
            raise CaseError(f"version {number} does not exist", p)
        return load_mask(p, self.image_grid())

    def latest_mask(self) -> Mask | None:
        """The draft if there is one, else the newest frozen version, else None."""
        draft = self.load_draft()
        if draft is not None:
            return draft
        versions = self.versions()
        return self.load_version(versions[-1]) if versions else None

    # --- writes ---------------------------------------------------------------
    def save_draft(self, labels: np.ndarray, grid: Grid, *, target: Path | None = None,
                   fields: MaskFields | None = None, **provenance) -> MaskProvenance:
        """Save the working mask atomically, only if ``grid`` is this case's image grid.

        Parameters
        ----------
        labels : numpy.ndarray
            (slice, row, column) labels.
        grid : Grid
            The grid the mask was painted on.
        target : Path, optional
            Another draft of this case (:meth:`reader_draft_path`); default the draft.
        fields : MaskFields, optional
            What the provenance records beside the voxels. The source identity, image hash and
            label table come from the case when not given; ``created`` and the label methods
            are kept from the previous draft when not given.
        **provenance
            Fields of :class:`~ctlabel.io.mask.MaskFields` to set (:func:`ctlabel.io.mask.mask_fields`).
        """
        target = target or self.draft_path
        image_grid = self.image_grid()
        try:
            image_grid.require_match(grid, "the painted grid", target)
        except GeometryError as exc:
            raise GeometryError(f"{exc.reason} (case image {self.image_path})", target) from None
        f = mask_fields(fields, **provenance)
        img = self.image_record()
        f = replace(f, source=f.source if f.source is not None else img.get("Source"),
                    image_voxel_sha256=f.image_voxel_sha256 or img["VoxelSHA256"],
                    label_table=f.label_table if f.label_table is not None else self.load_labels())
        if f.methods is None and target.exists():
            f = replace(f, methods=carried_methods(target, f.edits.painted))
        if target.exists() and f.created is None:
            try:
                f = replace(f, created=read_mask_sidecar(sidecar_path(target)).created)
            except Exception:  # noqa: BLE001 - an unreadable old sidecar must not block a save
                pass
        return save_mask(target, labels, image_grid, f)


def carried_methods(previous: Path, painted: Mapping | None) -> dict[int, dict]:
    """The label methods of the previous draft, for a save that does not name them.

    A label made by a tool (automatic) that now has hand-painted slices becomes semiautomatic.
    """
    try:
        methods = read_mask_sidecar(sidecar_path(previous)).methods
    except CtlabelError:
        return {}
    out = {}
    for k, method in methods.items():
        if method.get("Kind") == "automatic" and (painted or {}).get(k):
            method["Kind"] = "semiautomatic"
        out[k] = method
    return out


def _require_empty_writable(root: Path) -> None:
    """Refuse a folder that is not empty or not writable: a new case never mixes with other files."""
    if root.exists():
        if not root.is_dir():
            raise CaseError("exists and is not a folder; a new case needs an empty folder", root)
        try:
            entries = next(os.scandir(root), None)
        except OSError as exc:
            raise CaseError(f"cannot read the folder ({exc.strerror})", root) from None
        if entries is not None:
            raise CaseError("the folder is not empty; a new case needs an empty folder", root)
        if not os.access(root, os.W_OK | os.X_OK):
            raise CaseError("the folder is not writable", root)
        return
    parent = root.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CaseError(f"cannot create the case folder: {parent} is not writable", root)


def find_cases(*paths: str | os.PathLike) -> list[Case]:
    """Case folders at or below the given paths."""
    out: list[Case] = []
    for p in paths:
        p = Path(p)
        if Case.is_case(p):
            out.append(Case(p))
        elif p.is_dir():
            out += [Case(f.parent) for f in sorted(p.rglob(IMAGE))]
    return out


__all__ = ["Case", "check_reader", "find_cases"]
