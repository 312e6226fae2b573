"""Classical pre-labels: HU in, mask out.

``run`` applies them to a label volume or a case's draft; ``methods`` holds one function per
structure; ``grid`` the working grids and per-slice morphology; ``clean`` what a pre-label drops
or fills so that QA passes it.
"""
