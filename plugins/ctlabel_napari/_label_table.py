"""The labeling widget's label table: select, rename, recolour, add labels, save ``labels.tsv``.

A mixin of :class:`ctlabel_napari.widget.LabelingWidget`, which provides ``session``,
``_require_session``, ``_guard``, ``refresh``, ``_update_slices_label``, ``annotator``,
``status`` and ``_table_updating``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QColorDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyle,
    QTableWidget,
    QVBoxLayout,
)

from ctlabel import TISSUES, CtlabelError, Label, LabelTable, save_label_table

from ._layers import KEY, colormap_for

LABEL_COLS = ("Value", "Name", "Abbr.", "Colour", "Painted")
#: The Name column shows at least this many characters of a name.
NAME_CHARS = 20


class LabelTableMixin:
    """The *Labels* group of the labeling widget."""

    def _build_label_table(self) -> QGroupBox:
        box = QGroupBox("Labels")
        v = QVBoxLayout(box)
        self.table = QTableWidget(0, len(LABEL_COLS))
        self.table.setHorizontalHeaderLabels(LABEL_COLS)
        self.table.verticalHeader().setVisible(False)
        self._size_columns()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setMinimumHeight(150)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(self._on_cell_double_clicked)
        v.addWidget(self.table)
        row = QHBoxLayout()
        self.add_label_button = QPushButton("Add label")
        self.add_label_button.clicked.connect(self._add_label)
        self.save_table_button = QPushButton("Save table")
        self.save_table_button.setToolTip("Write the table to the case's labels.tsv")
        self.save_table_button.clicked.connect(self._guard(self.save_label_table))
        row.addWidget(self.add_label_button)
        row.addWidget(self.save_table_button)
        v.addLayout(row)
        return box

    def _size_columns(self) -> None:
        """Value, Abbr., Colour and Painted as narrow as their contents; Name takes the rest, at least
        :data:`NAME_CHARS` characters (the table's minimum width makes room for it)."""
        header, fm = self.table.horizontalHeader(), self.table.fontMetrics()
        pad = 2 * self.table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 12
        widths = {0: fm.horizontalAdvance("Value") + pad, 2: fm.horizontalAdvance("Abbr.MM") + pad,
                  3: fm.horizontalAdvance("#888888") + pad, 4: fm.horizontalAdvance("Painted") + pad}
        header.setMinimumSectionSize(min(widths.values()))
        for col, width in widths.items():
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(col, width)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        name = fm.horizontalAdvance("n" * NAME_CHARS) + pad  # 20 characters of a usual name
        frame = 2 * self.table.frameWidth() + self.table.verticalScrollBar().sizeHint().width()
        self.table.setMinimumWidth(sum(widths.values()) + name + frame)

    def _on_row_selected(self) -> None:
        s = self.session
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if s is None or not rows or self._table_updating:
            return
        item = self.table.item(rows[0].row(), 0)
        if item is not None:
            s.layer.selected_label = int(item.text())
            self._update_slices_label()

    def _row_label(self, r: int) -> Label:
        s = self._require_session()
        return s.table[int(self.table.item(r, 0).text())]

    def _set_table(self, table: LabelTable) -> None:
        s = self._require_session()
        s.table = table
        s.layer.metadata[KEY]["label_table"] = table.to_tsv()
        s.layer.colormap = colormap_for(table)
        self.refresh()

    def _on_item_changed(self, item) -> None:
        if self._table_updating or item.column() not in (1, 2):
            return
        s = self.session
        if s is None:
            return
        lab = self._row_label(item.row())
        text = item.text().strip()
        new = Label(lab.index, text or lab.name, lab.abbreviation, lab.color, lab.tissue) if item.column() == 1 \
            else Label(lab.index, lab.name, text, lab.color, lab.tissue)
        self._set_table(s.table.with_label(new))

    def _on_cell_double_clicked(self, row: int, col: int) -> None:
        if col != 3 or self.session is None:
            return
        lab = self._row_label(row)
        color = QColorDialog.getColor(QColor(lab.color), self, f"Colour of {lab.name}")
        if color.isValid():
            self.set_label_color(lab.index, color.name())

    def set_label_color(self, index: int, color: str) -> None:
        s = self._require_session()
        lab = s.table[index]
        self._set_table(s.table.with_label(Label(lab.index, lab.name, lab.abbreviation, color, lab.tissue)))

    def _add_label(self) -> None:
        s = self.session
        if s is None:
            return
        idx = max(s.table.indices, default=0) + 1
        r, g, b = (int(c) for c in np.random.default_rng(idx).integers(60, 255, 3))
        self.add_label(Label(idx, f"label_{idx}", "", f"#{r:02x}{g:02x}{b:02x}", TISSUES[-1]))

    def add_label(self, label: Label) -> None:
        s = self._require_session()
        self._set_table(s.table.with_label(label))
        s.layer.selected_label = label.index
        self.refresh()

    def save_label_table(self) -> Path:
        s = self._require_session()
        if s.case is None:
            raise CtlabelError("this layer belongs to no case; save it as a case first")
        if s.read_only:
            raise CtlabelError("the case is open read-only (locked by somebody else)")
        save_label_table(s.case, s.table, self.annotator or None, lock=s.lock)  # recorded: labels_changed
        self.status.setText(f"Saved {s.case.labels_path}")
        return s.case.labels_path
