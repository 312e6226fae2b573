"""'Loading <series> ...' on the canvas, in the status bar and as a progress bar while an image is read.

Reading a series blocks nothing: it runs in a thread while the main thread keeps Qt painting
and shows how far the reading is, from the core's progress callback (``done`` of ``total``
slices, e.g. :func:`ctlabel.load_series`'s ``progress``). A read without such counts (a case's
NIfTI image) shows the message alone. The canvas is repainted only when the text changes, and
the count at most every :data:`SHOW_EVERY_S` (a repaint costs a software-rendered frame).
Without a viewer the reading simply runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ctlabel import Stack, load_series

from ._layers import empty_labels, image_layer_data, labels_layer_data

#: How often the reading thread is looked at (seconds).
TICK_S = 0.05
#: The count on screen changes at most this often (seconds).
SHOW_EVERY_S = 0.25


def _text_overlay(viewer):
    """The canvas text overlay (``viewer.canvas.overlays.text`` since napari 0.9, ``text_overlay`` before)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    overlay = getattr(overlays, "text", None)
    return overlay if overlay is not None else getattr(viewer, "text_overlay", None)


def current_viewer():
    """The napari viewer in use, or None (a reader called without one)."""
    try:
        import napari
    except ImportError:
        return None
    viewer = napari.current_viewer()
    return viewer if viewer is not None and getattr(viewer, "window", None) is not None else None


class Loading:
    """Show ``Loading <what> ...`` until the block ends (then the overlay is as it was).

    Parameters
    ----------
    viewer : napari.Viewer or None
        Where to show it; None shows nothing.
    what : str
        What is loaded (a series description, a case name).
    unit : str
        What the progress counts (``slices``).
    """

    def __init__(self, viewer, what: str, unit: str = "slices") -> None:
        self.viewer = viewer
        self.what = what
        self.unit = unit
        self.done = 0
        self.total = 0
        self.text = ""
        self._bar: Any = None
        self._before: tuple[str, bool] | None = None
        self._shown_at = 0.0

    def __enter__(self) -> Loading:
        overlay = _text_overlay(self.viewer) if self.viewer is not None else None
        if overlay is not None:
            self._before = (overlay.text, overlay.visible)
            overlay.position = "center"
            overlay.font_size = 16
        if self.viewer is not None:
            from napari.utils import progress

            self._bar = progress(total=0, desc=f"Loading {self.what}")
        self._show(f"Loading {self.what} ...")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        overlay = _text_overlay(self.viewer) if self.viewer is not None else None
        if overlay is not None and self._before is not None:
            overlay.text, overlay.visible = self._before
        if self.viewer is not None and self.viewer.status == self.text:
            self.viewer.status = "Ready"

    def update(self, done: int, total: int) -> None:
        """Record progress (any thread); shown by the main thread at its next refresh."""
        self.done, self.total = int(done), int(total)

    def _show(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        if self.viewer is None:
            return
        overlay = _text_overlay(self.viewer)
        changed = self.viewer.status != text
        if overlay is not None:
            changed |= overlay.text != text or not overlay.visible
            overlay.text = text
            overlay.visible = True
        self.viewer.status = text
        if changed:
            self._shown_at = time.monotonic()
            _pump()

    def refresh(self, *, force: bool = False) -> None:
        """Show the progress recorded so far (main thread; not more often than :data:`SHOW_EVERY_S`)."""
        if not self.total or not (force or time.monotonic() - self._shown_at >= SHOW_EVERY_S):
            return
        if self._bar is not None:
            if self._bar.total != self.total:
                self._bar.total = self.total
            self._bar.n = self.done
            self._bar.refresh()
        self._show(f"Loading {self.what} ... {self.done}/{self.total} {self.unit}")

    def run(self, fn: Callable[..., Any], *args, progress: bool = True, **kwargs) -> Any:
        """``fn(*args, **kwargs)`` in a thread (with ``progress=self.update`` when ``progress``),
        showing its progress until it returns; its result, or its exception raised here."""
        if progress:
            kwargs["progress"] = self.update
        if self.viewer is None:
            return fn(*args, **kwargs)
        out: dict[str, Any] = {}

        def work() -> None:
            try:
                out["result"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                out["error"] = exc

        thread = threading.Thread(target=work, name="ctlabel-load", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(TICK_S)
            self.refresh()
        self.refresh(force=True)
        if "error" in out:
            raise out["error"]
        return out["result"]


def _pump() -> None:
    """Let Qt paint the message now (the caller blocks the event loop)."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.processEvents()


def stack_layers(stack: Stack) -> list[tuple]:
    """Load one stack and return an image layer and an empty labels layer for painting.

    In a viewer, ``Loading <series> ... k/n slices`` shows while the slices are read.
    """
    name = stack.description or f"series {stack.series_number or stack.index}"
    with Loading(current_viewer(), name) as loading:
        volume = loading.run(load_series, stack)
    where = os.path.dirname(stack.files[0])
    return [
        image_layer_data(volume, name, source=where),
        labels_layer_data(empty_labels(volume.grid), volume.grid, f"{name} labels"),
    ]
