"""What every route of the team API depends on: the project's service, the caller, the lead, volume work.

The service and the volume-work semaphore live in ``app.state`` (set by
:func:`ctlabel.team.api.create_app`), so the routers (:mod:`ctlabel.team.api_cases`,
:mod:`ctlabel.team.api_lead`) are module-level and serve whichever project their app does.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ctlabel.team.auth import user_for_token
from ctlabel.team.db import User
from ctlabel.team.service import Forbidden, Service, Unauthorized

bearer = HTTPBearer(auto_error=False)


def service(request: Request) -> Service:
    """The service of the project the app serves.

    Parameters
    ----------
    request : fastapi.Request
        The request.

    Returns
    -------
    Service
    """
    return request.app.state.service


Svc = Annotated[Service, Depends(service)]


def current_user(svc: Svc, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The user whose bearer token the request carries.

    Parameters
    ----------
    svc : Service
        The project's service.
    cred : HTTPAuthorizationCredentials, optional
        The ``Authorization`` header.

    Returns
    -------
    User

    Raises
    ------
    Unauthorized
        No bearer token, or one that is not valid (revoked or mistyped).
    """
    if cred is None or cred.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is needed (Authorization: Bearer <token>)")
    with svc.tx() as db:
        user = user_for_token(db, cred.credentials)
    if user is None:
        raise Unauthorized("the token is not valid (revoked or mistyped)")
    return user


Me = Annotated[User, Depends(current_user)]


def lead(user: Me) -> User:
    """The user, when they are the lead.

    Parameters
    ----------
    user : User
        The caller.

    Returns
    -------
    User

    Raises
    ------
    Forbidden
        The caller is not the lead.
    """
    if user.role != "lead":
        raise Forbidden(f"{user.name} is {user.role}; this needs the lead")
    return user


Lead = Annotated[User, Depends(lead)]


def volume_work(request: Request) -> Callable[..., Awaitable[Any]]:
    """A runner of work on whole volumes: in the thread pool, at most ``VOLUME_WORK_AT_ONCE`` at a time.

    Parameters
    ----------
    request : fastapi.Request
        The request (its app holds the semaphore).

    Returns
    -------
    callable
        ``await run(fn, *args, **kwargs)`` runs ``fn`` in the thread pool once a slot is free.
    """
    slots = request.app.state.volume_work

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with slots:
            return await run_in_threadpool(fn, *args, **kwargs)

    return run


VolumeWork = Annotated[Callable[..., Awaitable[Any]], Depends(volume_work)]

__all__ = ["Lead", "Me", "Svc", "VolumeWork", "current_user", "lead", "service", "volume_work"]
