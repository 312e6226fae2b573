"""``ctlabel view [PATH]``: napari with the ctlabel widgets docked.

The window opens at least :data:`MIN_SIZE` (within the screen) with the first slice
fully in view: the camera is reset once the window and its docks have their size
(napari fits the first layer to a canvas that the docks shrink afterwards). The
series browser is docked only when a DICOM folder (or DICOMDIR) is opened. ``Loading <name> ...``
shows on the canvas from the moment the window is up until the image is added; the CT is drawn
before the labeling widget is docked (its import and the labels' editing session come after).

``ctlabel view CASE --review`` (:func:`make_viewer` with ``review=True``) docks the Review widget
with the case open in it, read-only and ready to approve or reject; it takes no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The smallest window ``ctlabel view`` opens (width, height), screen permitting.
MIN_SIZE = (1280, 800)


def open_path(viewer, path) -> None:
    """Open ``path`` with the ctlabel readers (a multi-series folder opens the series browser)."""
    viewer.open(os.fspath(path), plugin="ctlabel")


def is_dicom_folder(path) -> bool:
    """A folder that is not a case, or a DICOMDIR: what the series browser is for."""
    from ctlabel import Case

    p = Path(path)
    return (p.is_dir() and not Case.is_case(p)) or p.name.upper() == "DICOMDIR"


def fit_window(viewer, min_size: tuple[int, int] = MIN_SIZE) -> None:
    """Grow the main window to at least ``min_size`` (capped by the screen) and fit the view to the data."""
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    width, height = max(window.width(), min_size[0]), max(window.height(), min_size[1])
    screen = window.screen() or QApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width, height = min(width, avail.width()), min(height, avail.height())
    window.resize(width, height)
    QApplication.processEvents()  # let the docks and the canvas take their size
    viewer.reset_view()


def make_viewer(path=None, *, annotator: str | None = None, show: bool = True, review: bool = False):
    """A viewer with the labeling widget docked and ``path`` (or the sample CT) open.

    The series browser is docked too when ``path`` is a DICOM folder or DICOMDIR
    (a folder of several series docks it through the reader in any case). With ``review``,
    ``path`` is a case folder and the Review widget is docked instead, the case open in it
    (the widget is returned).
    """
    import napari
    from qtpy.QtWidgets import QApplication

    from ctlabel import Case, CaseError

    from . import settings
    from ._loading import Loading
    from ._reader import widget_later
    from ._sample_data import sample_ct_path

    if review and not (path and Case.is_case(path)):
        raise CaseError("not a case folder; only a case is opened for review", path or "")
    if annotator:
        os.environ[settings.ENV_ANNOTATOR] = annotator
    viewer = napari.Viewer(title="ctlabel", show=show)
    target = Path(path) if path else sample_ct_path()
    name = target.name if target.name.lower() != "dicom" else target.parent.name
    with Loading(viewer, name):
        if review:
            from .review_widget import open_review

            widget = open_review(viewer, target)
        else:
            if path and is_dicom_folder(path):
                viewer.window.add_plugin_dock_widget("ctlabel", "Series browser", tabify=False)
            with widget_later():
                open_path(viewer, target)
    if not review:
        # The CT is drawn first; the labeling widget (its import, the editing session of the
        # labels, a restore question) comes next. A labels layer is in pan/zoom mode until then.
        viewer.status = "Loading the labeling tools ..."
        QApplication.processEvents()
        _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
        viewer.status = "Ready"
    fit_window(viewer)
    return viewer, widget


def launch(path=None, annotator: str | None = None, *, review: bool = False) -> int:
    """Run the viewer until it is closed; return an exit status."""
    import napari

    from ctlabel import CtlabelError

    try:
        viewer, widget = make_viewer(path, annotator=annotator, review=review)
    except CtlabelError as exc:
        print(f"error: {exc}")
        return 2
    try:
        napari.run()
    finally:
        if review:
            widget.close()
        else:
            widget.close_sessions()
    return 0
