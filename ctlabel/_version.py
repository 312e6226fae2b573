"""The version of ctlabel (one place; the package, provenance and packaging read it)."""

__version__ = "0.2.0"
