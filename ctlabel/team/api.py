"""The HTTP API of the team server (FastAPI): thin adapters over :class:`~ctlabel.team.service.Service`.

Every route but ``/api/v1/health`` needs ``Authorization: Bearer <token>`` (401 without a
valid one); the role and the case decide the rest (403). Case ids are looked up in the
database, never used as paths. ``/docs`` and ``/openapi.json`` describe it all.
"""

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from ctlabel.errors import CtlabelError, InputError, LockError, StateError
from ctlabel.team import admin, uploads
from ctlabel.team import report as reporting
from ctlabel.team.auth import user_for_token
from ctlabel.team.db import User
from ctlabel.team.service import Forbidden, NotFound, Service, TeamError, TooLarge, Unauthorized

PREFIX = "/api/v1"
FILES = {"ct.nii.gz": "image_path", "ct.json": "image_sidecar", "labels.tsv": "labels_path"}
# Work on whole volumes (checking and storing an upload, a submit's QA) runs at most this many at a
# time, so that it never holds every thread of the pool: heartbeats, claims and reads stay quick while
# uploads queue (benchmarks/team.py).
VOLUME_WORK_AT_ONCE = 2


class SubmitBody(BaseModel):
    force: bool = False


class CommentBody(BaseModel):
    comment: str | None = None


class Mark(BaseModel):
    slice: int
    label: int = 0
    note: str = ""


class RejectBody(BaseModel):
    comment: str = Field(min_length=1)
    marks: list[Mark] = []


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1)


class UserBody(BaseModel):
    name: str
    role: str


class RatesBody(BaseModel):
    annotation: int | None = None
    review: int | None = None
    rework: int | None = None
    currency: str | None = None


def create_app(svc: Service) -> FastAPI:
    """The FastAPI application serving ``svc``'s project."""
    app = FastAPI(title="ctlabel team server", version="1", description=__doc__)
    bearer = HTTPBearer(auto_error=False)

    @app.exception_handler(CtlabelError)
    async def _refused(_request: Request, exc: CtlabelError) -> JSONResponse:
        if isinstance(exc, TeamError):
            status = exc.status
        elif isinstance(exc, InputError | ValueError):
            status = 422
        elif isinstance(exc, StateError | LockError):
            status = 409
        else:
            status = 500
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": exc.reason if isinstance(exc, TeamError) else str(exc)}, status,
                            headers=headers)

    def current_user(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
        if cred is None or cred.scheme.lower() != "bearer":
            raise Unauthorized("a bearer token is needed (Authorization: Bearer <token>)")
        with svc.tx() as db:
            user = user_for_token(db, cred.credentials)
        if user is None:
            raise Unauthorized("the token is not valid (revoked or mistyped)")
        return user

    Me = Annotated[User, Depends(current_user)]

    def lead(user: Me) -> User:
        if user.role != "lead":
            raise Forbidden(f"{user.name} is {user.role}; this needs the lead")
        return user

    Lead = Annotated[User, Depends(lead)]

    @app.get(PREFIX + "/health")
    def health() -> dict:
        return {"ok": True, "project": svc.root.name}

    @app.get(PREFIX + "/me")
    def me(user: Me) -> dict:
        return {"user": user.name, "role": user.role}

    @app.get(PREFIX + "/me/stats")
    def my_stats(user: Me, since: str | None = None, until: str | None = None) -> dict:
        rep = reporting.report(svc, since, until, user_id=user.id)
        return {**{k: v for k, v in rep.items() if k != "people"}, "me": rep["people"][0] if rep["people"] else None}

    @app.get(PREFIX + "/me/cases")
    def my_cases(user: Me) -> dict:
        return {"cases": svc.my_cases(user)}

    @app.post(PREFIX + "/cases/next")
    def next_case(user: Me) -> dict:
        return svc.claim_next(user)

    @app.get(PREFIX + "/cases/{name}")
    def case_info(name: str, user: Me) -> dict:
        return svc.info(user, name)

    @app.get(PREFIX + "/cases/{name}/files/{file}")
    def case_file(name: str, file: str, user: Me) -> Response:
        with svc.tx() as db:
            row = svc.get_case(db, name)
            svc.require_access(db, user, row)
        case = svc.folder(row)
        if file in FILES:
            path = getattr(case, FILES[file])
        elif file in ("draft", "draft.json"):
            with svc.case_lock(row.id):
                path = uploads.editable_mask_path(case)
                if path is None:
                    raise NotFound(f"case {name} has no mask yet")
                etag = uploads.current_etag(case)
                if file == "draft.json":
                    from ctlabel.io.provenance import sidecar_path

                    path = sidecar_path(path)
                data = path.read_bytes()
            return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{etag}"'})
        else:
            raise NotFound(f"no file {file!r}; files are {', '.join([*FILES, 'draft', 'draft.json'])}")
        if not path.is_file():
            raise NotFound(f"case {name} has no {file}")
        return FileResponse(path, media_type="application/octet-stream")

    async def _receive(request: Request, user: User) -> uploads.Spool:
        limit = await run_in_threadpool(_limit)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise TooLarge(f"the upload ({length} bytes) is larger than the limit of {limit} bytes")
        spool = await run_in_threadpool(uploads.Spool, svc, limit)
        try:
            async for chunk in request.stream():
                spool.write(chunk)
            await run_in_threadpool(spool.finish)
        except BaseException:
            spool.close()
            raise
        return spool

    volume_work = asyncio.Semaphore(VOLUME_WORK_AT_ONCE)

    async def _volume_work(fn, *args, **kwargs):
        async with volume_work:
            return await run_in_threadpool(fn, *args, **kwargs)

    def _limit() -> int:
        with svc.tx() as db:
            return svc.settings(db).upload_limit

    @app.put(PREFIX + "/cases/{name}/draft", openapi_extra={"requestBody": {"content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}})
    async def upload_draft(name: str, request: Request, user: Me,
                           if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
        spool = await _receive(request, user)
        try:
            out = await _volume_work(uploads.store_upload, svc, user, name, spool.path, if_match)
        finally:
            spool.close()
        return JSONResponse(out, headers={"ETag": f'"{out["etag"]}"'})

    @app.put(PREFIX + "/cases/{name}/correction", openapi_extra={"requestBody": {"content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "required": True}})
    async def upload_correction(name: str, request: Request, user: Me, comment: str | None = None,
                                if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
        spool = await _receive(request, user)
        try:
            out = await _volume_work(uploads.store_upload, svc, user, name, spool.path, if_match,
                                     kind="correction", comment=comment)
        finally:
            spool.close()
        return JSONResponse(out, headers={"ETag": f'"{out["etag"]}"'})

    @app.post(PREFIX + "/cases/{name}/submit")
    async def submit(name: str, user: Me, body: SubmitBody | None = None) -> dict:
        return await _volume_work(svc.submit, user, name, force=bool(body and body.force))

    @app.post(PREFIX + "/cases/{name}/withdraw")
    def withdraw(name: str, user: Me) -> dict:
        return svc.withdraw(user, name)

    @app.post(PREFIX + "/cases/{name}/flag")
    def flag(name: str, body: ReasonBody, user: Me) -> dict:
        return svc.flag(user, name, body.reason)

    @app.post(PREFIX + "/cases/{name}/heartbeat")
    def heartbeat(name: str, user: Me) -> dict:
        return svc.heartbeat(user, name)

    @app.post(PREFIX + "/review/next")
    def review_next(user: Me) -> dict:
        return svc.review_next(user)

    @app.post(PREFIX + "/cases/{name}/approve")
    def approve(name: str, user: Me, body: CommentBody | None = None) -> dict:
        return svc.approve(user, name, body.comment if body else None)

    @app.post(PREFIX + "/cases/{name}/reject")
    def reject(name: str, body: RejectBody, user: Me) -> dict:
        return svc.reject(user, name, body.comment, [m.model_dump() for m in body.marks])

    @app.post(PREFIX + "/cases/{name}/reopen")
    def reopen(name: str, body: ReasonBody, user: Lead) -> dict:
        return svc.reopen(user, name, body.reason)

    @app.get(PREFIX + "/guidelines", response_class=PlainTextResponse)
    def get_guidelines(user: Me) -> PlainTextResponse:
        return PlainTextResponse(admin.guidelines(svc), media_type="text/markdown; charset=utf-8")

    @app.put(PREFIX + "/guidelines")
    async def put_guidelines(request: Request, user: Lead) -> dict:
        body = await request.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("guidelines are UTF-8 Markdown") from None
        await run_in_threadpool(admin.set_guidelines, svc, text, user)
        return {"ok": True, "size": len(body)}

    @app.get(PREFIX + "/report")
    def get_report(user: Lead, since: str | None = None, until: str | None = None) -> dict:
        return reporting.report(svc, since, until)

    @app.get(PREFIX + "/rates")
    def get_rates(user: Lead) -> dict:
        return admin.rates(svc)

    @app.put(PREFIX + "/rates")
    def put_rates(body: RatesBody, user: Lead) -> dict:
        cents = {k: v for k, v in body.model_dump().items() if k != "currency" and v is not None}
        return admin.set_rates(svc, cents, body.currency)

    @app.post(PREFIX + "/users")
    def add_user(body: UserBody, user: Lead) -> dict:
        return {"user": body.name, "role": body.role, "token": admin.add_user(svc, body.name, body.role)}

    @app.post(PREFIX + "/users/{name}/rotate")
    def rotate(name: str, user: Lead) -> dict:
        return {"user": name, "token": admin.rotate(svc, name)}

    @app.post(PREFIX + "/users/{name}/revoke")
    def revoke(name: str, user: Lead) -> dict:
        admin.revoke(svc, name)
        return {"user": name, "revoked": True}

    from ctlabel.team import dashboard  # the lead's pages at / (docs/team.md, "The lead's dashboard")

    dashboard.install(app)
    app.state.service = svc
    app.state.started = dt.datetime.now(dt.UTC).isoformat()
    return app


def serve(svc: Service, host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "warning") -> None:
    """Run the server until interrupted (uvicorn, one process; states are refreshed from case.json first)."""
    import uvicorn

    admin.resync(svc)
    app = create_app(svc)
    uvicorn.run(app, host=host, port=port, log_level=log_level, limit_concurrency=2000, timeout_keep_alive=30)


__all__ = ["PREFIX", "create_app", "serve"]
