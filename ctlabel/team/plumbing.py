"""What the rule mixins of :class:`ctlabel.team.service.Service` use of it, for the type checker only.

The mixins (``ReviewRules``...) derive from :class:`Plumbing` only while type checking; at run
time their base is ``object`` and :class:`~ctlabel.team.service.Service` supplies each member.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from ctlabel.case.folder import Case
    from ctlabel.team.db import CaseRow, Project


class Plumbing(Protocol):
    """The members of ``Service`` that its mixins call (arguments as ``Service`` defines them)."""

    engine: Engine

    def tx(self) -> AbstractContextManager[Session]: ...

    def case_lock(self, *args: Any, **kwargs: Any) -> AbstractContextManager[None]: ...

    def settings(self, *args: Any, **kwargs: Any) -> Project: ...

    def folder(self, *args: Any, **kwargs: Any) -> Case: ...

    def core(self, *args: Any, **kwargs: Any) -> Any: ...

    def sync(self, *args: Any, **kwargs: Any) -> str: ...

    def log(self, *args: Any, **kwargs: Any) -> None: ...

    def get_case(self, *args: Any, **kwargs: Any) -> CaseRow: ...

    def renew(self, *args: Any, **kwargs: Any) -> None: ...

    def require_role(self, *args: Any, **kwargs: Any) -> None: ...

    def case_summary(self, *args: Any, **kwargs: Any) -> dict: ...

    def approve(self, *args: Any, **kwargs: Any) -> dict: ...  # ReviewRules, for DoubleReadRules

    def double_credit(self, *args: Any, **kwargs: Any) -> dict: ...  # DoubleReadRules, for ReviewRules
