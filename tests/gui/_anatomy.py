"""Helpers of the widget tool tests: the anatomy CTs of tests/data opened as cases in a real viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_paths import ANATOMY

ABDOMEN = ANATOMY / "totalseg_example_ct"
CTA = ANATOMY / "totalseg_cta_aorta"


def mask(folder: Path, name: str) -> np.ndarray:
    """A TotalSegmentator mask in (slice, row, column), as ctlabel.load_image lays out the CT."""
    import nibabel as nib

    return np.asarray(nib.load(folder / "masks" / f"{name}.nii.gz").dataobj).T > 0.5


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def deepest(region: np.ndarray) -> tuple[int, ...]:
    """Where an annotator clicks: the point of the region farthest from its edge."""
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(region)
    return tuple(int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))


def open_case(viewer, root: Path, folder: Path):
    """Make a case of ``folder``'s CT (default label table), open it; (widget, labels layer, image)."""
    from ctlabel import Case, default_label_table, load_image

    volume = load_image(folder / "ct.nii.gz")
    Case.create(root, volume, label_table=default_label_table())
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    viewer.open(str(root), plugin="ctlabel")
    layer = widget.session.layer
    image = widget.image_layer()
    assert image is not None and image.data.shape == layer.data.shape
    return widget, layer, np.asarray(image.data)


def _event(MouseEvent, layer, kind: str, point, dragging: bool = False):
    from napari.utils._proxies import ReadOnlyWrapper

    world = tuple(float(v) for v in layer.data_to_world(point))
    return ReadOnlyWrapper(MouseEvent(type=kind, is_dragging=dragging, position=world, view_direction=None,
                                      dims_displayed=(1, 2), dims_point=list(world), button=1),
                           exceptions=("handled",))


def click(layer, MouseEvent, point) -> None:
    """A mouse press and release on ``layer`` at a data point, through napari's callback dispatch."""
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    mouse_press_callbacks(layer, _event(MouseEvent, layer, "mouse_press", point))
    mouse_release_callbacks(layer, _event(MouseEvent, layer, "mouse_release", point))


def stroke(layer, MouseEvent, points) -> None:
    """A mouse drag through ``points`` (data coordinates): what a person's brush stroke sends."""
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    mouse_press_callbacks(layer, _event(MouseEvent, layer, "mouse_press", points[0]))
    for p in points[1:]:
        mouse_move_callbacks(layer, _event(MouseEvent, layer, "mouse_move", p, dragging=True))
    mouse_release_callbacks(layer, _event(MouseEvent, layer, "mouse_release", points[-1]))
