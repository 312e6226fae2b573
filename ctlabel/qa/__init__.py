"""Quality checks of a mask against its image and label table.

Each :class:`Finding` has a check name, a level (``error`` or ``warning``), the
label, a message, and a location: the slice index ``k`` (array axis 0 unless the
mask's provenance says another ``SliceAxis``) and one voxel ``(slice, row, column)``
on which a viewer can centre. ``ctlabel qa`` exits 1 when any finding is an error.

Checks (see ``docs/review.md``):

geometry            error    the mask grid is not the image grid (nothing else is checked)
unknown_label       error    a label value that the label table does not list
empty_label         warning  a label the provenance lists (painted / interpolated) that has no voxels
soft_tissue_on_air  error    a soft-tissue or fluid label with more than half its voxels below -500 HU
small_island        warning  a connected piece smaller than ``min_island_mm3`` apart from the label's largest
hole                warning  background fully enclosed by a label within a slice
interpolated_outside_painted  error  an interpolated slice beyond the label's first or last painted slice
far_from_painted    warning  an interpolated slice with no painted slice within ``max_gap`` slices
on_padded_slice     warning  label voxels on a slice padded where the acquisition skipped a position
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ctlabel.case import Case
from ctlabel.errors import CtlabelError, GeometryError, InputError
from ctlabel.labels import Label, LabelTable
from ctlabel.mask_io import Mask
from ctlabel.qa.checks import CHECKS, ERROR, NOT_ON_AIR, REGISTRY, WARNING, Context, QAOptions
from ctlabel.volume import Volume


@dataclass
class Finding:
    check: str
    level: str
    message: str
    label: int | None = None
    slice: int | None = None
    voxel: tuple[int, int, int] | None = None
    axis: int = 0
    source: str = ""

    def to_dict(self) -> dict:
        return {"check": self.check, "level": self.level, "label": self.label, "slice": self.slice,
                "voxel": None if self.voxel is None else [int(v) for v in self.voxel], "axis": self.axis,
                "message": self.message, "source": self.source}


@dataclass
class QAReport:
    source: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the input could not be checked at all

    @property
    def ok(self) -> bool:
        return self.error is None and not any(f.level == ERROR for f in self.findings)

    def to_dict(self) -> dict:
        return {"source": self.source, "ok": self.ok, "error": self.error,
                "findings": [f.to_dict() for f in self.findings]}


def table_from_provenance(mask: Mask) -> LabelTable | None:
    labels = []
    for k, v in (mask.provenance.get("Labels") or {}).items():
        if v.get("Name"):
            labels.append(Label(int(k), v["Name"], v.get("Abbreviation", ""), v.get("Color") or "#ff0000",
                                v.get("Tissue") or "other"))
    return LabelTable(tuple(sorted(labels, key=lambda x: x.index))) if labels else None


def check_mask(mask: Mask, image: Volume | None, table: LabelTable | None, options: QAOptions | None = None,
               source: str = "") -> list[Finding]:
    """Run the QA checks of one mask against its image (HU) and label table.

    ``geometry`` runs first: a mask on another grid than the image is reported and nothing
    else is checked. Then every check of :data:`ctlabel.qa.checks.REGISTRY` that
    ``options.checks`` names, in registry order.
    """
    o = options or QAOptions()
    out: list[Finding] = []
    axis = mask.axis

    def add(check, level, msg, label=None, voxel=None, slice_=None):
        if slice_ is None and voxel is not None:
            slice_ = int(voxel[axis])
        out.append(Finding(check, level, msg, label, slice_, voxel, axis, source))

    if image is not None:
        try:
            image.grid.require_match(mask.grid, "the mask", mask.path)
        except GeometryError as exc:
            if "geometry" in o.checks:
                add("geometry", ERROR, exc.reason)
            return out
    ctx = Context(mask, image, table, o, add)
    for name, run in REGISTRY.items():
        if name in o.checks:
            run(ctx)
    return out


def resolve_target(spec: str | os.PathLike, image: str | os.PathLike | None = None
                   ) -> tuple[Mask, Volume | None, LabelTable | None]:
    """The mask, image and label table for ``CASE``, ``CASE@vN`` or a mask file."""
    from ctlabel.compare import resolve_mask
    from ctlabel.image_io import load_image

    mask, case = resolve_mask(spec)
    if image is not None:
        vol = load_image(image)
    elif case is not None:
        vol = case.load_image()
    else:
        vol = None
    table = case.load_labels() if case is not None and case.labels_path.exists() else table_from_provenance(mask)
    return mask, vol, table


def qa_target(spec: str | os.PathLike, options: QAOptions | None = None, *, image=None) -> QAReport:
    """QA of one case (its latest mask), ``CASE@vN`` or mask file; errors of reading go in the report."""
    rep = QAReport(str(spec))
    try:
        mask, vol, table = resolve_target(spec, image)
        rep.findings = check_mask(mask, vol, table, options, str(spec))
        if vol is None:
            rep.findings.insert(0, Finding("geometry", WARNING, "no image found (pass --image); HU and geometry "
                                           "checks skipped", source=str(spec)))
    except CtlabelError as exc:
        rep.error = str(exc)
    return rep


def expand_targets(paths) -> list[str]:
    """Case folders under any folder given that is not itself a case; files and CASE@v pass through."""
    from ctlabel.case import find_cases

    out: list[str] = []
    for p in paths:
        s = str(p)
        if "@" in s or Path(s).is_file() or Case.is_case(s):
            out.append(s)
        elif Path(s).is_dir():
            found = find_cases(s)
            if not found:
                raise InputError("no case folder or mask here", s)
            out += [str(c.root) for c in found]
        else:
            raise InputError("no such case folder or mask file", s)
    return out


__all__ = ["CHECKS", "ERROR", "NOT_ON_AIR", "WARNING", "Finding", "QAOptions", "QAReport", "check_mask",
           "expand_targets", "qa_target", "resolve_target", "table_from_provenance"]
