"""Bearer tokens: random, shown once, only their SHA-256 stored; add, rotate, revoke.

A token is ``ctl_`` followed by 43 URL-safe characters (256 random bits). The database
keeps its SHA-256, so a copy of the database gives nobody a working token. Comparing
hashes found by an index lookup leaks nothing useful about the token itself.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ctlabel.errors import InputError
from ctlabel.team.db import ROLES, Event, User
from ctlabel.team.sessions import end_all

TOKEN_PREFIX = "ctl_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    """A user name: letters, digits, ``_ . @ -``; it is written into case records."""
    if not _NAME.match(name or ""):
        raise InputError(f"a user name is letters, digits and _ . @ - (at most 100), not {name!r}")
    return name


def add_user(db: Session, name: str, role: str) -> tuple[User, str]:
    """Create a user; return it and its token (shown once, never stored)."""
    check_name(name)
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if db.scalar(select(User).where(User.name == name)) is not None:
        from ctlabel.team.service import Conflict

        raise Conflict(f"user {name!r} exists; rotate their token instead")
    token = new_token()
    user = User(name=name, role=role, token_hash=hash_token(token), active=True)
    db.add(user)
    db.flush()
    db.add(Event(user_id=user.id, kind="user_added", detail={"role": role}))
    return user, token


def _get(db: Session, name: str) -> User:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        from ctlabel.team.service import NotFound

        raise NotFound(f"no user {name!r}")
    return user


def rotate_token(db: Session, name: str) -> str:
    """Give a user a new token; the old one and the dashboard sessions it opened stop working at once."""
    user = _get(db, name)
    token = new_token()
    user.token_hash = hash_token(token)
    user.active = True
    end_all(db, user, "token_rotated")
    db.add(Event(user_id=user.id, kind="token_rotated"))
    return token


def revoke_token(db: Session, name: str) -> None:
    """Stop a user's token and dashboard sessions from working (their work stays; rotate gives a new token)."""
    user = _get(db, name)
    user.token_hash = None
    user.active = False
    end_all(db, user, "token_revoked")
    db.add(Event(user_id=user.id, kind="token_revoked"))


def user_for_token(db: Session, token: str | None) -> User | None:
    """The active user a token belongs to, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    user = db.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None or not user.active:
        return None
    return user


__all__ = ["add_user", "check_name", "hash_token", "new_token", "revoke_token", "rotate_token", "user_for_token"]
