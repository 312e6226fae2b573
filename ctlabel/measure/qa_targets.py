"""QA of what a command line names.

A case folder (its latest mask), ``CASE@vN`` or a mask file, and folders of cases. The
checks themselves are :mod:`ctlabel.qa`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ctlabel.case.folder import Case
from ctlabel.errors import CtlabelError, InputError
from ctlabel.io.labels import LabelTable
from ctlabel.io.mask import Mask
from ctlabel.qa import WARNING, Finding, QAOptions, QAReport, check_mask, table_from_provenance
from ctlabel.volume import Volume

#: The checks that need the image (HU values, its grid): they cannot run on a mask alone.
IMAGE_CHECKS = ("geometry", "soft_tissue_on_air", "on_padded_slice")


def resolve_target(spec: str | os.PathLike, image: str | os.PathLike | None = None
                   ) -> tuple[Mask, Volume | None, LabelTable | None]:
    """The mask, image and label table for ``CASE``, ``CASE@vN`` or a mask file."""
    from ctlabel.io.image import load_image
    from ctlabel.measure.compare import resolve_mask

    vol = load_image(image) if image is not None else None
    _bound_mask_file(Path(spec), vol)
    mask, case = resolve_mask(spec)
    if vol is None and case is not None:
        vol = case.load_image()
    table = case.load_labels() if case is not None and case.labels_path.exists() else table_from_provenance(mask)
    return mask, vol, table


def _bound_mask_file(path: Path, vol: Volume | None) -> None:
    """A mask file declaring more voxels than its image is refused from its header, before any voxel is read.

    The image is ``--image``, else the case whose ``masks/`` folder holds the file; a lone file
    with neither is read no further than its header declares (:func:`ctlabel.io.nifti.read_nifti`).
    """
    from ctlabel.io.nifti import read_nifti_header

    if not path.is_file() or path.name.lower().endswith((".nrrd", ".dcm")):
        return
    if vol is not None:
        shape: tuple[int, ...] = vol.array.shape
    elif path.parent.name == "masks" and Case.is_case(path.parent.parent):
        shape = Case.open(path.parent.parent).image_grid().shape
    else:
        return
    declared = read_nifti_header(path).shape
    if math.prod(declared) > math.prod(shape):
        raise InputError(f"its header declares {declared} voxels, more than its image {tuple(shape)}: not read", path)


def qa_target(spec: str | os.PathLike, options: QAOptions | None = None, *, image=None) -> QAReport:
    """QA of one case (its latest mask), ``CASE@vN`` or mask file; errors of reading go in the report."""
    rep = QAReport(str(spec))
    try:
        mask, vol, table = resolve_target(spec, image)
        rep.findings = check_mask(mask, vol, table, options, str(spec))
        not_run = [c for c in IMAGE_CHECKS if c in (options or QAOptions()).checks]
        if vol is None and not_run:
            rep.findings.insert(0, Finding("geometry", WARNING, f"no image: these checks did not run: "
                                           f"{', '.join(not_run)}", source=str(spec)))
    except CtlabelError as exc:
        rep.error = str(exc)
    return rep


def finds_image(spec: str | os.PathLike) -> bool:
    """True when ``spec`` names a case, ``CASE@vN`` or a mask in a case's ``masks/`` (whose image is used).

    A mask file anywhere else has no image unless one is given (as :func:`resolve_target` finds it).

    Parameters
    ----------
    spec : str or PathLike
        A target as :func:`expand_targets` gives it.

    Returns
    -------
    bool
    """
    s = str(spec)
    if "@" in s or Case.is_case(s):
        return True
    p = Path(s)
    return p.parent.name == "masks" and Case.is_case(p.parent.parent)


def expand_targets(paths) -> list[str]:
    """Case folders under any folder given that is not itself a case; files and CASE@v pass through."""
    from ctlabel.case.folder import find_cases

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


__all__ = ["IMAGE_CHECKS", "expand_targets", "finds_image", "qa_target", "resolve_target"]
