"""What ``ctlabel pull`` is asked to pull: the options, their checks, study date ranges and UID lists.

Filters never name a patient. :func:`check_options` refuses, before anything is asked of the
server, a URL with credentials, both kinds of authentication, a pull of nothing (a whole
archive is never the default) and UIDs that are not DICOM UIDs.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from ctlabel.dicomweb.client import public_url
from ctlabel.errors import InputError
from ctlabel.intake.convert import ConvertOptions

_DATE = re.compile(r"^(\d{8})?-(\d{8})?$|^(\d{8})$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass
class PullOptions:
    """What to pull and how. Filters never name a patient."""

    modality: str | None = "CT"
    study_date: str | None = None  # "YYYYMMDD-YYYYMMDD", "YYYYMMDD-", "-YYYYMMDD" or "YYYYMMDD"
    studies: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    uids_csv: str | os.PathLike | None = None
    timeout: float = 60.0
    user: str | None = None
    password: str | None = None
    token: str | None = None
    keep_dicom: bool = False
    jobs: int | None = None
    convert: ConvertOptions = field(default_factory=ConvertOptions)


def _check_uid(uid: str, what: str) -> str:
    uid = uid.strip()
    if not _UID.match(uid) or len(uid) > 64:
        raise InputError(f"{what} {uid!r} is not a DICOM UID (digits and dots)")
    return uid


def parse_study_date(text: str) -> str:
    """``FROM-TO`` (either side may be empty) or one day, as YYYYMMDD; returned as a DICOM date range."""
    t = text.strip()
    m = _DATE.match(t)
    if not m or t == "-":
        raise InputError(f"study dates {text!r}: use YYYYMMDD-YYYYMMDD (either side may be left empty) or YYYYMMDD",
                         options=("study_date",))
    for d in filter(None, m.groups()):
        try:
            datetime.strptime(d, "%Y%m%d")
        except ValueError:
            raise InputError(f"study dates {text!r}: {d} is not a date", options=("study_date",)) from None
    if m.group(1) and m.group(2) and m.group(1) > m.group(2):
        raise InputError(f"study dates {text!r}: the range ends before it starts", options=("study_date",))
    return t


def read_uids_csv(path: str | os.PathLike) -> list[tuple[str, str | None]]:
    """(study, series or None) rows of a CSV with a header naming StudyInstanceUID and/or SeriesInstanceUID.

    A row with a series UID selects that series; a row with only a study UID, the study's series.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read the UID list ({exc.strerror})", p) from None
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError("the UID list is empty", p)
    header = [c.strip().lower().replace(" ", "") for c in rows[0]]
    names = {"study": ("studyinstanceuid", "study", "studyuid"), "series": ("seriesinstanceuid", "series", "seriesuid")}
    col = {k: next((header.index(n) for n in v if n in header), None) for k, v in names.items()}
    if col["study"] is None and col["series"] is None:
        raise InputError("the UID list needs a header with a StudyInstanceUID and/or SeriesInstanceUID column", p)
    out = []
    for i, r in enumerate(rows[1:], start=2):
        def cell(k, r=r):
            j = col[k]
            return r[j].strip() if j is not None and j < len(r) and r[j].strip() else None
        study, series = cell("study"), cell("series")
        if not study and not series:
            raise InputError(f"line {i}: no UID", p)
        try:
            out.append((_check_uid(study, "study UID") if study else "",
                        _check_uid(series, "series UID") if series else None))
        except InputError as exc:
            raise InputError(f"line {i}: {exc.reason}", p) from None
    return out


def check_options(url: str, options: PullOptions) -> None:
    """Check ``url`` and ``options`` before a pull; normalize the date range and UIDs in place.

    Parameters
    ----------
    url : str
        The DICOMweb root.
    options : PullOptions
        What to pull; ``study_date``, ``studies`` and ``series`` are normalized.

    Raises
    ------
    InputError
        The URL is not http(s) or carries credentials, both authentications are given,
        nothing is selected, ``study_date`` is combined with other selections or malformed,
        a UID is not a DICOM UID, or the timeout is not positive.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("the server URL must be http(s)://host[:port]/path (the DICOMweb root)", url)
    if parts.username or parts.password:
        raise InputError("credentials in the URL are refused: give a user with a password from the environment, or a "
                         "token from the environment", public_url(url), options=("user", "password_env", "token_env"))
    if options.user is not None and options.token is not None:
        raise InputError("use either a user (basic) or a token (bearer), not both", options=("user", "token_env"))
    if not (options.studies or options.series or options.uids_csv or options.study_date):
        raise InputError("say what to pull: studies, series, a CSV of UIDs or a range of study dates "
                         "(pulling a whole archive is never the default)", options=("study", "series", "uids",
                                                                                  "study_date"))
    if options.study_date and (options.studies or options.series or options.uids_csv):
        raise InputError("a range of study dates selects studies by itself: it cannot be combined with studies, "
                         "series or a CSV of UIDs", options=("study_date", "study", "series", "uids"))
    if options.study_date:
        options.study_date = parse_study_date(options.study_date)
    options.studies = [_check_uid(u, "study UID") for u in options.studies]
    options.series = [_check_uid(u, "series UID") for u in options.series]
    if not options.timeout or options.timeout <= 0:
        raise InputError(f"the timeout must be more than 0 seconds, not {options.timeout}", options=("timeout",))


__all__ = ["PullOptions", "check_options", "parse_study_date", "read_uids_csv"]
