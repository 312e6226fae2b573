"""The labeling widget's actions on the session: navigate, save, submit, save as case.

A mixin of :class:`ctlabel_napari.widget.LabelingWidget`, which provides ``session``,
``_require_session``, ``image_layer``, ``refresh``, ``update_case_label`` and ``status``
(interpolation is :mod:`._interp_worker`'s). Each action calls the
:class:`~ctlabel_napari.session.LabelSession` (and so the core session) and writes what happened
in the status line.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog

from ctlabel import CaseError, submission_qa

from . import _case_ui, _qa_view
from ._layers import KEY


class CaseActionsMixin:
    """Navigate, save, submit and save as case."""

    def navigate(self, what: str) -> int | None:
        s = self.session
        if s is None:
            return None
        z = {
            "next_painted": lambda: s.next_painted(1),
            "previous_painted": lambda: s.next_painted(-1),
            "next_gap": lambda: s.next_gap(1),
            "previous_gap": lambda: s.next_gap(-1),
        }[what]()
        if z is None:
            self.status.setText(f"No {what.replace('_', ' ')} slice for label {s.layer.selected_label}")
        return z

    def save(self) -> Path:
        s = self._require_session()
        if s.case is None:
            return self.save_as_case()
        path = s.save()
        self.status.setText(f"Saved {path}")
        self.update_case_label()
        return path

    def submit(self) -> int | None:
        """Save, run QA, ask before submitting past QA errors; the version number, or None if not submitted.

        The findings are grouped by check and label (:class:`ctlabel.QAGroups`): the question
        lists the groups in a dialog that fits the screen, the status line is one short line.
        """
        s = self._require_session()
        if s.case is None:
            raise CaseError("save the mask as a case before submitting it")
        s.save()
        findings = submission_qa(s.case)
        errors = sum(1 for f in findings if f.level == "error")
        if errors and not _case_ui.ask_submit_despite_qa(self, findings, self.jump_to_finding):
            self._say_qa("Not submitted", findings, "The draft is saved; the case stays in progress.")
            self.update_case_label()
            return None
        number = s.submit(force=bool(errors), save=False)  # saved just above, as QA saw it
        self.refresh()
        self.update_case_label()
        self._say_qa(f"Submitted as v{number:03d}", findings, "The case awaits review" +
                     ("; the QA errors are recorded with the submission." if errors else "."))
        return number

    def _say_qa(self, prefix: str, findings, note: str) -> None:
        """One line in the status label (elided to its width); the note and the groups in its tooltip."""
        line, tip = _qa_view.status_text(prefix, findings)
        width = self.status.width()
        fm = self.status.fontMetrics()
        self.status.setText(fm.elidedText(line, Qt.TextElideMode.ElideRight, width) if width > 50 else line)
        self.status.setToolTip(f"{line}\n{note}\n{tip}".rstrip())

    def jump_to_finding(self, finding) -> None:
        """Show the slice of a QA finding (along its axis)."""
        if finding.slice is not None:
            step = list(self.viewer.dims.current_step)
            step[finding.axis] = int(finding.slice)
            self.viewer.dims.current_step = tuple(step)

    def ctrl_s(self) -> Path | None:
        """Ctrl+S: save the open case's draft; *Save as case…* for a series not yet a case; else say why not.

        Napari's *Save Selected Layers* dialog is never opened by Ctrl+S: it would write a mask
        (or a TIFF) without provenance.
        """
        s = self.session
        if s is None:
            _case_ui.explain_no_save(self, "Ctrl+S saves the labels into a case, and no ctlabel labels layer is "
                                           "open. Open a DICOM series, a case or a NIfTI image with ctlabel first "
                                           "(File > Open, or the series browser).")
            return None
        if s.case is None and self.image_layer() is None:
            _case_ui.explain_no_save(self, "This mask cannot be saved as a case: a case needs the CT image it "
                                           "was painted on, and no image of its grid is open. Open the series "
                                           "again, then Save as case….")
            return None
        return self.save()

    def save_as_case(self, root: str | Path | None = None) -> Path | None:
        s = self._require_session()
        if root is None:
            root = QFileDialog.getExistingDirectory(self, "New case folder (empty folder)")
            if not root:
                return None
        image = self.image_layer()
        volume = image.metadata[KEY].get("volume") if image is not None else None
        path = s.save_as_case(root, volume)
        self.status.setText(f"Saved {path}")
        self.refresh()
        return path


def ranges(zs: list[int]) -> str:
    """Slices as ranges: ``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out = []
    for z in zs:
        if out and out[-1][1] == z - 1:
            out[-1][1] = z
        else:
            out.append([z, z])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)
