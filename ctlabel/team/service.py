"""The team rules of one served project, without HTTP: the project's core and its rule collaborators.

:class:`Service` is the shared plumbing (:class:`~ctlabel.team.core.ProjectCore`: database
sessions, settings, case folders and locks, events, leases) with the rules composed onto it, each
a small collaborator with one job that is given the core and, explicitly, any other collaborator
it needs:

* :attr:`Service.claims` (:class:`~ctlabel.team.claims.Claims`): claims and leases, submit,
  withdraw, flag, heartbeats, the worklist;
* :attr:`Service.reviews` (:class:`~ctlabel.team.review_rules.Reviews`): review-next, approve,
  reject with marks, reopen;
* :attr:`Service.double_reads` (:class:`~ctlabel.team.double_read.DoubleReads`): reader slots,
  reads and their agreement;
* :attr:`Service.gold` (:class:`~ctlabel.team.gold.Gold`): gold-standard cases, served among claims and scored;
* :attr:`Service.policy` (:class:`~ctlabel.team.policy.Policies`): the review policy, applied at submit;
* pay periods: the functions of :mod:`ctlabel.team.pay`, given the service.

Errors are :class:`TeamError` subclasses carrying the HTTP status the API answers with.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ctlabel.team.claims import Claims
from ctlabel.team.core import ProjectCore
from ctlabel.team.db import User
from ctlabel.team.double_read import DoubleReads
from ctlabel.team.errors import Conflict, Forbidden, Invalid, NotFound, TeamError, TooLarge, Unauthorized
from ctlabel.team.gold import Gold
from ctlabel.team.policy import Policies
from ctlabel.team.review_rules import Reviews


class Service(ProjectCore):
    """A served project: its core and the rules composed onto it.

    Parameters
    ----------
    root : path
        The project folder.
    url : str, optional
        Database URL; default: ``team.json``'s, else SQLite ``team.db`` in the project.

    Attributes
    ----------
    double_reads : DoubleReads
        The double-reading rules.
    claims : Claims
        The annotator's rules (claims, submit, withdraw, flag, heartbeats).
    reviews : Reviews
        The reviewer's rules (review-next, approve, reject, reopen).
    gold : Gold
        The gold-standard cases (served among claims, scored on submit).
    policy : Policies
        The review policy (``docs/quality.md``; off by default).
    """

    def __init__(self, root: str | Path, url: str | None = None) -> None:
        super().__init__(root, url)
        self.double_reads = DoubleReads(self)
        self.gold = Gold(self)
        self.policy = Policies(self)
        self.claims = Claims(self, self.double_reads, self.gold, self.policy)
        self.reviews = Reviews(self, self.double_reads)

    # --- kept for the lead's console (ctlabel/team/dashboard*.py) -------------------------
    def heartbeat(self, user: User, name: str, at: dt.datetime | None = None) -> dict:
        """:meth:`Claims.heartbeat <ctlabel.team.claims.Claims.heartbeat>`."""
        return self.claims.heartbeat(user, name, at=at)

    def reopen(self, user: User, name: str, reason: str) -> dict:
        """:meth:`Reviews.reopen <ctlabel.team.review_rules.Reviews.reopen>`."""
        return self.reviews.reopen(user, name, reason)


__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "Service", "TeamError", "TooLarge", "Unauthorized"]
