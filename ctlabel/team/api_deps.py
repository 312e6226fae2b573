"""What every route of the team API depends on: the project's service, the caller, the lead, volume work.

The service and the volume workers live in ``app.state`` (set by
:func:`ctlabel.team.api.create_app`), so the routers (:mod:`ctlabel.team.api_cases`,
:mod:`ctlabel.team.api_lead`) are module-level and serve whichever project their app does.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ctlabel.team.auth import user_for_token
from ctlabel.team.db import User
from ctlabel.team.service import Forbidden, Service, Unauthorized
from ctlabel.team.volume_work import VolumeWorkers

bearer = HTTPBearer(auto_error=False)


async def service(request: Request) -> Service:
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
    with svc.read() as db:
        user = user_for_token(db, cred.credentials)
    if user is None:
        raise Unauthorized("the token is not valid (revoked or mistyped)")
    return user


Me = Annotated[User, Depends(current_user)]


async def lead(user: Me) -> User:
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


async def volume_work(request: Request) -> VolumeWorkers:
    """The app's runner of work on whole volumes (uploads, submits): :mod:`ctlabel.team.volume_work`.

    Parameters
    ----------
    request : fastapi.Request
        The request (its app holds the workers).

    Returns
    -------
    VolumeWorkers
    """
    return request.app.state.volume_work


VolumeWork = Annotated[VolumeWorkers, Depends(volume_work)]

__all__ = ["Lead", "Me", "Svc", "VolumeWork", "current_user", "lead", "service", "volume_work"]
