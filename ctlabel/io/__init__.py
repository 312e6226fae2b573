"""Files on disk.

NIfTI, case images and masks with their provenance sidecars, label tables, and atomic
writes. Provenance is defined once, in ``provenance`` and its schema.
"""
