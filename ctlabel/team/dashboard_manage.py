"""The lead's console, *Manage*: users, rates, guidelines, adding cases and exporting, from the browser.

``/manage`` shows it all; each form posts (CSRF-checked, within a size limit) to the same calls
the command line makes: :mod:`ctlabel.team.admin` (users, rates, guidelines),
:func:`ctlabel.team.case_sources.add_cases_from` (``ctlabel team add-cases``) and
:func:`ctlabel.team.exports.export_project` (``ctlabel export-dataset`` into ``PROJECT/exports``).
Adding cases and exporting run as background jobs (:class:`ctlabel.team.jobs.JobBoard`, one of
each kind at a time) whose page, ``/manage/jobs/N``, reloads itself until the job ends; a
finished export's zip is served at ``/manage/exports/NAME.zip`` to the lead only.
A non-lead is refused (403) before any of the request's body is read.
"""

from __future__ import annotations

import os
import re
from html import escape

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from ctlabel.errors import CtlabelError, InputError
from ctlabel.team import admin, case_sources, exports, jobs
from ctlabel.team import manage_views as mv
from ctlabel.team.dashboard_session import Lead, Session, checked_form
from ctlabel.team.dashboard_users import refusal, users_section
from ctlabel.team.db import RATE_KINDS
from ctlabel.team.jobs import JobBoard

router = APIRouter(include_in_schema=False)
#: The guidelines' form: 1 MiB of text, URL-encoded (up to three bytes each).
GUIDELINES_FORM_LIMIT = 3 * admin.MAX_GUIDELINES + 64 * 1024
_UIDS = re.compile(r"[\s,;]+")
#: The export form's names of the options a refusal may name (``CtlabelError.options``).
_OPTION_LABELS = {"include_unapproved": "include unapproved cases", "resample_tilted": "resample tilted cases",
                  "split": "nnU-Net folds", "validation_fraction": "MONAI validation fraction", "format": "format"}


def _board(request: Request) -> JobBoard:
    return request.app.state.jobs


def _cores() -> int:
    return max(1, os.cpu_count() or 1)


def _manage_body(s: Session, board: JobBoard) -> str:
    with s.svc.read() as db:
        currency = s.svc.settings(db).currency
    return ("<h1>Manage</h1>" + users_section(s) + mv.jobs_section(board.list())
            + mv.add_cases_section(s.csrf, _cores())
            + mv.export_section(s.csrf, exports.default_name("nnunet"), exports.listing(s.svc))
            + mv.rates_section(s.csrf, admin.rates(s.svc), currency)
            + mv.guidelines_section(s.csrf, admin.guidelines(s.svc)))


@router.get("/manage", response_class=HTMLResponse)
async def manage(request: Request, s: Lead) -> Response:
    return s.page("Manage", await run_in_threadpool(_manage_body, s, _board(request)))


def _done(s: Session, what: str) -> HTMLResponse:
    return s.page("Done", f'<p class="msg" id="msg">{what}</p><p><a href="/manage">Back to Manage</a></p>')


# --- rates, guidelines --------------------------------------------------------------------------------
def _int(form: dict[str, str], key: str, low: int, high: int, default: int | None = None) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{key} is a whole number, not {text[:40]!r}", options=(key,)) from None
    if not low <= value <= high:
        raise InputError(f"{key} lies between {low} and {high}, not {value}", options=(key,))
    return value


@router.post("/manage/rates")
async def set_rates(request: Request, s: Lead) -> Response:
    form = await checked_form(request, s)
    try:
        cents = {k: v for k in RATE_KINDS if (v := _int(form, k, 0, 100_000_000)) is not None}
        out = await run_in_threadpool(admin.set_rates, s.svc, cents, form.get("currency", "").strip() or None)
    except CtlabelError as exc:
        return refusal(s, exc)
    return _done(s, "Rates set: " + escape(", ".join(f"{k} {v / 100:.2f}" for k, v in sorted(out.items()))))


@router.post("/manage/guidelines")
async def set_guidelines(request: Request, s: Lead) -> Response:
    form = await checked_form(request, s, GUIDELINES_FORM_LIMIT)
    text = form.get("text", "").replace("\r\n", "\n")
    try:
        await run_in_threadpool(admin.set_guidelines, s.svc, text, s.user)
    except CtlabelError as exc:
        return refusal(s, exc)
    return _done(s, f"Guidelines saved ({len(text.encode('utf-8'))} bytes).")


# --- background jobs ----------------------------------------------------------------------------------
def _pull_options(form: dict[str, str], url: str, jobs_n: int):
    """The :class:`~ctlabel.dicomweb.pull.PullOptions` of the form, checked as a pull checks them."""
    from ctlabel.dicomweb.pull import PullOptions
    from ctlabel.dicomweb.pull_options import check_options

    modality = form.get("modality", "CT").strip()
    options = PullOptions(modality=None if modality in ("", "*") else modality[:16],
                          study_date=form.get("study_date", "").strip() or None,
                          studies=[u for u in _UIDS.split(form.get("study", "")) if u],
                          series=[u for u in _UIDS.split(form.get("series", "")) if u], jobs=jobs_n)
    check_options(url, options)
    return options


def _start_add_cases(s: Session, board: JobBoard, form: dict[str, str]) -> jobs.Job:
    source = form.get("source", "").strip()
    salt = form.get("salt", "").strip() or None
    if salt is not None and len(salt) > 256:
        raise InputError("a salt is at most 256 characters", options=("salt",))
    priority = _int(form, "priority", -1_000_000, 1_000_000, 0) or 0
    cores = _int(form, "jobs", 1, _cores(), 1) or 1
    pulling = any(form.get(k, "").strip() for k in ("series", "study", "study_date"))
    url = case_sources.check_sources([source], pulling)
    options = _pull_options(form, url, cores) if url else None
    if url is None:
        source = str(case_sources.check_folder(source))

    def work(listener) -> dict:
        res = case_sources.add_cases_from(s.svc, [source], pull_options=options, salt=salt, jobs=cores,
                                          priority=priority, progress=False, listener=listener)
        return {"added": res["added"], "already_registered": res["already_registered"], "ok": res["ok"],
                "notes": case_sources.notes(res), "summary": case_sources.summary(res)}

    return board.start("add-cases", source, s.user.name, work)


def _start_export(s: Session, board: JobBoard, form: dict[str, str]) -> jobs.Job:
    options = exports.options_from(form)
    name = exports.check_name(form.get("name", "").strip() or exports.default_name(options.fmt))

    def work(listener) -> dict:
        report, archive = exports.export_project(s.svc, name, options, listener)
        refused = [r["reason"] + (f" (on this page: {', '.join(_OPTION_LABELS.get(o, o) for o in r['options'])})"
                                  if r.get("options") else "") for r in report.refused]  # the reason names the file
        return {"name": name if archive else None, "archive": archive.name if archive else None,
                "archive_mb": archive.stat().st_size / 1e6 if archive else 0, "ok": report.ok,
                "notes": refused + report.problems, "exported": len(report.exported),
                "summary": f"{len(report.exported)} case(s) exported, {len(report.refused)} refused, to "
                           f"exports/{name} ({options.fmt})"}

    return board.start("export", name, s.user.name, work)


async def _start(request: Request, s: Session, starter) -> Response:
    form = await checked_form(request, s)
    board = _board(request)
    try:
        job = await run_in_threadpool(starter, s, board, form)
    except CtlabelError as exc:
        return refusal(s, exc)
    if request.headers.get("authorization"):
        return JSONResponse(jobs.as_dict(job), 202)
    return RedirectResponse(f"/manage/jobs/{job.id}", 303)


@router.post("/manage/add-cases")
async def add_cases(request: Request, s: Lead) -> Response:
    return await _start(request, s, _start_add_cases)


@router.post("/manage/export")
async def export(request: Request, s: Lead) -> Response:
    return await _start(request, s, _start_export)


@router.get("/manage/jobs/{job_id}.json")
async def job_json(request: Request, s: Lead, job_id: int) -> Response:
    try:
        return JSONResponse(jobs.as_dict(_board(request).get(job_id)))
    except CtlabelError as exc:
        return JSONResponse({"error": str(exc)}, 404)


@router.get("/manage/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, s: Lead, job_id: int) -> Response:
    try:
        job = _board(request).get(job_id)
    except CtlabelError as exc:
        return refusal(s, exc)
    head, body = mv.job_page(job)
    return s.page(f"Job {job.id}", body, head=head)


@router.get("/manage/exports/{name}.zip")
async def download(s: Lead, name: str) -> Response:
    try:
        path = await run_in_threadpool(exports.archive, s.svc, name)
    except CtlabelError as exc:
        return refusal(s, exc)
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        headers={"Cache-Control": "private, no-store"})


__all__ = ["GUIDELINES_FORM_LIMIT", "router"]
