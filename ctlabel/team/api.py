"""The HTTP API of the team server (FastAPI): thin adapters over :class:`~ctlabel.team.service.Service`.

Every route but ``/api/v1/health`` needs ``Authorization: Bearer <token>`` (401 without a
valid one); the role and the case decide the rest (403). Case ids are looked up in the
database, never used as paths. ``/docs`` and ``/openapi.json`` describe it all.
"""

import datetime as dt

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ctlabel.errors import CtlabelError, InputError, LockError, StateError
from ctlabel.team import admin, api_cases, api_lead, api_reads
from ctlabel.team.api_cases import FILES
from ctlabel.team.service import Service, TeamError
from ctlabel.team.volume_work import VolumeWorkers

PREFIX = "/api/v1"
#: Worker processes for volume work (checking and storing uploads, a submit's QA) that
#: ``ctlabel team serve`` starts by default: :mod:`ctlabel.team.volume_work`.
VOLUME_WORKERS = 2


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    """A refusal as JSON ``{"detail": reason}`` with its HTTP status."""
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


def create_app(svc: Service, volume: VolumeWorkers | None = None) -> FastAPI:
    """The FastAPI application serving ``svc``'s project.

    Parameters
    ----------
    svc : Service
        The project's service.
    volume : VolumeWorkers, optional
        Where uploads and submits run (default: the app's own threads, two at a time).

    Returns
    -------
    fastapi.FastAPI
        The API under :data:`PREFIX` (:mod:`ctlabel.team.api_cases`, :mod:`ctlabel.team.api_lead`)
        and the lead's dashboard at ``/``.
    """
    app = FastAPI(title="ctlabel team server", version="1", description=__doc__)
    app.state.service = svc
    app.state.volume_work = volume or VolumeWorkers(svc, 0)
    app.add_exception_handler(CtlabelError, _refused)
    app.include_router(api_cases.router, prefix=PREFIX)
    app.include_router(api_lead.router, prefix=PREFIX)
    app.include_router(api_reads.router, prefix=PREFIX)

    from ctlabel.team import dashboard  # the lead's pages at / (docs/team.md, "The lead's dashboard")

    dashboard.install(app)
    app.state.started = dt.datetime.now(dt.UTC).isoformat()
    return app


def serve(svc: Service, host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "warning",
          volume_workers: int = VOLUME_WORKERS) -> None:
    """Run the server until interrupted; states are refreshed from case.json first.

    Parameters
    ----------
    svc : Service
        The project's service.
    host, port : str, int
        Where to listen (loopback by default: docs/team.md says how to serve remote annotators).
    log_level : str
        uvicorn's log level.
    volume_workers : int
        Worker processes for uploads and submits, at a lower priority (0: in the server's threads).
    """
    import sys

    import uvicorn

    if not volume_workers:
        # Volume work in this process holds the GIL in bursts; with Python's 5 ms switch interval a short
        # request waits up to 5 ms each time it comes back from the database or the socket. 1 ms keeps
        # heartbeats and claims quick while uploads run here (benchmarks/team.py). This process only.
        sys.setswitchinterval(0.001)
    admin.resync(svc)
    volume = VolumeWorkers(svc, volume_workers)
    try:
        volume.start()
        app = create_app(svc, volume)
        uvicorn.run(app, host=host, port=port, log_level=log_level, limit_concurrency=2000, timeout_keep_alive=30)
    finally:
        volume.close()


__all__ = ["FILES", "PREFIX", "VOLUME_WORKERS", "create_app", "serve"]
