"""The one rule that names a case folder (documented in ``docs/conventions.md``).

A name is built from UIDs, a number and hashes only, never from free text such as a
series description (which may hold a patient's name)::

    <study8>_<series number, 4 digits>_<series8>_<stack8>

``study8`` and ``series8`` are the first 8 hex digits of the SHA-256 of the study and
series UIDs; ``stack8`` those of the SHA-256 of the stack's sorted
``SOPInstanceUID/frame`` lines (``@x,y,z/frame`` from ImagePositionPatient for an
instance without a UID, as some anonymizers leave them), so two stacks of one series (split by acquisition,
image type or temporal position) never share a name, and two series never do either.
With pseudonymized UIDs the hashes are taken of the pseudonyms, as written in ``ct.json``.
The name does not depend on ``--jobs``, the file names or the order files were found in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ctlabel.io.provenance import pseudonymize_uid


def _h8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


Instance = tuple[str, int, "tuple[float, float, float] | list[float] | None"]


def slice_line(uid: str, frame: int, position, salt: str | None = None) -> str:
    """``SOPInstanceUID/frame`` of one slice (pseudonymized with ``salt``), or ``@x,y,z/frame`` without a UID."""
    if uid:
        return f"{pseudonymize_uid(uid, salt) if salt else uid}/{int(frame)}"
    where = "?" if position is None else ",".join(f"{float(v):.3f}" for v in position)
    return f"@{where}/{int(frame)}"


def stack_key(instances: Iterable[Instance], salt: str | None = None) -> tuple[str, ...]:
    """The sorted :func:`slice_line` lines of a stack.

    This is the source identity convert compares with the ``Source.Slices`` of an existing
    case's ``ct.json``.
    """
    return tuple(sorted({slice_line(uid, frame, pos, salt) for uid, frame, pos in instances}))


def case_folder_name(
    study_uid: str,
    series_uid: str,
    series_number: int | None,
    instances: Iterable[Instance],
    salt: str | None = None,
) -> str:
    """The case folder name of one stack.

    Parameters
    ----------
    study_uid, series_uid : str
        The stack's StudyInstanceUID and SeriesInstanceUID, as read from DICOM.
    series_number : int or None
        SeriesNumber (``0000`` when absent).
    instances : iterable of (str, int, position)
        ``(SOPInstanceUID, frame, ImagePositionPatient)`` of every slice of the stack.
    salt : str, optional
        The ``--pseudonymize-uids`` salt: hashes are taken of the pseudonymized UIDs.

    Returns
    -------
    str
        ``<study8>_<series number>_<series8>_<stack8>``.
    """
    if salt:
        study_uid, series_uid = pseudonymize_uid(study_uid, salt), pseudonymize_uid(series_uid, salt)
    num = series_number if series_number is not None and series_number >= 0 else 0
    stack = _h8("\n".join(stack_key(instances, salt)))
    return f"{_h8(study_uid)}_{num:04d}_{_h8(series_uid)}_{stack}"


def stack_case_name(stack, salt: str | None = None) -> str:
    """The case folder name of a stack found by :func:`ctlabel.dicom.scan.find_series`.

    Parameters
    ----------
    stack : ctlabel.dicom.stacks.Stack
        The stack.
    salt : str, optional
        The ``--pseudonymize-uids`` salt.

    Returns
    -------
    str
        :func:`case_folder_name` of the stack's UIDs, series number and instances.
    """
    return case_folder_name(stack.study_uid, stack.series_uid, stack.series_number, stack.instances(), salt)


__all__ = ["stack_case_name", "case_folder_name", "slice_line", "stack_key"]
