"""QA findings grouped by check and label, for a person: a count, the worst example, a summary line.

A mask can have hundreds of findings (every small island of a noisy label is one). A person
reads them by *what* is wrong where: :func:`group_findings` folds them into one
:class:`FindingGroup` per (check, label), errors first, then by count; :func:`summary_line`
says it in one short line (``QA: 3 errors, 497 warnings in 4 groups``) and
:func:`describe_group` says one group in one line. The napari plugin, the CLI and the server
show these; the full list stays in each group's ``findings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ctlabel.qa import ERROR, Finding

#: Level order: the worse level first.
_RANK = {ERROR: 0}


def _rank(level: str) -> int:
    return _RANK.get(level, 1)


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one check about one label.

    Attributes
    ----------
    check : str
        The check that found them.
    label : int, optional
        The label concerned (None for findings about no label, e.g. ``geometry``).
    level : str
        The worst level among them (``error`` if any is an error, else ``warning``).
    findings : tuple of Finding
        Every finding of the group, in the order found (the worst level first).
    """

    check: str
    label: int | None
    level: str
    findings: tuple[Finding, ...]

    @property
    def count(self) -> int:
        """How many findings the group holds."""
        return len(self.findings)

    @property
    def worst(self) -> Finding:
        """The example to show and jump to: the first finding of the worst level, preferring one with a slice."""
        best = [f for f in self.findings if f.level == self.level]
        return next((f for f in best if f.slice is not None), best[0])

    @property
    def slices(self) -> list[int]:
        """The distinct slices the group's findings point to, sorted."""
        return sorted({f.slice for f in self.findings if f.slice is not None})


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """Fold findings into one group per (check, label): errors first, then the largest groups.

    Parameters
    ----------
    findings : iterable of Finding
        As :func:`ctlabel.qa.check_mask` returns them.

    Returns
    -------
    list of FindingGroup
        Ordered by level (error groups first), then count (descending), then first appearance.
        Every finding is in exactly one group.
    """
    by_key: dict[tuple[str, int | None], list[Finding]] = {}
    for f in findings:
        by_key.setdefault((f.check, f.label), []).append(f)
    groups = []
    for (check, label), fs in by_key.items():
        ordered = sorted(fs, key=lambda f: _rank(f.level))  # stable: the order found within a level
        level = ordered[0].level
        groups.append(FindingGroup(check, label, level, tuple(ordered)))
    order = {key: i for i, key in enumerate(by_key)}
    groups.sort(key=lambda g: (_rank(g.level), -g.count, order[(g.check, g.label)]))
    return groups


def count_levels(findings: Iterable[Finding]) -> tuple[int, int]:
    """The number of errors and of other findings (warnings)."""
    errors = warnings = 0
    for f in findings:
        if f.level == ERROR:
            errors += 1
        else:
            warnings += 1
    return errors, warnings


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(groups: list[FindingGroup]) -> str:
    """One short line for a status bar: ``QA: 3 errors, 497 warnings in 4 groups``.

    A level without findings is left out (``QA: 1 warning in 1 group``); ``QA: no findings``.
    """
    if not groups:
        return "QA: no findings"
    errors, warnings = count_levels(f for g in groups for f in g.findings)
    counts = [_plural(n, word) for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return f"QA: {', '.join(counts)} in {_plural(len(groups), 'group')}"


def describe_group(group: FindingGroup, width: int = 160) -> str:
    """One line for a group: level, check, label, count and the worst example (cut to ``width`` characters).

    Parameters
    ----------
    group : FindingGroup
        The group.
    width : int
        The longest line returned; a longer one ends with an ellipsis.

    Returns
    -------
    str
        E.g. ``error: unknown_label, label 7: 1 finding, slice 12: label value 7 is not in ...``.
    """
    w = group.worst
    label = "" if group.label is None else f", label {group.label}"
    where = "" if w.slice is None else f"slice {w.slice}: "
    text = f"{group.level}: {group.check}{label}: {_plural(group.count, 'finding')}"
    if group.count > 1:
        ks = group.slices
        if len(ks) > 1:
            text += f" on {len(ks)} slices ({ks[0]}-{ks[-1]})"
        text += f"; e.g. {where}{w.message}"
    else:
        text += f"; {where}{w.message}"
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def describe_finding(f: Finding) -> str:
    """One line for a person: level, check, label, slice and the message."""
    where = "".join(f" {k} {v}" for k, v in (("label", f.label), ("slice", f.slice)) if v is not None)
    return f"{f.level}: {f.check}{where}: {f.message}"


@dataclass(frozen=True)
class QAGroups:
    """The findings of a mask grouped for a person: what the plugin, the CLI and the server show.

    One object for the grouping, its summary line and the lines of a group or a finding, so a
    view needs this name only (:func:`group_findings`, :func:`summary_line`,
    :func:`describe_group`, :func:`describe_finding`).

    Attributes
    ----------
    groups : tuple of FindingGroup
        As :func:`group_findings` orders them.
    """

    groups: tuple[FindingGroup, ...]

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> QAGroups:
        """Group ``findings`` (:func:`group_findings`)."""
        return cls(tuple(group_findings(findings)))

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[FindingGroup]:
        return iter(self.groups)

    def __getitem__(self, index: int) -> FindingGroup:
        return self.groups[index]

    @property
    def summary(self) -> str:
        """One short line: ``QA: 3 errors, 497 warnings in 4 groups`` (:func:`summary_line`)."""
        return summary_line(list(self.groups))

    @staticmethod
    def describe(group: FindingGroup, width: int = 160) -> str:
        """One line for a group (:func:`describe_group`)."""
        return describe_group(group, width)

    @staticmethod
    def describe_finding(finding: Finding) -> str:
        """One line for a finding (:func:`describe_finding`)."""
        return describe_finding(finding)


__all__ = ["FindingGroup", "QAGroups", "count_levels", "describe_finding", "describe_group", "group_findings",
           "summary_line"]
