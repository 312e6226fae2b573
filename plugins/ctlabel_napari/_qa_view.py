"""Showing QA findings grouped by check and label (:class:`ctlabel.QAGroups`), within the screen.

* :class:`SubmitQADialog`: *Submit with QA errors?* with a summary line, one row per group (count,
  worst example) whose children are every finding, in a tree whose height is capped by the
  screen; Yes / No are always visible. A double click on a row jumps to its slice.
* :func:`fill_group_list`: the Review dock's list, one row per group; clicking a row again steps
  through that group's findings (:class:`GroupStepper`).
* :func:`status_text`: one short line for a status label, the groups in its tooltip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qtpy.QtCore import Qt
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from ctlabel import Finding, QAGroups

from ._fit import available_geometry, fit_to_screen

#: At most this many findings are listed under one group (the rest are counted in a last row).
MAX_ROWS_PER_GROUP = 2000
#: At most this many groups are named in a tooltip.
MAX_TOOLTIP_GROUPS = 12
COLORS = {"error": QColor("#e05050"), "warning": QColor("#d0a020")}


def _brush(level: str) -> QBrush:
    return QBrush(COLORS.get(level, COLORS["warning"]))


def status_text(prefix: str, findings: Sequence[Finding]) -> tuple[str, str]:
    """One short line (``prefix`` + the QA summary) and a tooltip naming the groups (bounded)."""
    groups = QAGroups.of(findings)
    line = f"{prefix}. {groups.summary}" if prefix else groups.summary
    tip = [groups.describe(g, 120) for g in groups.groups[:MAX_TOOLTIP_GROUPS]]
    if len(groups) > MAX_TOOLTIP_GROUPS:
        tip.append(f"… and {len(groups) - MAX_TOOLTIP_GROUPS} more group(s)")
    return line, "\n".join(tip)


class SubmitQADialog(QDialog):
    """Ask whether to submit a draft despite its QA errors; the findings grouped, within the screen."""

    def __init__(self, parent, findings: Sequence[Finding], jump: Callable[[Finding], object] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Submit with QA errors?")
        self.setObjectName("ctlabel_submit_qa")
        self.groups = QAGroups.of(findings)
        self._jump = jump
        lay = QVBoxLayout(self)
        head = QLabel(f"<b>{self.groups.summary}</b> in this draft. Submit anyway? "
                      "The errors are recorded with the submission.")
        head.setWordWrap(True)
        lay.addWidget(head)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        for g in self.groups:
            top = QTreeWidgetItem([self.groups.describe(g)])
            top.setForeground(0, _brush(g.level))
            top.setToolTip(0, self.groups.describe(g, 1000))
            top.setData(0, Qt.ItemDataRole.UserRole, g.worst)
            for f in g.findings[:MAX_ROWS_PER_GROUP]:
                child = QTreeWidgetItem([QAGroups.describe_finding(f)])
                child.setData(0, Qt.ItemDataRole.UserRole, f)
                top.addChild(child)
            if g.count > MAX_ROWS_PER_GROUP:
                top.addChild(QTreeWidgetItem([f"… and {g.count - MAX_ROWS_PER_GROUP} more"]))
            self.tree.addTopLevelItem(top)
        total = sum(g.count for g in self.groups)
        if total <= 20:  # a few findings: every one in view
            self.tree.expandAll()
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        rows = len(self.groups) + (total if total <= 20 else 0)
        avail = available_geometry(parent)
        row_h = self.tree.fontMetrics().height() + 6
        self.tree.setMinimumHeight(min(row_h * (rows + 1), int(avail.height() * 0.5)))
        self.tree.setMaximumHeight(int(avail.height() * 0.6))
        lay.addWidget(self.tree, 1)
        hint = QLabel("Double-click a row to go to its slice." if jump is not None else "")
        hint.setVisible(jump is not None)
        lay.addWidget(hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Yes | QDialogButtonBox.StandardButton.No)
        self.buttons.button(QDialogButtonBox.StandardButton.No).setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.resize(min(760, int(avail.width() * 0.8)), self.sizeHint().height())
        fit_to_screen(self)

    def _on_double_click(self, item, _column=0) -> None:
        f = item.data(0, Qt.ItemDataRole.UserRole)
        if f is not None and self._jump is not None:
            self._jump(f)


def ask_submit(parent, findings: Sequence[Finding], jump: Callable[[Finding], object] | None = None) -> bool:
    """Show :class:`SubmitQADialog` modally; True when the person answers Yes."""
    dialog = SubmitQADialog(parent, findings, jump)
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()


class GroupStepper:
    """A list of groups: the first click on a row gives its worst finding, further clicks the next ones."""

    def __init__(self, groups: QAGroups) -> None:
        self.groups = groups
        self._at: dict[int, int] = {}

    def next(self, row: int) -> Finding | None:
        if not 0 <= row < len(self.groups):
            return None
        g = self.groups[row]
        if row not in self._at:
            self._at[row] = g.findings.index(g.worst)
        else:
            self._at[row] = (self._at[row] + 1) % g.count
        return g.findings[self._at[row]]


def fill_group_list(widget: QListWidget, findings: Sequence[Finding]) -> GroupStepper:
    """Fill ``widget`` with one row per group (tooltip: its first findings); return the stepper for clicks."""
    widget.clear()
    groups = QAGroups.of(findings)
    for g in groups:
        item = QListWidgetItem(groups.describe(g, 200))
        item.setForeground(_brush(g.level))
        lines = [groups.describe_finding(f) for f in g.findings[:10]]
        if g.count > 10:
            lines.append(f"… {g.count - 10} more: click the row again to step through them")
        item.setToolTip("\n".join(lines))
        widget.addItem(item)
    if not groups:
        widget.addItem("no findings")
    return GroupStepper(groups)
