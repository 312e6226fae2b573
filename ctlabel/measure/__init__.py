"""Measuring masks.

Comparing masks and versions (``compare``), and QA of what a path names (``qa_targets``: a case,
``CASE@vN``, a mask file).
"""
