"""The package version (its own module, so any module may read it without a cycle)."""

__version__ = "0.1.0"
