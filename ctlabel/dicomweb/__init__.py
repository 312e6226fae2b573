"""DICOMweb: the client, intake by QIDO/WADO, and STOW-RS of DICOM SEG.

``client.Server`` is the client; ``pull`` and ``pull_options`` bring series in; ``push`` sends SEG out.
"""
