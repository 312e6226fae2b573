"""The one place that touches napari's private Labels editing internals (besides ``_compat``).

napari 0.9 keeps a Labels layer's undo history in ``_undo_history`` (a deque of items, each a
list of atoms) and applies every brush, fill and polygon write through
``_apply_mask_to_data(data, mask, new_label, slice_key)``, which records the undo atom and
writes the voxels. Two features need them:

* the image refinement of an interpolation replaces the shape-only result **in the same undo
  item** (:func:`top_item`, :func:`replace_item`): Ctrl+Z then takes back the refined result in
  one step, and napari's redo replays the refined one;
* the editable HU range narrows the mask of a stroke **before** napari writes it and records
  its atom (:func:`wrap_mask_paint`), so the stroke stays one undo item and its atom, read by
  the paint tracking, holds only the voxels really changed.

When a future napari drops these names the functions say so (None / False) and the features
are switched off with a message; nothing else breaks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def top_item(layer) -> list | None:
    """The newest item of the layer's undo history (the list napari undoes next), or None."""
    history = getattr(layer, "_undo_history", None)
    if not history:
        return None
    item = history[-1]
    return item if isinstance(item, list) else None


def replace_item(layer, item: list, atoms: list) -> bool:
    """Make ``atoms`` the content of ``item`` if it is still the newest undo item.

    False when the person has edited, undone or redone since (napari makes a new list on undo
    and redo, so identity tells): the caller then leaves the history alone.
    """
    if top_item(layer) is not item or getattr(layer, "_redo_history", None):
        return False
    item[:] = atoms
    return True


MaskFilter = Callable[[np.ndarray, int, tuple], np.ndarray]


def wrap_mask_paint(layer, keep: MaskFilter) -> Callable[[], None] | None:
    """Route every brush, fill and polygon write of ``layer`` through ``keep`` first.

    ``keep(mask, new_label, slice_key)`` returns the part of ``mask`` (a boolean array over the
    box ``slice_key`` of the data, with length-1 axes for the dimensions not painted) that may
    change. Returns a function that takes the wrapper off, or None when this napari has no
    such hook.
    """
    original = getattr(layer, "_apply_mask_to_data", None)
    if original is None or not callable(original):
        return None

    def apply_mask_to_data(data, mask, new_label, volume_slice):
        mask = keep(mask, int(new_label), tuple(volume_slice))
        return original(data, mask, new_label, volume_slice)

    layer._apply_mask_to_data = apply_mask_to_data

    def unwrap() -> None:
        if getattr(layer, "_apply_mask_to_data", None) is apply_mask_to_data:
            del layer._apply_mask_to_data  # back to the class's method

    return unwrap
