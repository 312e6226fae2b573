"""The autosave half of :class:`ctlabel_napari.session.LabelSession`: the recovery journal.

The first edit after a write starts a single-shot timer of at most 30 s (a latency bound,
not a debounce); the journal (:func:`ctlabel.recovery.write_journal`) is written from a copy
of the labels in a background thread. The session provides ``case``, ``read_only``,
``dirty``, ``layer``, ``grid``, ``autosave_s``, ``provenance_kwargs`` and the ``_timer``,
``_writer``, ``_journal_error``, ``journal_writes`` and ``last_journal_time`` attributes.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from ctlabel.recovery import write_journal

log = logging.getLogger(__name__)


class AutosaveMixin:
    """Write the recovery journal of the edits since the last save."""

    def _schedule_autosave(self) -> None:
        if self.case is None or self.read_only:
            return
        if self._timer is None:
            from qtpy.QtCore import QTimer

            self._timer = QTimer()
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self.write_journal_now)
        # A latency bound, not a debounce: the first edit after a write starts the clock.
        if not self._timer.isActive():
            self._timer.start(int(self.autosave_s * 1000))

    def write_journal_now(self, background: bool = True) -> None:
        """Write the recovery journal with the current labels (a copy; the writing runs in a thread)."""
        if self.case is None or self.read_only or not self.dirty:
            return
        if self._writer is not None and self._writer.is_alive():
            # The previous write is still running: try again shortly.
            self._timer.start(200)
            return
        labels = np.array(self.layer.data, copy=True)
        kwargs = self.provenance_kwargs(action_event=False)
        kwargs.pop("label_table")
        kwargs.pop("created", None)
        folder = self.case.recovery_dir
        grid = self.grid
        self.dirty = False

        def run():
            try:
                write_journal(folder, labels, grid, **kwargs)
                self.journal_writes += 1
                self.last_journal_time = time.time()
                self._journal_error = None
            except Exception as exc:  # noqa: BLE001 - reported in the GUI thread, never lost silently
                self._journal_error = str(exc)
                self.dirty = True
                log.warning("autosave failed: %s", exc)

        if background:
            self._writer = threading.Thread(target=run, name="ctlabel-autosave", daemon=True)
            self._writer.start()
        else:
            run()

    def wait_for_journal(self, timeout: float = 30.0) -> None:
        if self._writer is not None:
            self._writer.join(timeout)
