"""Refusals of the team server, each with the HTTP status the API answers with."""

from __future__ import annotations

import datetime as dt

from ctlabel.errors import CtlabelError


class TeamError(CtlabelError):
    """A refused request; ``status`` is the HTTP status the API answers with."""

    status = 400


class Unauthorized(TeamError):
    status = 401


class Forbidden(TeamError):
    status = 403


class NotFound(TeamError):
    status = 404


class Conflict(TeamError):
    status = 409


class TooLarge(TeamError):
    status = 413


class Invalid(TeamError):
    status = 422


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t


__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "TeamError", "TooLarge", "Unauthorized", "as_utc"]
