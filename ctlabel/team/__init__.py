"""The team labeling server: a database of who works on which case, over the case folders.

The server (:mod:`ctlabel.team.api`, FastAPI on uvicorn) hands out cases, takes uploads
and review decisions and keeps time and pay; every change of a case folder goes through
:mod:`ctlabel.case.review` (case lock, events, hash chain). The database never holds voxels.
See ``docs/team.md``.

Importing this package imports neither FastAPI nor SQLAlchemy: ``Client`` loads httpx
when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from ctlabel.team.client import Client

        return Client
    raise AttributeError(name)
