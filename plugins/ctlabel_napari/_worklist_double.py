"""The Worklist's view of a case read by several annotators: each read, their fusion, where they differ.

:class:`DoubleReadView` belongs to :class:`ctlabel_napari._worklist_review.ReviewFlow`, which
decides; the view only shows. When a case that the server says has several readers (``readers``
>= 2 in its summary) is opened for review, the reads are fetched with the case (``Client.reads``:
slots, versions, the agreement of the first two and the fused proposal's figures;
``Client.download_reads`` into ``review-reads/`` of the cache) and shown over the image as labels
layers **read 1** ... **read N** (hidden but the first, to toggle), **fusion** (the proposal under
review, STAPLE or vote as the server fused them) and **disagreement** (the voxels where the reads
differ, each holding how many readers differ from the fusion: the file ``Client.download_reads``
writes with ``ctlabel.measure.fusion.write_disagreement``). The
review panel lists per reader the Dice with the fusion and STAPLE's sensitivity and specificity.
**Approve fusion** approves the proposal; **Approve read** approves the read chosen in the list;
**Correct from read** copies that read into the review layer to paint, and the Review box's
*Upload correction* uploads it (a new version), which *Approve* then approves. Which decision is
allowed is the server's to say.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QPushButton

from ctlabel import load_mask

from ._layers import KEY, labels_layer_data

READ_ROLE = "review_read"
FUSION = "fusion"


def viewer_grid(viewer):
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return getattr(canvas, "grid", None) or viewer.grid


def describe_agreement(agreement: dict | None) -> str:
    """The first two reads' agreement as rich text: one line per label (Dice, HD95 in mm, the volumes)."""
    if not agreement:
        return "no agreement yet (all reads are needed)"
    lines = [f"<b>Agreement</b> of reads 1 ({agreement.get('a')}) and 2 ({agreement.get('b')}):"]
    for r in agreement.get("labels", []):
        hd = "-" if r.get("hd95_mm") is None else f"{r['hd95_mm']:.1f} mm"
        lines.append(f"{r['label']} {r.get('name') or ''}: Dice {r['dice']:.3f}, HD95 {hd} "
                     f"({r.get('volume_a_ml', 0):.1f} / {r.get('volume_b_ml', 0):.1f} ml)")
    return "<br>".join(lines)


def describe_fusion(fusion: dict | None) -> str:
    """The fused proposal as rich text: method, version, and per reader Dice, sensitivity, specificity."""
    if not fusion:
        return "no fused proposal (the reads were not fused)"
    lines = [f"<b>Fusion</b> ({fusion['method']}) {fusion['version']}: the readers differ on "
             f"{fusion.get('disagreement_voxels', 0)} voxels"]
    for r in fusion.get("readers", []):
        md = "-" if r.get("mean_dice") is None else f"{r['mean_dice']:.3f}"
        per = ", ".join(f"label {lab} sens {_f(r['sensitivity'].get(lab))} spec {_f(r['specificity'].get(lab))}"
                        for lab in sorted(r.get("sensitivity", {}), key=int))
        lines.append(f"{r['reader']}: Dice with the fusion {md}; {per}")
    return "<br>".join(lines)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def fetch_reads(client, info: dict, folder: Path) -> dict | None:
    """For a case with several readers: the reads info (``Client.reads``) plus ``files`` (slot -> mask file)."""
    if int(info.get("readers") or 1) < 2:
        return None
    reads = client.reads(info["case"])
    reads["files"] = {k: str(v) for k, v in client.download_reads(info["case"], folder).items()}
    return reads


class DoubleReadView:
    """Each read, the fusion and the disagreement, with Approve fusion, Approve read and Correct from read.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the reads are shown.
    approve, correct : callable(slot)
        What Approve fusion / Approve read and Correct from read do (the review flow's decisions):
        ``slot`` is ``"fusion"`` or a read's slot (``"1"``, ``"2"``, ...).
    """

    def __init__(self, viewer, approve: Callable[[str], object], correct: Callable[[str], object]) -> None:
        self.viewer = viewer
        self.read_layers: dict = {}
        self.box = box = QGroupBox("Reads")
        g = QGridLayout(box)
        self.agreement_label = QLabel("")
        self.agreement_label.setWordWrap(True)
        g.addWidget(self.agreement_label, 0, 0, 1, 3)
        self.read_choice = QComboBox()
        self.read_choice.setToolTip("the read that Approve read and Correct from read act on")
        self.approve_fusion_button = QPushButton("Approve fusion")
        self.approve_read_button = QPushButton("Approve read")
        self.correct_read_button = QPushButton("Correct from read")
        self.correct_read_button.setToolTip("Paint on a copy of the read, then Upload correction and Approve it")
        self.approve_fusion_button.clicked.connect(lambda: approve(FUSION))
        self.approve_read_button.clicked.connect(lambda: approve(self.chosen()))
        self.correct_read_button.clicked.connect(lambda: correct(self.chosen()))
        self.buttons = [self.approve_fusion_button, self.approve_read_button, self.correct_read_button]
        g.addWidget(self.approve_fusion_button, 1, 0, 1, 3)
        g.addWidget(self.read_choice, 2, 0)
        g.addWidget(self.approve_read_button, 2, 1)
        g.addWidget(self.correct_read_button, 2, 2)
        box.setVisible(False)

    def chosen(self) -> str:
        """The slot chosen in the list (``"1"``, ``"2"``, ...)."""
        return str(self.read_choice.currentData() or "")

    def enable(self, ok: bool) -> None:
        for b in self.buttons:
            b.setEnabled(ok)
        self.approve_fusion_button.setEnabled(ok and FUSION in self.read_layers)

    def read_data(self, slot: str) -> np.ndarray | None:
        """A copy of read ``slot``'s (or the fusion's) mask as shown, None when it is not shown."""
        layer = self.read_layers.get(str(slot))
        return None if layer is None else np.array(layer.data, copy=True)

    def show(self, reads: dict | None, rw) -> None:
        """Add each read, the fusion and the disagreement as layers over the image of ``rw``."""
        self.clear()
        if reads is None or rw is None or rw.image_layer is None:
            return
        table, grid = rw.case.load_labels(), rw.case.image_grid()
        files = reads.get("files", {})
        slots = sorted((k for k in files if k.isdigit()), key=int)  # and "fusion", "disagreement"
        arrays = {k: np.asarray(load_mask(files[k], grid).array) for k in [*slots, FUSION] if k in files}
        for key, arr in arrays.items():
            name = FUSION if key == FUSION else f"read {key}"
            data, kw, _ = labels_layer_data(arr, grid, name, table=table, case=rw.case.root)
            kw["metadata"][KEY]["role"] = READ_ROLE
            self.read_layers[key] = layer = self.viewer.add_labels(data, **kw)
            layer.editable = False
            layer.visible = key in (FUSION, slots[0] if slots else None)
        if "disagreement" in files:  # written by Client.download_reads (ctlabel.measure.fusion)
            counts = np.asarray(load_mask(files["disagreement"], grid).array)
            data, kw, _ = labels_layer_data(counts, grid, "disagreement", case=rw.case.root)
            kw["metadata"][KEY]["role"] = READ_ROLE
            self.read_layers["disagreement"] = layer = self.viewer.add_labels(data, **kw)
            layer.editable, layer.opacity = False, 0.8
        if rw.labels_layer is not None:
            rw.labels_layer.visible = False
        by = {r["slot"]: r for r in reads.get("reads", [])}
        self.read_choice.clear()
        for k in slots:
            r = by.get(int(k), {})
            self.read_choice.addItem(f"read {k}: {r.get('version') or '-'} by {r.get('reader') or '?'}", k)
        self.agreement_label.setText(describe_fusion(reads.get("fusion")) + "<br>"
                                     + describe_agreement(reads.get("agreement")))
        self.box.setVisible(True)

    def clear(self) -> None:
        """Take the read layers away (the figures stay shown)."""
        for ly in self.read_layers.values():
            if ly in self.viewer.layers:
                self.viewer.layers.remove(ly)
        self.read_layers = {}

    def hide(self) -> None:
        """The case under review is gone: no layers, no figures, no box."""
        self.clear()
        self.read_choice.clear()
        self.agreement_label.setText("")
        self.box.setVisible(False)


__all__ = ["FUSION", "DoubleReadView", "describe_agreement", "describe_fusion", "fetch_reads", "viewer_grid"]
