"""The case folder, the unit of work.

Its layout and names (``layout``, ``naming``), the case record and its hash chain
(``record``), the review state machine (``workflow``), the review actions (``review``),
verification (``verify``), tamper evidence (``integrity``), the lock, the autosave journal
(``recovery``) and the editing session.
"""
