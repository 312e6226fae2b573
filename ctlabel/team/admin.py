"""The lead's side of a project: create it, add cases, users, rates and guidelines.

No HTTP here: the CLI calls these directly on the project folder, the API through
:class:`ctlabel.team.service.Service`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from ctlabel.case import record as case_record
from ctlabel.case.folder import Case, find_cases
from ctlabel.errors import InputError
from ctlabel.io.atomic import atomic_open
from ctlabel.io.labels import default_label_table, read_label_table, write_label_table
from ctlabel.team import auth
from ctlabel.team import project as layout
from ctlabel.team.db import RATE_KINDS, CaseRow, Project, Rate, User, default_url, make_engine, migrate
from ctlabel.team.double_read import check_readers
from ctlabel.team.service import Service

MAX_GUIDELINES = 1024 * 1024


@dataclass(frozen=True)
class ProjectSettings:
    """The settings of a new team project (the keywords of :func:`init_project`).

    Attributes
    ----------
    time_zone : str
        IANA zone the report's days are counted in.
    idle_limit_s : int
        Gaps between heartbeats longer than this do not count as active time.
    open_limit : int
        Cases an annotator may hold at once.
    upload_limit : int
        Largest upload in bytes.
    lease_s : int
        How long a claim lasts without a heartbeat or upload.
    readers : int
        Annotators per case: 1, or N >= 2 readers (:mod:`ctlabel.team.double_read`).
    more_reads_below : float, optional
        Adaptive reading: two reads first, the rest of the N only below this lowest per-label Dice.
    fusion : str
        How the reads are fused: ``staple`` or ``vote``.
    """

    time_zone: str = "UTC"
    idle_limit_s: int = 60
    open_limit: int = 2
    upload_limit: int = 512 * 1024 * 1024
    lease_s: int = 4 * 3600
    readers: int = 1
    more_reads_below: float | None = None
    fusion: str = "staple"


def init_project(root: str | os.PathLike, *, url: str | None = None, labels: str | os.PathLike | None = None,
                 name: str | None = None, **settings: Any) -> Service:
    """Make a team project: folders, label table, the database schema (Alembic) and its settings.

    Parameters
    ----------
    root : path
        The project folder (created).
    url : str, optional
        Database URL (``postgresql+psycopg://...``); default SQLite ``team.db`` in the folder.
    labels : path, optional
        A ``labels.tsv`` for every case (default: the built-in table).
    name : str, optional
        The project's name (default: the folder's name).
    **settings
        The fields of :class:`ProjectSettings` (``time_zone``, ``idle_limit_s``, ``open_limit``,
        ``upload_limit``, ``lease_s``).

    Returns
    -------
    Service
        The project's service.

    Raises
    ------
    InputError
        An unknown time zone.
    TypeError
        A setting that :class:`ProjectSettings` does not have.
    """
    cfg = ProjectSettings(**settings)
    check_readers(cfg.readers, cfg.more_reads_below, cfg.fusion)
    time_zone = cfg.time_zone
    root = Path(root).resolve()
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {time_zone!r}") from None
    table = read_label_table(labels) if labels else default_label_table()
    name = name or root.name
    layout.write_layout(root, name, url)
    write_label_table(root / layout.LABELS, table)
    engine = make_engine(url or default_url(root))
    migrate(engine)
    from sqlalchemy.orm import Session

    with Session(engine) as db, db.begin():
        if db.scalar(select(Project)) is None:
            db.add(Project(name=name, time_zone=time_zone, idle_limit_s=cfg.idle_limit_s, open_limit=cfg.open_limit,
                           upload_limit=cfg.upload_limit, lease_s=cfg.lease_s, currency="EUR",
                           readers=cfg.readers, more_reads_below=cfg.more_reads_below, fusion=cfg.fusion))
            for kind in RATE_KINDS[:3]:  # gold: unset, paid at the annotation rate (ctlabel.team.gold)
                db.add(Rate(kind=kind, cents=0))
    engine.dispose()
    return Service(root, url)


def register_case(svc: Service, folder: Path, priority: int = 0) -> tuple[str, bool]:
    """Put a case folder under ``PROJECT/cases`` in the database; (name, newly added)."""
    cases = svc.cases_dir.resolve()
    folder = Path(folder).resolve()
    if folder.parent != cases:
        raise InputError(f"a case of the project lives directly in {cases}", folder)
    name = layout.check_case_name(folder.name)
    case = Case.open(folder)
    state = str(case_record.load_case_record(case).state)
    with svc.tx() as db:
        if db.scalar(select(CaseRow).where(CaseRow.name == name)) is not None:
            return name, False
        db.add(CaseRow(name=name, path=name, state=state, priority=priority))
        svc.log(db, None, None, "case_added", case=name)
    return name, True


def add_cases(svc: Service, sources: list[str], *, salt: str | None = None, jobs: int | None = None,
              priority: int = 0, progress: bool = True, listener=None) -> dict:
    """Convert DICOM sources into ``PROJECT/cases`` (:func:`ctlabel.intake.convert.convert`) and register them.

    ``listener(progress, case)`` is told of each series converted (:class:`ctlabel.progress.Progress`).
    """
    from ctlabel.intake.convert import ConvertOptions, convert

    table = read_label_table(svc.root / layout.LABELS)
    report = convert(sources, svc.cases_dir, jobs=jobs, options=ConvertOptions(pseudonymize_salt=salt,
                                                                                label_table=table),
                     progress=progress, listener=listener)
    existing = [Path(s["case"]) for s in report.skipped if s.get("case")]  # this run's series already converted
    return {**_register_all(svc, [Path(c["case"]) for c in report.converted] + existing, priority),
            "failed": report.failed, "skipped": [s for s in report.skipped if not s.get("case")],
            "ignored": report.ignored, "converted": len(report.converted), "ok": report.ok}


def add_cases_dicomweb(svc: Service, url: str, options, *, salt: str | None = None, priority: int = 0,
                       progress: bool = True, listener=None) -> dict:
    """Pull series from a DICOMweb server into ``PROJECT/cases`` (:func:`ctlabel.dicomweb.pull.pull`) and register them.

    Parameters
    ----------
    svc : Service
        The project.
    url : str
        The DICOMweb root of the server.
    options : ctlabel.dicomweb.pull.PullOptions
        What to pull and how to reach the server; its conversion options are replaced by the
        project's: the project's label table, descriptions cleaned, ``salt`` for the UIDs.
    salt : str, optional
        Pseudonymize the UIDs with this salt (also in each case's ``retrieve.json``).
    priority : int
        Priority of the new cases (higher is handed out first).
    progress : bool
        Show progress bars.
    listener : callable, optional
        Told of each instance retrieved and series converted (:class:`ctlabel.progress.Progress`).

    Returns
    -------
    dict
        ``added``, ``already_registered``, ``failed`` (conversion failures), ``converted``, ``ok``
        and ``pull`` (the pull report).

    Raises
    ------
    ctlabel.dicomweb.pull.ServerError
        The server cannot be used (unreachable, silent, refusing, HTTP 404 or 5xx); nothing is
        registered.
    """
    from ctlabel.dicomweb.pull import pull
    from ctlabel.intake.convert import ConvertOptions

    options.convert = ConvertOptions(pseudonymize_salt=salt, label_table=read_label_table(svc.root / layout.LABELS))
    report = pull(url, svc.cases_dir, options, progress=progress, listener=listener)
    made = [Path(c) for ref in report.series for c in ref.cases]
    conv = report.convert
    return {**_register_all(svc, made, priority), "failed": [] if conv is None else conv.failed,
            "converted": 0 if conv is None else len(conv.converted), "ok": report.ok, "pull": report.to_dict()}


def _register_all(svc: Service, made: list[Path], priority: int) -> dict:
    """Register the cases of this run's series (``made``) and any unregistered case in ``PROJECT/cases``.

    ``already_registered`` names the cases of ``made`` that were registered before: the series
    of this run that are already there, not every case of the project.
    """
    added: list[str] = []
    known: list[str] = []
    seen = set()
    ours = {f.resolve() for f in made}
    for f in made + [c.root for c in find_cases(svc.cases_dir)]:
        if f.resolve() in seen or not Case.is_case(f):
            continue
        seen.add(f.resolve())
        name, new = register_case(svc, f, priority)
        if new:
            added.append(name)
        elif f.resolve() in ours:
            known.append(name)
    return {"added": added, "already_registered": known}


def add_user(svc: Service, name: str, role: str) -> str:
    """Add a user with a role; return their bearer token (only its SHA-256 is stored).

    Parameters
    ----------
    svc : Service
        The project's service.
    name : str
        The user's name.
    role : str
        ``annotator``, ``reviewer`` or ``lead``.

    Returns
    -------
    str
        The token, shown once.
    """
    with svc.tx() as db:
        _, token = auth.add_user(db, name, role)
    return token


def rotate(svc: Service, name: str) -> str:
    """Give a user a new bearer token (the old one stops working); return it.

    Parameters
    ----------
    svc : Service
        The project's service.
    name : str
        The user's name.

    Returns
    -------
    str
        The new token, shown once.
    """
    with svc.tx() as db:
        return auth.rotate_token(db, name)


def revoke(svc: Service, name: str, by: User | None = None) -> dict:
    """Revoke a user's bearer token and end the claims they hold (:func:`ctlabel.team.leases.release_all`).

    They can no longer log in until given a new one; the cases they annotate, read or review go
    back to the pool at once (drafts kept), instead of waiting for their leases to run out.

    Parameters
    ----------
    svc : Service
        The project's service.
    name : str
        The user's name.
    by : User, optional
        Who revokes (the lead, through the API), for the log.

    Returns
    -------
    dict
        ``{"user", "revoked": True, "released": [{"case", "lease"}, ...]}``.
    """
    from ctlabel.team.leases import release_all

    with svc.tx() as db:
        auth.revoke_token(db, name)
        user = db.scalar(select(User).where(User.name == name))
        assert user is not None  # revoke_token found it
        return {"user": name, "revoked": True, "released": release_all(svc, db, user, by)}


def set_rates(svc: Service, cents: dict[str, int], currency: str | None = None) -> dict:
    """Set what an item pays, in cents: ``annotation``, ``review``, ``rework``, ``gold`` (a scored gold serving)."""
    with svc.tx() as db:
        for kind, value in cents.items():
            if kind not in RATE_KINDS:
                raise InputError(f"a rate is one of {', '.join(RATE_KINDS)}, not {kind!r}")
            if int(value) < 0:
                raise InputError("a rate is not negative")
            rate = db.scalar(select(Rate).where(Rate.kind == kind))
            if rate is None:
                rate = Rate(kind=kind)
                db.add(rate)
            rate.cents = int(value)
        if currency:
            svc.settings(db).currency = currency[:8]
        svc.log(db, None, None, "rates_set", rates={k: int(v) for k, v in cents.items()})
        return _rates(db)


def _rates(db) -> dict[str, int]:
    out = {r.kind: r.cents for r in db.scalars(select(Rate))}
    out.setdefault("gold", out.get("annotation", 0))  # a gold rate never set: the annotation rate
    return out


def rates(svc: Service) -> dict:
    """What an item pays, in cents: ``{"annotation": ..., "review": ..., "rework": ...}``.

    Parameters
    ----------
    svc : Service
        The project's service.

    Returns
    -------
    dict of str to int
    """
    with svc.tx() as db:
        return _rates(db)


def set_guidelines(svc: Service, text: str, who: User | None = None) -> None:
    """Replace ``guidelines.md`` (Markdown, at most 1 MiB), atomically."""
    data = text.encode("utf-8")
    if len(data) > MAX_GUIDELINES:
        raise InputError("guidelines are at most 1 MiB")
    with atomic_open(svc.root / layout.GUIDELINES, "wb") as f:
        f.write(data)
    with svc.tx() as db:
        svc.log(db, who, None, "guidelines_set", size=len(data))


def guidelines(svc: Service) -> str:
    """The project's annotation guidelines (Markdown), or ``""`` when there are none.

    Parameters
    ----------
    svc : Service
        The project's service.

    Returns
    -------
    str
    """
    p = svc.root / layout.GUIDELINES
    return p.read_text(encoding="utf-8") if p.exists() else ""


def resync(svc: Service) -> int:
    """At server start: clear half-received uploads and refresh each case's state from ``case.json``.

    Uploads a dead server left half received are removed, and every case's state mirror in
    the database is refreshed from its ``case.json`` (a broken case folder is passed over).

    Parameters
    ----------
    svc : Service
        The project's service.

    Returns
    -------
    int
        The number of cases refreshed.
    """
    for p in (svc.root / layout.TMP).glob("upload-*"):
        with contextlib.suppress(OSError):
            p.unlink()
    n = 0
    with svc.tx() as db:
        for row in db.scalars(select(CaseRow)):
            try:
                svc.sync(db, row)
                n += 1
            except Exception:  # noqa: BLE001 - a broken case folder must not stop the server
                continue
    svc.gold.score_pending()  # gold servings submitted while the server stopped
    return n


__all__ = ["add_cases", "add_cases_dicomweb", "add_user", "guidelines", "init_project", "rates", "register_case",
           "resync", "revoke", "rotate", "set_guidelines", "set_rates"]
