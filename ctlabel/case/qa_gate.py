"""QA at submission: what :func:`ctlabel.case.review.submit` checks before freezing a mask.

``submit`` refuses a mask with QA errors (:mod:`ctlabel.qa`, against the case image and
``labels.tsv``) unless forced, and records a forced submission with its errors. The CLI and
the napari widget show the same findings before they submit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctlabel.case.folder import Case
from ctlabel.errors import StateError
from ctlabel.io.mask import Mask
from ctlabel.qa.groups import describe_finding

if TYPE_CHECKING:
    from ctlabel.qa import Finding


def submission_qa(case: Case, mask: Mask | None = None) -> list[Finding]:
    """QA findings of what :func:`ctlabel.case.review.submit` would freeze: the draft, else the latest version.

    Parameters
    ----------
    case : Case
        The case.
    mask : Mask, optional
        The mask to check (default: the draft, else the latest version).

    Returns
    -------
    list of Finding
        Every finding of :func:`ctlabel.qa.check_mask` against the case image and
        ``labels.tsv``; those with ``level == "error"`` block a submit unless forced.
    """
    from ctlabel.qa import check_mask  # scipy: loaded only when QA runs

    if mask is None:
        mask = case.load_draft() or case.latest_mask()
    if mask is None:
        return []
    return check_mask(mask, case.load_image(), case.load_labels(), source=str(mask.path or case.root))


def qa_gate(case: Case, mask: Mask, force: bool, path) -> dict:
    """Refuse a mask with QA errors unless ``force``; return the event fields recording a forced submit.

    Parameters
    ----------
    case : Case
        The case.
    mask : Mask
        The mask about to be frozen.
    force : bool
        Let the errors pass.
    path : path
        Named in the error.

    Returns
    -------
    dict
        ``{}`` without QA errors, else ``{"Forced": True, "QAErrors": [...]}``.

    Raises
    ------
    StateError
        QA errors and not ``force``; the message lists them.
    """
    errors = [f for f in submission_qa(case, mask) if f.level == "error"]
    if not errors:
        return {}
    if not force:
        listed = "; ".join(describe_finding(f) for f in errors)
        raise StateError(f"cannot submit the case: QA found {len(errors)} error(s): {listed}. Fix them, or "
                         "submit anyway, forced past them (recorded)", path, options=("force",))
    return {"Forced": True, "QAErrors": [{"check": f.check, "label": f.label, "slice": f.slice,
                                          "message": f.message} for f in errors]}


__all__ = ["describe_finding", "qa_gate", "submission_qa"]
