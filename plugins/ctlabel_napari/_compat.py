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

from ctlabel.paint_tracking import touched_from_box, touched_from_indices


def atom_changes(atom, axis: int, ndim: int):
    """``(touched, region)`` for one history atom, or None if its form is unknown.

    ``touched`` maps label -> slice indices along ``axis``; ``region`` indexes the
    written voxels (a tuple of slices or of index arrays).
    """
    try:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            if len(key) != ndim or not all(isinstance(s, slice) for s in key):
                return None
            return touched_from_box(key, atom.mask, np.asarray(atom.old_values), atom.new_value, axis), tuple(key)
        if isinstance(atom, tuple) and len(atom) == 3:
            indices, old, new = atom
            if isinstance(indices, tuple) and len(indices) == ndim:
                return touched_from_indices(indices, old, new, axis), indices
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    return None
