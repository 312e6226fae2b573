"""The HTTP API of the team server (FastAPI): thin adapters over :class:`~ctlabel.team.service.Service`.

Every route but ``/api/v1/health`` needs ``Authorization: Bearer <token>`` (401 without a
valid one); the role and the case decide the rest (403). Case ids are looked up in the
database, never used as paths. ``/openapi.json`` describes it all (``/docs`` and ``/redoc``,
which load their scripts from a CDN, only when the server is started with them).

Every answer carries security headers (:class:`SecurityHeaders`): the dashboard's pages load
nothing but their own images and styles, are never framed, and send no referrer.
"""

import datetime as dt
import ipaddress

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctlabel.errors import CtlabelError, InputError, LockError, StateError
from ctlabel.team import admin, api_cases, api_lead, api_reads
from ctlabel.team.api_cases import FILES
from ctlabel.team.service import Service, TeamError
from ctlabel.team.sessions import SessionPolicy
from ctlabel.team.volume_work import VolumeWorkers

PREFIX = "/api/v1"
#: Worker processes for volume work (checking and storing uploads, a submit's QA) that
#: ``ctlabel team serve`` starts by default: :mod:`ctlabel.team.volume_work`.
VOLUME_WORKERS = 2
#: Headers of every answer: never framed, never sniffed, no referrer sent on.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
#: The dashboard's pages: server-rendered HTML with inline styles and SVG, its own images, forms posting to itself.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
_DOCS = ("/docs", "/redoc")  # Swagger UI and ReDoc run scripts from a CDN: no content policy there (when enabled)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` and :data:`CONTENT_SECURITY_POLICY` to every answer.

    Pure ASGI (not ``BaseHTTPMiddleware``), so uploads and downloads stream through untouched.

    Parameters
    ----------
    app : ASGI application
        The application whose answers get the headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(_DOCS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not docs:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, with_headers)


def plain_http_warning(host: str) -> str | None:
    """What to tell the lead who serves plain HTTP beyond this machine: tokens travel in clear.

    Parameters
    ----------
    host : str
        The address the server listens on.

    Returns
    -------
    str or None
        The warning; None for a loopback address (``127.0.0.1``, ``::1``, ``localhost``).
    """
    name = host.strip("[]")
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name: it may be reached from elsewhere
        loopback = False
    if loopback:
        return None
    return (f"serving plain HTTP on {host}: bearer tokens and masks travel in clear to anybody on the network; "
            "put a reverse proxy with TLS in front and listen on 127.0.0.1 (docs/team.md, 'Remote annotators')")


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
    extra = {"options": list(exc.options)} if isinstance(exc, CtlabelError) and exc.options else {}
    return JSONResponse({"detail": exc.reason if isinstance(exc, TeamError) else str(exc), **extra}, status,
                        headers=headers)


def create_app(svc: Service, volume: VolumeWorkers | None = None, *, docs: bool = False,
               trust_proxy: str | None = None, sessions: SessionPolicy | None = None) -> FastAPI:
    """The FastAPI application serving ``svc``'s project.

    Parameters
    ----------
    svc : Service
        The project's service.
    volume : VolumeWorkers, optional
        Where uploads and submits run (default: the app's own threads, two at a time).
    docs : bool
        Serve the interactive API pages ``/docs`` and ``/redoc`` (they load scripts from a CDN).
    trust_proxy : str, optional
        The addresses of a TLS reverse proxy (comma-separated, ``*`` any) whose ``X-Forwarded-Proto``
        and ``X-Forwarded-For`` are believed (the request's scheme and client); by default none.
    sessions : SessionPolicy, optional
        How long a dashboard log-in lasts (default: 12 h, 1 h idle).

    Returns
    -------
    fastapi.FastAPI
        The API under :data:`PREFIX` (:mod:`ctlabel.team.api_cases`, :mod:`ctlabel.team.api_lead`)
        and the lead's dashboard at ``/``.
    """
    app = FastAPI(title="ctlabel team server", version="1", description=__doc__,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)
    app.add_middleware(SecurityHeaders)
    if trust_proxy:  # only then: behind a TLS proxy the dashboard's cookie is Secure (https)
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trust_proxy)
    app.state.service = svc
    app.state.sessions = sessions or SessionPolicy()
    app.state.volume_work = volume or VolumeWorkers(svc, 0)
    app.add_exception_handler(CtlabelError, _refused)
    app.include_router(api_cases.router, prefix=PREFIX)
    app.include_router(api_lead.router, prefix=PREFIX)
    app.include_router(api_reads.router, prefix=PREFIX)
    from ctlabel.team import api_accuracy  # GET /me/accuracy: the caller's own accuracy

    app.include_router(api_accuracy.router, prefix=PREFIX)

    from ctlabel.team import dashboard  # the lead's pages at / (docs/team.md, "The lead's dashboard")

    dashboard.install(app)
    app.state.started = dt.datetime.now(dt.UTC).isoformat()
    return app


def serve(svc: Service, host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "warning",
          volume_workers: int = VOLUME_WORKERS, docs: bool = False,
          trust_proxy: str | None = None, sessions: SessionPolicy | None = None) -> None:
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
    trust_proxy : str, optional
        The addresses of the TLS reverse proxy in front (:func:`create_app`); uvicorn's own handling
        of proxy headers, which believes any process on the machine, is off.
    sessions : SessionPolicy, optional
        How long a dashboard log-in lasts.
    docs : bool
        Serve ``/docs`` and ``/redoc``.
    """
    import sys

    import uvicorn

    warning = plain_http_warning(host)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)

    if not volume_workers:
        # Volume work in this process holds the GIL in bursts; with Python's 5 ms switch interval a short
        # request waits up to 5 ms each time it comes back from the database or the socket. 1 ms keeps
        # heartbeats and claims quick while uploads run here (benchmarks/team.py). This process only.
        sys.setswitchinterval(0.001)
    admin.resync(svc)
    volume = VolumeWorkers(svc, volume_workers)
    try:
        volume.start()
        app = create_app(svc, volume, docs=docs, trust_proxy=trust_proxy, sessions=sessions)
        uvicorn.run(app, host=host, port=port, log_level=log_level, limit_concurrency=2000, timeout_keep_alive=30,
                    proxy_headers=False)
    finally:
        volume.close()


__all__ = ["CONTENT_SECURITY_POLICY", "FILES", "PREFIX", "SECURITY_HEADERS", "VOLUME_WORKERS", "SecurityHeaders",
           "create_app", "plain_http_warning", "serve"]
