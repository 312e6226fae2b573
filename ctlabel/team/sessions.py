"""The lead's dashboard sessions: a random id in the cookie, never the token; expiry, logout, revocation.

Logging in to the dashboard with a lead token starts a session: :func:`start` draws a random
id (``secrets.token_urlsafe``, 256 bits), stores only its SHA-256 in ``dashboard_sessions``
with the user, when it began, when it ends at the latest and when it was last used, and hands
the id back for the cookie. :func:`resolve` finds the user of an id while the session lasts:
not revoked, before its absolute end (:attr:`SessionPolicy.absolute_s`, 12 h by default) and
used within the idle limit (:attr:`SessionPolicy.idle_s`, 1 h). Logging out (:func:`end`),
rotating or revoking the user's token (:func:`end_all`, called by :mod:`ctlabel.team.auth`)
revoke sessions; a row records why. The dashboard's CSRF token is derived from the session's id,
so it dies with the session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ctlabel.errors import InputError
from ctlabel.team.db import SESSION_ENDS, DashboardSession, User, utcnow
from ctlabel.team.errors import as_utc

#: A session ends at the latest this long after the log-in (seconds): 12 hours.
ABSOLUTE_S = 12 * 3600
#: A session ends when the dashboard was not used for this long (seconds): 1 hour.
IDLE_S = 3600
#: Sessions that ended this long ago are deleted at the next log-in (the rows are only a log).
KEEP_ENDED = dt.timedelta(days=90)
_ID_MAX = 200  # longer cookie values are not looked up


@dataclass(frozen=True)
class SessionPolicy:
    """How long a dashboard session lasts (``ctlabel team serve --session-hours/--session-idle-minutes``).

    Parameters
    ----------
    absolute_s : int
        Seconds from the log-in to the end of the session, however busy (default 12 h).
    idle_s : int
        Seconds without a request after which the session ends (default 1 h).
    """

    absolute_s: int = ABSOLUTE_S
    idle_s: int = IDLE_S

    def __post_init__(self) -> None:
        if not 0 < self.absolute_s <= 366 * 86400 or not 0 < self.idle_s <= 366 * 86400:
            raise InputError(f"a dashboard session lasts between 1 s and a year, not absolute {self.absolute_s} s, "
                             f"idle {self.idle_s} s")

    @property
    def touch_s(self) -> float:
        """How stale ``last_seen`` may be before a request writes it again (at most a minute)."""
        return min(60.0, self.idle_s / 4)


def hash_id(session_id: str) -> str:
    """SHA-256 (hex) of a session id, as stored."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start(db: Session, user: User, policy: SessionPolicy, now: dt.datetime | None = None) -> str:
    """Start a dashboard session of ``user``; return its id (for the cookie, never stored).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        A session in a transaction.
    user : User
        Who logged in (the caller checked the token and the role).
    policy : SessionPolicy
        How long it lasts.
    now : datetime, optional
        The time of the log-in (default: now).

    Returns
    -------
    str
        The session id: 43 URL-safe characters.
    """
    now = now or utcnow()
    db.execute(delete(DashboardSession).where(DashboardSession.expires < now - KEEP_ENDED))
    session_id = secrets.token_urlsafe(32)
    db.add(DashboardSession(user_id=user.id, id_hash=hash_id(session_id), created=now,
                            expires=now + dt.timedelta(seconds=policy.absolute_s), last_seen=now))
    return session_id


def resolve(db: Session, session_id: str | None, policy: SessionPolicy,
            now: dt.datetime | None = None) -> User | None:
    """The user of a live session, or None (unknown, revoked, past its end, idle too long, token gone).

    A request within the session moves its ``last_seen`` (written at most once a minute).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        A session in a transaction.
    session_id : str or None
        The cookie's value.
    policy : SessionPolicy
        The server's limits; a shorter absolute limit than the one of the log-in applies too.
    now : datetime, optional
        The time of the request (default: now).

    Returns
    -------
    User or None
    """
    if not session_id or len(session_id) > _ID_MAX:
        return None
    now = now or utcnow()
    row = db.scalar(select(DashboardSession).where(DashboardSession.id_hash == hash_id(session_id)))
    if row is None or row.revoked is not None:
        return None
    created, last_seen = as_utc(row.created), as_utc(row.last_seen)
    ends = min(as_utc(row.expires), created + dt.timedelta(seconds=policy.absolute_s))
    if now >= ends or (now - last_seen).total_seconds() >= policy.idle_s:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active or user.token_hash is None:
        return None
    if (now - last_seen).total_seconds() >= policy.touch_s:
        row.last_seen = now
    return user


def end(db: Session, session_id: str | None, why: str = "logout") -> bool:
    """Revoke one session (log out); False when there was no open session with that id.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        A session in a transaction.
    session_id : str or None
        The cookie's value.
    why : str
        One of :data:`~ctlabel.team.db.SESSION_ENDS`.

    Returns
    -------
    bool
    """
    if not session_id or len(session_id) > _ID_MAX:
        return False
    done = db.execute(update(DashboardSession)
                      .where(DashboardSession.id_hash == hash_id(session_id), DashboardSession.revoked.is_(None))
                      .values(revoked=utcnow(), revoked_why=_why(why)))
    return bool(getattr(done, "rowcount", 0))


def end_all(db: Session, user: User, why: str) -> int:
    """Revoke every open session of ``user`` (their token was rotated or revoked); return how many.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        A session in a transaction.
    user : User
        Whose sessions end.
    why : str
        One of :data:`~ctlabel.team.db.SESSION_ENDS`.

    Returns
    -------
    int
    """
    done = db.execute(update(DashboardSession)
                      .where(DashboardSession.user_id == user.id, DashboardSession.revoked.is_(None))
                      .values(revoked=utcnow(), revoked_why=_why(why)))
    return int(getattr(done, "rowcount", 0))


def _why(why: str) -> str:
    if why not in SESSION_ENDS:
        raise ValueError(f"a session ends by {', '.join(SESSION_ENDS)}, not {why!r}")
    return why


__all__ = ["ABSOLUTE_S", "IDLE_S", "KEEP_ENDED", "SessionPolicy", "end", "end_all", "hash_id", "resolve", "start"]
