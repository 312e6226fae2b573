"""The case routes of the team API: the caller, claiming and reading cases, uploads, the review.

Thin adapters over :class:`~ctlabel.team.service.Service`; every rule lives there.
"""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from ctlabel.team import admin, uploads
from ctlabel.team import report as reporting
from ctlabel.team.api_deps import Lead, Me, Svc, VolumeWork
from ctlabel.team.api_models import (
    BINARY_ANSWER,
    Caller,
    CaseSummary,
    Flagged,
    Heartbeat,
    Ok,
    Uploaded,
    Withdrawal,
    Worklist,
)
from ctlabel.team.api_models_lead import MyStats
from ctlabel.team.db import User
from ctlabel.team.service import NotFound, Service, TooLarge

FILES = {"ct.nii.gz": "image_path", "ct.json": "image_sidecar", "labels.tsv": "labels_path"}
_BINARY_BODY = {"requestBody": {"content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}}

router = APIRouter()


class SubmitBody(BaseModel):
    """A submit; ``force`` submits despite QA errors (recorded)."""

    force: bool = False


class CommentBody(BaseModel):
    """An optional comment."""

    comment: str | None = None


class Mark(BaseModel):
    """A reviewer's mark on a slice."""

    slice: int
    label: int = 0
    note: str = ""


class RejectBody(BaseModel):
    """A rejection: what to fix, and marks on slices."""

    comment: str = Field(min_length=1)
    marks: list[Mark] = []


class ReasonBody(BaseModel):
    """Why (a flag, a reopening)."""

    reason: str = Field(min_length=1)


@router.get("/health", response_model=Ok)
def health() -> dict:
    """The server is up (nothing about the project: this answers without a login)."""
    return {"ok": True}


@router.get("/me", response_model=Caller)
def me(user: Me) -> dict:
    """Who the token belongs to, and their role."""
    return {"user": user.name, "role": user.role}


@router.get("/me/stats", response_model=MyStats, response_model_exclude_unset=True)
def my_stats(user: Me, svc: Svc, since: str | None = None, until: str | None = None) -> dict:
    """The caller's own line of the report (work, time, pay) over a period."""
    rep = reporting.report(svc, since, until, user_id=user.id)
    return {**{k: v for k, v in rep.items() if k != "people"}, "me": rep["people"][0] if rep["people"] else None}


@router.get("/me/cases", response_model=Worklist, response_model_exclude_unset=True)
def my_cases(user: Me, svc: Svc) -> dict:
    """The caller's cases with their state, comment and marks."""
    return {"cases": svc.claims.my_cases(user)}


@router.post("/cases/next", response_model=CaseSummary, response_model_exclude_unset=True)
def next_case(user: Me, svc: Svc) -> dict:
    """Claim the next case waiting for annotation."""
    return svc.claims.claim_next(user)


@router.get("/cases/{name}", response_model=CaseSummary, response_model_exclude_unset=True)
def case_info(name: str, user: Me, svc: Svc) -> dict:
    """A case the caller may see: its state and versions."""
    return svc.claims.info(user, name)


@router.get("/cases/{name}/files/{file}", response_class=Response, responses=BINARY_ANSWER)
def case_file(name: str, file: str, user: Me, svc: Svc) -> Response:
    """One file of a case: ``ct.nii.gz``, ``ct.json``, ``labels.tsv``, ``draft`` or ``draft.json``."""
    with svc.read() as db:
        row = svc.get_case(db, name)
        svc.claims.require_access(db, user, row)
        reader = svc.double_reads.reader_name(db, user, row)  # a reader of a double-read case gets their own draft
    case = svc.folder(row)
    if file in FILES:
        path = getattr(case, FILES[file])
    elif file in ("draft", "draft.json"):
        with svc.case_lock(row.id):
            path = uploads.editable_mask_path(case, reader)
            if path is None:
                raise NotFound(f"case {name} has no mask yet")
            etag = uploads.current_etag(case, reader)
            if file == "draft.json":
                from ctlabel.io.provenance import sidecar_path

                path = sidecar_path(path)
            data = path.read_bytes()
        return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{etag}"'})
    else:
        raise NotFound(f"no file {file!r}; files are {', '.join([*FILES, 'draft', 'draft.json'])}")
    if not path.is_file():
        raise NotFound(f"case {name} has no {file}")
    response = FileResponse(path, media_type="application/octet-stream")
    response.chunk_size = 1 << 20  # 1 MiB reads, not 64 KiB: a CT is sent in a few dozen of them
    return response


def _limit(svc: Service) -> int:
    with svc.tx() as db:
        return svc.settings(db).upload_limit


async def _receive(request: Request, user: User, svc: Service, name: str, if_match: str | None,
                   kind: str = "draft") -> uploads.Spool:
    """Spool an upload to a temporary file once it is allowed, refusing one beyond the project's limit.

    Nothing of the body is read before the size (``Content-Length``), the case, the caller's right
    to upload to it and ``If-Match`` are checked (:func:`ctlabel.team.uploads.admit`).
    """
    limit = await run_in_threadpool(_limit, svc)
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise TooLarge(f"the upload ({length} bytes) is larger than the limit of {limit} bytes")
    await run_in_threadpool(lambda: uploads.admit(svc, user, name, if_match, kind=kind))
    spool = await run_in_threadpool(uploads.Spool, svc, limit)
    try:
        async for chunk in request.stream():
            spool.write(chunk)
        await run_in_threadpool(spool.finish)
    except BaseException:
        spool.close()
        raise
    return spool


@router.put("/cases/{name}/draft", openapi_extra=_BINARY_BODY, response_model=Uploaded)
async def upload_draft(name: str, request: Request, response: Response, user: Me, svc: Svc, work: VolumeWork,
                       if_match: Annotated[str | None, Header()] = None) -> dict:
    """Upload the draft mask (``.nii.gz``); ``If-Match`` guards against overwriting newer work."""
    spool = await _receive(request, user, svc, name, if_match)
    try:
        out = await work.store_upload(user, name, spool.path, if_match)
    finally:
        spool.close()
    response.headers["ETag"] = f'"{out["etag"]}"'
    return out


@router.put("/cases/{name}/correction", openapi_extra=_BINARY_BODY, response_model=Uploaded)
async def upload_correction(name: str, request: Request, response: Response, user: Me, svc: Svc,
                            work: VolumeWork, comment: str | None = None,
                            if_match: Annotated[str | None, Header()] = None) -> dict:
    """Upload a reviewer's correction of the version under review (a new version)."""
    spool = await _receive(request, user, svc, name, if_match, "correction")
    try:
        out = await work.store_upload(user, name, spool.path, if_match, kind="correction", comment=comment)
    finally:
        spool.close()
    response.headers["ETag"] = f'"{out["etag"]}"'
    return out


@router.post("/cases/{name}/submit", response_model=CaseSummary, response_model_exclude_unset=True)
async def submit(name: str, user: Me, work: VolumeWork, body: SubmitBody | None = None) -> dict:
    """Submit the draft for review (QA runs first)."""
    return await work.submit(user, name, force=bool(body and body.force))


@router.post("/cases/{name}/withdraw", response_model=Withdrawal, response_model_exclude_unset=True)
def withdraw(name: str, user: Me, svc: Svc) -> dict:
    """Give a claimed case back."""
    return svc.claims.withdraw(user, name)


@router.post("/cases/{name}/flag", response_model=Flagged)
def flag(name: str, body: ReasonBody, user: Me, svc: Svc) -> dict:
    """Flag a case for the lead, with a reason."""
    return svc.claims.flag(user, name, body.reason)


@router.post("/cases/{name}/heartbeat", response_model=Heartbeat)
def heartbeat(name: str, user: Me, svc: Svc) -> dict:
    """Keep the claim of a case alive (and count active time)."""
    return svc.claims.heartbeat(user, name)


@router.post("/review/next", response_model=CaseSummary, response_model_exclude_unset=True)
def review_next(user: Me, svc: Svc, accepted: bool = False) -> dict:
    """Take the next submitted case to review (``accepted``: a case the review policy accepted, to pull it)."""
    return svc.reviews.review_next(user, accepted=accepted)


@router.post("/cases/{name}/approve", response_model=CaseSummary, response_model_exclude_unset=True)
def approve(name: str, user: Me, svc: Svc, body: CommentBody | None = None) -> dict:
    """Approve the version under review."""
    return svc.reviews.approve(user, name, body.comment if body else None)


@router.post("/cases/{name}/reject", response_model=CaseSummary, response_model_exclude_unset=True)
def reject(name: str, body: RejectBody, user: Me, svc: Svc) -> dict:
    """Reject the version under review, saying what to fix."""
    return svc.reviews.reject(user, name, body.comment, [m.model_dump() for m in body.marks])


@router.post("/cases/{name}/reopen", response_model=CaseSummary, response_model_exclude_unset=True)
def reopen(name: str, body: ReasonBody, user: Lead, svc: Svc) -> dict:
    """Reopen an approved case (the lead), with a reason."""
    return svc.reviews.reopen(user, name, body.reason)


@router.get("/guidelines", response_class=PlainTextResponse)
def get_guidelines(user: Me, svc: Svc) -> PlainTextResponse:
    """The project's annotation guidelines (Markdown)."""
    return PlainTextResponse(admin.guidelines(svc), media_type="text/markdown; charset=utf-8")


__all__ = ["FILES", "router"]
