"""Keeping windows and docks within the screen: scrolled dock contents, a window capped to the screen.

Every dock widget of the plugin puts its contents in a :class:`FitScrollArea` (via
:func:`scrolled_layout`): its minimum height is small, so docks stacked in one column never
make the main window taller than the screen (the contents scroll instead), and its minimum
width follows the contents' minimum width up to a share of the screen, so a dock is as wide
as its buttons need and a long text never widens it past that.
"""

from __future__ import annotations

from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import QApplication, QFrame, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

#: The widest a dock's minimum width may become, as a share of the screen's available width.
MAX_DOCK_SHARE = 0.4
#: The least height a dock keeps (when its contents need it), as a share of the window's height (or the screen's).
MIN_DOCK_SHARE = 0.2


def available_geometry(widget: QWidget | None = None):
    """The available geometry (without panels) of the screen ``widget`` is on, else of the primary screen."""
    screen = widget.screen() if widget is not None else None
    screen = screen or QApplication.primaryScreen()
    return screen.availableGeometry()


class FitScrollArea(QScrollArea):
    """A frameless, vertically scrolling area whose minimum width is its contents' (capped), height small."""

    def __init__(self, inner: QWidget, parent: QWidget | None = None, min_share: float = MIN_DOCK_SHARE) -> None:
        super().__init__(parent)
        self.min_share = min_share
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # PageUp/PageDown stay the viewer's keys
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def minimumSizeHint(self) -> QSize:
        inner = self.widget()
        width = inner.minimumSizeHint().width() if inner is not None else 0
        width += self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth() + 2  # no horizontal scroll bar
        avail = available_geometry(self)
        window = self.window()
        room = min(avail.height(), window.height()) if window is not self and window.isVisible() else avail.height()
        height = inner.minimumSizeHint().height() if inner is not None else 80
        return QSize(min(width, int(avail.width() * MAX_DOCK_SHARE)), min(height, int(room * self.min_share)))

    def sizeHint(self) -> QSize:
        inner = self.widget()
        hint = inner.sizeHint() if inner is not None else QSize(0, 0)
        avail = available_geometry(self)
        return QSize(max(self.minimumSizeHint().width(), min(hint.width(), int(avail.width() * MAX_DOCK_SHARE))),
                     min(hint.height(), int(avail.height() * 0.6)))


def scrolled_layout(widget: QWidget, min_share: float = MIN_DOCK_SHARE) -> QVBoxLayout:
    """Give ``widget`` a scroll area as its only child; return the layout to fill (inside the scroll area).

    The dock keeps at least ``min_share`` of the window's height when its contents need it.
    """
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    inner = QWidget()
    inner.setObjectName(f"{widget.objectName() or type(widget).__name__}_contents")
    layout = QVBoxLayout(inner)
    layout.setContentsMargins(4, 4, 4, 4)
    widget.scroll_area = FitScrollArea(inner, widget, min_share)
    outer.addWidget(widget.scroll_area)
    return layout


def fit_to_screen(window: QWidget, share: float = 0.9) -> None:
    """Cap ``window``'s size to ``share`` of its screen's available geometry and move it fully onto it."""
    avail = available_geometry(window.parentWidget() or window)
    max_w, max_h = int(avail.width() * share), int(avail.height() * share)
    window.setMaximumSize(max_w, max_h)
    hint = window.sizeHint()
    window.resize(min(max(hint.width(), window.width()), max_w), min(max(hint.height(), 1), max_h))
    parent = window.parentWidget()
    centre = parent.window().frameGeometry().center() if parent is not None else avail.center()
    x = min(max(centre.x() - window.width() // 2, avail.left()), avail.right() - window.width())
    y = min(max(centre.y() - window.height() // 2, avail.top()), avail.bottom() - window.height())
    window.move(x, y)
