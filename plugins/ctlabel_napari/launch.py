"""``ctlabel view [PATH]``: napari with the ctlabel widgets docked."""

from __future__ import annotations

import os
from pathlib import Path


def open_path(viewer, path) -> None:
    """Open ``path`` with the ctlabel readers (a multi-series folder opens the series browser)."""
    viewer.open(os.fspath(path), plugin="ctlabel")


def make_viewer(path=None, *, annotator: str | None = None, show: bool = True):
    """A viewer with the labeling widget and the series browser docked, ``path`` (or the sample CT) open."""
    import napari

    from . import settings
    from ._sample_data import sample_ct_path

    if annotator:
        os.environ[settings.ENV_ANNOTATOR] = annotator
    viewer = napari.Viewer(title="ctlabel", show=show)
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    _, browser = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser", tabify=False)
    target = Path(path) if path else sample_ct_path()
    open_path(viewer, target)
    return viewer, widget


def launch(path=None, annotator: str | None = None) -> int:
    """Run the viewer until it is closed; return an exit status."""
    import napari

    from ctlabel.errors import CtlabelError

    try:
        viewer, widget = make_viewer(path, annotator=annotator)
    except CtlabelError as exc:
        print(f"error: {exc}")
        return 2
    try:
        napari.run()
    finally:
        widget.close_sessions()
    return 0
