"""The Worklist's double-reading view: the two reads side by side, their agreement, Approve A/B, Correct.

:class:`DoubleReadView` belongs to :class:`ctlabel_napari._worklist_review.ReviewFlow`, which
decides; the view only shows. When a case that the server says has two readers (``readers: 2`` in
its summary) is opened for review, the reads are fetched with the case (``Client.reads``: slots,
versions and the stored agreement; ``Client.download_reads`` into ``review-reads/`` of the cache,
apart from the case folder so the Review widget still shows the server's latest version) and shown
as two labels layers **read A** and **read B** in napari's grid mode, each over the image. The
agreement (Dice and HD95 per label, as the server computed it) is listed in the review panel.
**Approve A** / **Approve B** approve a read through the server (``POST
/cases/{case}/reads/approve``); **Correct from A** / **from B** copy that read into the review layer
to paint, and the Review box's *Upload correction* uploads it (a new version, the merge), which
*Approve* then approves. Which decision is allowed is the server's to say.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton

from ctlabel import load_mask

from ._layers import KEY, labels_layer_data

READ_ROLE = "review_read"
SLOTS = ("A", "B")


def viewer_grid(viewer):
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return getattr(canvas, "grid", None) or viewer.grid


def describe_agreement(agreement: dict | None) -> str:
    """The agreement as rich text: one line per label (Dice, HD95 in mm, the two volumes)."""
    if not agreement:
        return "no agreement yet (both reads are needed)"
    lines = [f"<b>Agreement</b> of A ({agreement.get('a')}) and B ({agreement.get('b')}):"]
    for r in agreement.get("labels", []):
        hd = "-" if r.get("hd95_mm") is None else f"{r['hd95_mm']:.1f} mm"
        lines.append(f"{r['label']} {r.get('name') or ''}: Dice {r['dice']:.3f}, HD95 {hd} "
                     f"({r.get('volume_a_ml', 0):.1f} / {r.get('volume_b_ml', 0):.1f} ml)")
    return "<br>".join(lines)


def fetch_reads(client, info: dict, folder: Path) -> dict | None:
    """For a case with two readers: the reads info (``Client.reads``) plus ``files`` (slot -> mask file)."""
    if int(info.get("readers") or 1) < 2:
        return None
    reads = client.reads(info["case"])
    reads["files"] = {k: str(v) for k, v in client.download_reads(info["case"], folder).items()}
    return reads


class DoubleReadView:
    """The reads A and B side by side, their agreement, and the buttons Approve A / B, Correct from A / B.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the reads are shown.
    approve, correct : callable(slot)
        What Approve A / B and Correct from A / B do (the review flow's decisions).
    """

    def __init__(self, viewer, approve: Callable[[str], object], correct: Callable[[str], object]) -> None:
        self.viewer = viewer
        self.read_layers: dict = {}
        self._read_image = None
        self.box = box = QGroupBox("Double reading")
        g = QGridLayout(box)
        self.agreement_label = QLabel("")
        self.agreement_label.setWordWrap(True)
        g.addWidget(self.agreement_label, 0, 0, 1, 2)
        self.approve_a_button = QPushButton("Approve A")
        self.approve_b_button = QPushButton("Approve B")
        self.correct_a_button = QPushButton("Correct from A")
        self.correct_b_button = QPushButton("Correct from B")
        for b, slot in ((self.correct_a_button, "A"), (self.correct_b_button, "B")):
            b.setToolTip(f"Paint on a copy of read {slot}, then Upload correction (the merge) and Approve it")
        self.approve_a_button.clicked.connect(lambda: approve("A"))
        self.approve_b_button.clicked.connect(lambda: approve("B"))
        self.correct_a_button.clicked.connect(lambda: correct("A"))
        self.correct_b_button.clicked.connect(lambda: correct("B"))
        self.buttons = [self.approve_a_button, self.approve_b_button, self.correct_a_button, self.correct_b_button]
        for i, b in enumerate(self.buttons):
            g.addWidget(b, 1 + i // 2, i % 2)
        box.setVisible(False)

    def enable(self, ok: bool) -> None:
        for b in self.buttons:
            b.setEnabled(ok)

    def read_data(self, slot: str) -> np.ndarray | None:
        """A copy of read ``slot``'s mask as shown, None when it is not shown."""
        layer = self.read_layers.get(slot)
        return None if layer is None else np.array(layer.data, copy=True)

    def show(self, reads: dict | None, rw) -> None:
        """Add the reads as layers in grid mode (A with the review layers of ``rw``, B over a view of the image)."""
        self.clear()
        if reads is None or rw is None or rw.image_layer is None:
            return
        from napari.layers import Image

        data, meta, _ = rw.image_layer.as_layer_data_tuple()
        meta = {**meta, "name": f"{rw.image_layer.name} (B)", "metadata": {KEY: {"role": READ_ROLE}}}
        self._read_image = Image(data, **meta)
        table, grid = rw.case.load_labels(), rw.case.image_grid()
        files = reads.get("files", {})
        for slot in SLOTS:
            if slot not in files:
                continue
            arr = np.asarray(load_mask(files[slot], grid).array)
            data, kw, _ = labels_layer_data(arr, grid, f"read {slot}", table=table, case=rw.case.root)
            kw["metadata"][KEY]["role"] = READ_ROLE
            self.read_layers[slot] = layer = self.viewer.add_labels(data, **kw)
            layer.editable = False
        # bottom to top: image (B), read B | image, review layer (hidden), read A; a stride of -3
        # packs them from the top: A over the image in the first cell, B over its view in the second
        self.viewer.layers.insert(0, self._read_image)
        if "B" in self.read_layers:
            self.viewer.layers.move(self.viewer.layers.index(self.read_layers["B"]), 1)
        if rw.labels_layer is not None:
            rw.labels_layer.visible = False
        grid = viewer_grid(self.viewer)
        grid.stride = -3
        grid.enabled = True
        by = {r["slot"]: f"{r['slot']}: {r.get('version') or '-'} by {r.get('reader') or '?'}"
              for r in reads.get("reads", [])}
        self.agreement_label.setText("; ".join(by.values()) + "<br>" + describe_agreement(reads.get("agreement")))
        self.box.setVisible(True)

    def clear(self) -> None:
        """Take the read layers away and leave grid mode (the agreement stays shown)."""
        for ly in (*self.read_layers.values(), self._read_image):
            if ly is not None and ly in self.viewer.layers:
                self.viewer.layers.remove(ly)
        if self.read_layers or self._read_image is not None:
            viewer_grid(self.viewer).enabled = False
        self.read_layers, self._read_image = {}, None

    def hide(self) -> None:
        """The case under review is gone: no layers, no agreement, no box."""
        self.clear()
        self.agreement_label.setText("")
        self.box.setVisible(False)


__all__ = ["DoubleReadView", "describe_agreement", "fetch_reads", "viewer_grid"]
