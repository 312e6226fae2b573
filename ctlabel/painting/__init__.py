"""Aids to painting by hand.

HU-aware region grow (``region_grow``, ``region_grow_auto``), the HU-limited brush's hole closing
(``hu_stroke``), and which slices a person painted (``tracking``).
"""
