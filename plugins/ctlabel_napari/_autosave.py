"""The autosave timer of :class:`ctlabel_napari.session.LabelSession`: Qt glue over the core journal.

The first edit after a write starts a single-shot timer of at most 30 s (a latency bound,
not a debounce); when it fires, :meth:`ctlabel.case.editing.EditingSession.journal_payload` copies
the labels in the GUI thread and :meth:`~ctlabel.case.editing.EditingSession.write_journal` writes
them in a background thread. The session provides ``editing`` (the core session, or None
before the layer belongs to a case).
"""

from __future__ import annotations

import logging
import threading
import time

from ctlabel import autosave_interval

log = logging.getLogger(__name__)


class AutosaveMixin:
    """Write the recovery journal of the edits since the last save."""

    def _init_autosave(self) -> None:
        self.autosave_s = autosave_interval()
        self._timer = None
        self._writer: threading.Thread | None = None
        self._journal_error: str | None = None
        self._unjournaled = False
        self.journal_writes = 0
        self.last_journal_time: float | None = None

    def _schedule_autosave(self) -> None:
        core = self.editing
        if core is None or core.read_only:
            return
        self._unjournaled = True
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
        core = self.editing
        if core is None or core.read_only or not self._unjournaled:
            return
        if self._writer is not None and self._writer.is_alive():
            # The previous write is still running: try again shortly.
            self._timer.start(200)
            return
        payload = core.journal_payload()
        self._unjournaled = False

        def run():
            try:
                core.write_journal(payload)
                self.journal_writes += 1
                self.last_journal_time = time.time()
                self._journal_error = None
            except Exception as exc:  # noqa: BLE001 - reported in the GUI thread, never lost silently
                self._journal_error = str(exc)
                self._unjournaled = True
                log.warning("autosave failed: %s", exc)

        if background:
            self._writer = threading.Thread(target=run, name="ctlabel-autosave", daemon=True)
            self._writer.start()
        else:
            run()

    def wait_for_journal(self, timeout: float = 30.0) -> None:
        if self._writer is not None:
            self._writer.join(timeout)

    def _stop_autosave(self) -> None:
        """Stop the timer and let a running write finish (before a save clears the journal)."""
        if self._timer is not None:
            self._timer.stop()
        self.wait_for_journal()
