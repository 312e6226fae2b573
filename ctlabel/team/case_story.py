"""A case's history as rows a person reads: when, who, what, comment (the console's case page).

The server's events carry ids and details (``annotator_id: 2``, ``reviews: {'4': 1}``); here
each becomes a sentence with names, and the comment, reason or marks of the event. The
``case.json`` events (the core's record) become rows of the same shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from ctlabel.model import Event as RecordEvent
from ctlabel.team.errors import as_utc


@dataclass(frozen=True)
class StoryRow:
    """One line of a case's history."""

    when: dt.datetime | None
    who: str
    what: str
    comment: str = ""


def _name(users: dict, uid: object) -> str:
    try:
        return users.get(int(str(uid)), f"user {uid}")
    except ValueError:
        return str(uid)


def _marks(marks: list) -> str:
    return "; ".join(f"slice {m.get('slice')}, label {m.get('label')}: {m.get('note') or ''}".rstrip(": ")
                     for m in marks if isinstance(m, dict))


#: Event kinds told by a fixed sentence (``{version}``, ``{read}`` filled in) and the detail key of their comment.
SIMPLE = {"claim": ("claimed it{read}", ""), "upload": ("saved a draft", ""), "withdraw": ("gave it back{read}", ""),
          "withdraw_submit": ("took the submission{version} back{read}", ""),
          "review_claim": ("took it for review", ""), "correct": ("uploaded a correction", "comment"),
          "flag": ("flagged it unusable", "reason"), "reopen": ("reopened it (a new draft)", "reason")}


def _submit(d: dict, which: str, users: dict) -> tuple[str, str]:
    what = f"submitted{which}" + (" (resubmission)" if d.get("resubmission") else "")
    if d.get("forced"):
        errors = d.get("qa_errors") or []
        return what + f", forced past {len(errors)} QA error(s)", "; ".join(map(str, errors))
    return what, ""


def _approve(d: dict, which: str, users: dict) -> tuple[str, str]:
    reviews = ", ".join(f"{_name(users, u)} ×{n}" for u, n in (d.get("reviews") or {}).items())
    return f"approved{which}" + (f" (earlier reviews: {reviews})" if reviews else ""), str(d.get("comment") or "")


def _reject(d: dict, which: str, users: dict) -> tuple[str, str]:
    marks = _marks(d.get("marks") or [])
    return f"rejected{which}", str(d.get("comment") or "") + (f" | marks: {marks}" if marks else "")


def _reassign(d: dict, which: str, users: dict) -> tuple[str, str]:
    before = f" from {_name(users, d['from_user_id'])}" if d.get("from_user_id") else ""
    return f"reassigned it to {d.get('to')}{before}", ""


def _release(d: dict, which: str, users: dict) -> tuple[str, str]:
    who = f" ({', '.join(map(str, d['readers']))})" if d.get("readers") else ""
    return f"released the {d.get('lease', '')} lease{who}", ""


def _agreement(d: dict, which: str, users: dict) -> tuple[str, str]:
    dice = d.get("mean_dice")
    return f"compared reads {d.get('a')} and {d.get('b')}", f"mean Dice {dice:.3f}" if isinstance(dice, float) else ""


_SPECIAL = {"submit": _submit, "approve": _approve, "reject": _reject, "reassign": _reassign, "release": _release,
            "agreement": _agreement}


def describe(kind: str, detail: dict | None, users: dict[int, str]) -> tuple[str, str]:
    """What a server event says, in words, and its comment.

    Parameters
    ----------
    kind : str
        The event kind (``claim``, ``submit``, ``reject``, ...).
    detail : dict, optional
        The event's detail.
    users : dict
        User id to name.

    Returns
    -------
    tuple of str
        ``(what, comment)``.
    """
    d = dict(detail or {})
    version = f" {d['version']}" if d.get("version") else ""
    read = f" (read {d['read']})" if d.get("read") else ""
    if kind in SIMPLE:
        what, key = SIMPLE[kind]
        return what.format(version=version, read=read), str(d.get(key) or "") if key else ""
    special = _SPECIAL.get(kind)
    if special is not None:
        return special(d, version + read, users)
    words = []
    for k, v in d.items():
        if k.endswith("_id"):
            k, v = k[:-3], _name(users, v)
        words.append(f"{k.replace('_', ' ')} {v}")
    return kind.replace("_", " "), ", ".join(words)


def server_rows(events: list[dict], users: dict[int, str]) -> list[StoryRow]:
    """Rows of the server's events (``at``, ``who``, ``kind``, ``detail`` dicts, oldest first)."""
    out = []
    for e in events:
        what, comment = describe(e["kind"], e["detail"], users)
        out.append(StoryRow(as_utc(e["at"]) if e["at"] else None, e["who"] or "server", what, comment))
    return out


def _parse(text: object) -> dt.datetime | None:
    try:
        return as_utc(dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    except ValueError:
        return None


def record_rows(events: Sequence[RecordEvent]) -> list[StoryRow]:
    """Rows of ``case.json``'s events (the core's record: when, who, role, action, version, comment)."""
    out = []
    for ev in events:
        what = str(ev.action) + (f" {ev.version}" if ev.version else "")
        if ev.forced:
            what += f", forced past {len(ev.qa_errors)} QA error(s)"
        out.append(StoryRow(_parse(ev.when), f"{ev.who} ({ev.role})", what, str(ev.comment or "")))
    return out


def when_text(t: dt.datetime | None) -> str:
    """A time on one line: ``2026-12-08 00:55 UTC`` style, seconds included (``YYYY-MM-DD HH:MM:SS``)."""
    return as_utc(t).strftime("%Y-%m-%d %H:%M:%S") if t else ""


__all__ = ["StoryRow", "describe", "record_rows", "server_rows", "when_text"]
