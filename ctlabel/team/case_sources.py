"""Adding cases to a team project from what the lead names: DICOM folders and files, or one DICOMweb URL.

``ctlabel team add-cases`` and the console's *Manage* page both call :func:`add_cases_from`
(and :func:`notes` for what to tell the lead), so the same sources are accepted and refused in
the same words. The conversion and the registration are :func:`ctlabel.team.admin.add_cases`
and :func:`ctlabel.team.admin.add_cases_dicomweb`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ctlabel.errors import InputError
from ctlabel.progress import Progress
from ctlabel.team import admin
from ctlabel.team.service import Service

#: The longest source (a path or a URL) a form may name.
MAX_SOURCE = 4096
#: What in :class:`ctlabel.dicomweb.pull.PullOptions` selects the series; only a URL source takes them.
PULL_SELECTIONS = ("studies", "series", "uids_csv", "study_date")


def is_url(source: str) -> bool:
    """True for an ``http://`` or ``https://`` source (a DICOMweb root)."""
    return source.strip().lower().startswith(("http://", "https://"))


def check_sources(sources: list[str], pulling: bool) -> str | None:
    """The one DICOMweb URL among ``sources``, or None for DICOM folders and files.

    Parameters
    ----------
    sources : list of str
        What the lead named.
    pulling : bool
        Whether series selections (studies, series, UIDs, study dates) were given.

    Raises
    ------
    InputError
        No source, a URL beside other sources, a URL that is not ``http(s)://host``, or a
        selection without a URL.
    """
    if not sources or not all(s.strip() for s in sources):
        raise InputError("name a DICOM folder on the server or a DICOMweb URL")
    too_long = next((s for s in sources if len(s) > MAX_SOURCE), None)
    if too_long is not None:
        raise InputError(f"a source is at most {MAX_SOURCE} characters, this one {len(too_long)}")
    urls = [s.strip() for s in sources if is_url(s)]
    if urls and len(sources) > 1:
        raise InputError("add-cases takes one DICOMweb URL, or DICOM folders and files, not both")
    if urls:
        parts = urlsplit(urls[0])
        if not parts.hostname:
            raise InputError("the server URL must be http(s)://host[:port]/path (the DICOMweb root)", urls[0])
        return urls[0]
    if "://" in sources[0]:
        raise InputError("a DICOMweb URL is http:// or https://; anything else is a folder on the server",
                         sources[0])
    if pulling:
        raise InputError("studies, series, UIDs and study dates select what a DICOMweb URL source pulls",
                         options=("study", "series", "uids", "study_date"))
    return None


def check_folder(path: str | os.PathLike) -> Path:
    """A folder on the server to add cases from: it must exist and be a directory.

    Raises
    ------
    InputError
        The path does not exist, or is not a directory (saying which, and naming the path).
    """
    p = Path(path).expanduser()
    if not p.is_absolute():
        raise InputError("give the folder's full path on the server (it starts with /)", p)
    if not p.exists():
        raise InputError("does not exist on the server", p)
    if not p.is_dir():
        raise InputError("is not a folder (a DICOM folder on the server is asked for)", p)
    return p


def add_cases_from(svc: Service, sources: list[str], *, pull_options=None, salt: str | None = None,
                   jobs: int | None = None, priority: int = 0, progress: bool = True,
                   listener: Callable[[Progress, str], None] | None = None) -> dict:
    """Add the series of ``sources`` to the project: DICOM folders and files, or one DICOMweb URL.

    Parameters
    ----------
    svc : Service
        The project.
    sources : list of str
        DICOM folders and files, or one DICOMweb root (``http(s)://...``).
    pull_options : ctlabel.dicomweb.pull.PullOptions, optional
        For a URL: what to pull and how (its conversion options become the project's); needed
        for a URL, refused without one when it selects something.
    salt : str, optional
        Pseudonymize the UIDs with this salt.
    jobs : int, optional
        Cores the conversion uses (default: all).
    priority : int
        Priority of the new cases.
    progress : bool
        Show progress bars on the terminal.
    listener : callable, optional
        Told of each series (or instance) done: :class:`ctlabel.progress.Progress`.

    Returns
    -------
    dict
        As :func:`ctlabel.team.admin.add_cases` (``added``, ``already_registered``, ``failed``, ``ok``...),
        with ``pull`` for a URL.

    Raises
    ------
    InputError
        See :func:`check_sources`; a URL without ``pull_options``.
    ctlabel.dicomweb.client.ServerError
        The DICOMweb server cannot be used (nothing registered).
    """
    picked = pull_options is not None and any(getattr(pull_options, o) for o in PULL_SELECTIONS)
    url = check_sources(sources, picked)
    if url is not None:
        if pull_options is None:
            raise InputError("say what to pull from the DICOMweb URL: studies, series, UIDs or study dates",
                             options=("study", "series", "uids", "study_date"))
        if jobs is not None:
            pull_options.jobs = jobs
        return admin.add_cases_dicomweb(svc, url, pull_options, salt=salt, priority=priority, progress=progress,
                                        listener=listener)
    return admin.add_cases(svc, sources, salt=salt, jobs=jobs, priority=priority, progress=progress,
                           listener=listener)


def notes(res: dict) -> list[str]:
    """What the lead is told after an add: failures, skipped and ignored files, the series a pull missed."""
    from ctlabel.dicom.walk import ignored_text

    out = [f"FAILED {f.get('path')}: {f.get('reason')}" for f in res.get("failed", [])]
    pulled = res.get("pull") or {}
    out += [f"NOT FOUND {f['uid']}: {f['reason']}" for f in pulled.get("not_found", [])]
    out += [f"{s['SeriesInstanceUID']}: {s['status']} ({s['reason']})" for s in pulled.get("series", [])
            if s["status"] in ("failed", "skipped")]
    out += [f"SKIPPED {s.get('path')}: {s.get('reason')}" for s in res.get("skipped", [])]
    out += [ignored_text(res["ignored"])] if res.get("ignored") else []
    return out


def summary(res: dict) -> str:
    """``"2 case(s) added, 1 already there"``."""
    return f"{len(res['added'])} case(s) added, {len(res['already_registered'])} already there"


__all__ = ["MAX_SOURCE", "add_cases_from", "check_folder", "check_sources", "is_url", "notes", "summary"]
