"""The one place that reads napari's private undo-history atoms.

napari 0.9 emits ``Labels.events.paint(value=item)`` once per undo item; an item
is a list of atoms. Brush, fill and polygon store a private ``_MaskedPaintAtom``
(``slice_key``, ``mask``, ``old_values``, ``new_value``); other writes
(``data_setitem``) store ``(indices, old_values, new_values)`` tuples.
:func:`atom_changes` understands both; for anything else it returns None and
the caller falls back to comparing the data (see ``session.LabelSession``).
"""

from __future__ import annotations

import numpy as np

from ctlabel import touched_from_box, touched_from_indices


def atom_changes(atom, axis: int, ndim: int, slices: bool = True):
    """``(touched, apply)`` for one history atom, or None if its form is unknown.

    ``touched`` maps label -> slice indices along ``axis``; ``apply(array)`` writes
    the atom's new values into a copy of the volume (napari emits the event of a
    direct ``paint`` call before it writes the data, so the data cannot be read yet).
    ``slices=False`` skips working out ``touched`` (returned empty).
    """
    try:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            if len(key) != ndim or not all(isinstance(s, slice) for s in key):
                return None
            key, mask, new = tuple(key), atom.mask, atom.new_value

            def apply_box(arr):
                if mask is None:
                    arr[key] = new
                else:
                    arr[key][mask] = new

            touched = touched_from_box(key, mask, np.asarray(atom.old_values), new, axis) if slices else {}
            return touched, apply_box
        if isinstance(atom, tuple) and len(atom) == 3:
            indices, old, new = atom
            if isinstance(indices, tuple) and len(indices) == ndim:

                def apply_indices(arr):
                    arr[indices] = new

                return (touched_from_indices(indices, old, new, axis) if slices else {}), apply_indices
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    return None
