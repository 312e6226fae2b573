"""The labeling widget's actions on the session: navigate, save, submit, save as case.

A mixin of :class:`ctlabel_napari.widget.LabelingWidget`, which provides ``session``,
``_require_session``, ``image_layer``, ``refresh``, ``update_case_label`` and ``status``
(interpolation is :mod:`._interp_worker`'s). Each action calls the
:class:`~ctlabel_napari.session.LabelSession` (and so the core session) and writes what happened
in the status line.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from ctlabel import CaseError, describe_finding, submission_qa

from . import _case_ui
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
        """Save, run QA, ask before submitting past QA errors; the version number, or None if not submitted."""
        s = self._require_session()
        if s.case is None:
            raise CaseError("save the mask as a case before submitting it")
        s.save()
        findings = submission_qa(s.case)
        errors = [describe_finding(f) for f in findings if f.level == "error"]
        warnings = [describe_finding(f) for f in findings if f.level != "error"]
        if errors and not _case_ui.ask_submit_despite_qa(self, errors, warnings):
            self.status.setText(f"Not submitted: QA found {len(errors)} error(s) (the draft is saved):\n"
                                + "\n".join(errors))
            self.update_case_label()
            return None
        number = s.submit(force=bool(errors), save=False)  # saved just above, as QA saw it
        text = f"Submitted as v{number:03d}; the case awaits review"
        if errors:
            text += f" (with {len(errors)} QA error(s), recorded)"
        if warnings:
            text += ". QA warnings:\n" + "\n".join(warnings)
        self.status.setText(text)
        self.refresh()
        self.update_case_label()
        return number

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
