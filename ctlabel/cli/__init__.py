"""The ``ctlabel`` command line.

``main`` builds the parser from each command module's ``register(sub)``; every command
module is a thin adapter over the core.
"""
