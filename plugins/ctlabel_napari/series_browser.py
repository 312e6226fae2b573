"""The series browser: pick one image stack from a folder that holds several."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ctlabel import CtlabelError, ScanResult, Stack, find_series

COLUMNS = ("#", "Kind", "Description", "Slices", "Size", "Spacing (mm)", "Warnings")
#: Kinds hidden unless "show all" is ticked.
HIDDEN_KINDS = ("localizer", "secondary", "nonimage")
OPENABLE = ("volume", "single")


def _fmt_spacing(sp) -> str:
    return "-" if sp is None else " x ".join(f"{v:.3g}" for v in sp)


class SeriesBrowser(QWidget):
    """Lists the stacks found under a path; Open loads the selected one."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result: ScanResult | None = None
        self.path: str = ""
        self.setObjectName("ctlabel_series_browser")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.path_label = QLabel("No folder scanned")
        self.path_label.setWordWrap(True)
        self.browse_button = QPushButton("Scan folder…")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_label, 1)
        row.addWidget(self.browse_button)
        layout.addLayout(row)
        self.show_all = QCheckBox("show localizers, secondary captures and non-image objects")
        self.show_all.toggled.connect(lambda _=None: self._fill())
        layout.addWidget(self.show_all)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellDoubleClicked.connect(lambda r, c: self.open_selected())
        self.table.setMinimumHeight(160)
        layout.addWidget(self.table)
        self.open_button = QPushButton("Open selected series")
        self.open_button.clicked.connect(lambda: self.open_selected())
        layout.addWidget(self.open_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.rows: list[Stack] = []

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "DICOM folder")
        if path:
            try:
                self.set_scan(find_series(path), path)
            except CtlabelError as exc:
                self.status.setText(str(exc))

    def set_scan(self, result: ScanResult, path) -> None:
        self.result = result
        self.path = str(path)
        self.path_label.setText(f"{Path(path).name}: {len(result.stacks)} stack(s)")
        self._fill()

    def visible_stacks(self) -> list[Stack]:
        if self.result is None:
            return []
        if self.show_all.isChecked():
            return list(self.result.stacks)
        return [s for s in self.result.stacks if s.kind not in HIDDEN_KINDS]

    def _fill(self) -> None:
        self.rows = self.visible_stacks()
        self.table.setRowCount(len(self.rows))
        for r, s in enumerate(self.rows):
            values = (str(s.index), s.kind, s.description or "(no description)", str(s.n_slices),
                      " x ".join(str(v) for v in s.size), _fmt_spacing(s.spacing),
                      "; ".join(w.split(":", 1)[0] for w in s.warnings))
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c == 6 and s.warnings:
                    item.setToolTip("\n".join(s.warnings))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        hidden = len(self.result.stacks) - len(self.rows) if self.result else 0
        self.status.setText(f"{hidden} localizer/secondary/non-image stack(s) hidden" if hidden else "")
        # Preselect the largest volume.
        best = max(range(len(self.rows)), key=lambda i: (self.rows[i].kind == "volume", self.rows[i].n_slices),
                   default=None)
        if best is not None:
            self.table.selectRow(best)

    def selected_stack(self) -> Stack | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def open_stack(self, stack: Stack) -> list:
        """Load ``stack`` into the viewer (image + labels layer); return the layers added."""
        from napari.layers import Layer

        from ._loading import stack_layers
        from .widget import ensure_widget

        if stack.kind not in OPENABLE:
            raise CtlabelError(f"stack {stack.index} is a {stack.kind}; only image volumes can be labelled")
        ensure_widget()
        layers = []
        for data, kwargs, kind in stack_layers(stack):
            layers.append(self.viewer.add_layer(Layer.create(data, kwargs, kind)))
        self.status.setText(f"Opened {stack.description or stack.index}")
        return layers

    def open_selected(self) -> list:
        stack = self.selected_stack()
        if stack is None:
            self.status.setText("Select a series first")
            return []
        try:
            return self.open_stack(stack)
        except CtlabelError as exc:
            from napari.utils.notifications import show_error

            self.status.setText(str(exc))
            show_error(str(exc))
            return []


def show_series_browser(result: ScanResult, path) -> SeriesBrowser | None:
    """Dock the series browser in the current viewer and fill it; None without a viewer."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        return None
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser")
    widget.set_scan(result, path)
    return widget
