"""Refusals of the team server, each with the HTTP status the API answers with."""

from __future__ import annotations

import datetime as dt
from typing import overload

from ctlabel.errors import CtlabelError


class TeamError(CtlabelError):
    """A refused request; ``status`` is the HTTP status the API answers with."""

    status = 400


class Unauthorized(TeamError):
    """No valid bearer token (HTTP 401)."""

    status = 401


class Forbidden(TeamError):
    """The user may not do this: their role, the case's assignment or a review rule forbids it (HTTP 403)."""

    status = 403


class NotFound(TeamError):
    """Nothing to act on: no such case or user, or no case waiting (HTTP 404)."""

    status = 404


class Conflict(TeamError):
    """The request conflicts with the state of the case or project (HTTP 409)."""

    status = 409


class TooLarge(TeamError):
    """An upload beyond the project's upload limit (HTTP 413)."""

    status = 413


class Invalid(TeamError):
    """A request whose content is not valid (HTTP 422)."""

    status = 422


class Unavailable(TeamError):
    """The server could not finish the request now (a worker process died); try again (HTTP 503)."""

    status = 503


@overload
def as_utc(t: dt.datetime) -> dt.datetime: ...


@overload
def as_utc(t: dt.datetime | None) -> dt.datetime | None: ...


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t


__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "TeamError", "TooLarge", "Unauthorized", "Unavailable",
           "as_utc"]
