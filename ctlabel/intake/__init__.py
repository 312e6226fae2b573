"""What comes into a project: DICOM series converted to case folders, masks made elsewhere.

``convert`` (with ``convert_plan``, ``convert_image``, ``convert_report``) turns DICOM stacks
into case folders; ``importers`` and ``seg_import`` bring NIfTI, NRRD and DICOM SEG masks in as
versions (``imported`` holds what both read); ``batch`` runs the work on a local pool or a Dask
cluster; ``synthetic`` writes the demo's phantom series.
"""
