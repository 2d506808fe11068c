"""The package version, in a module of its own so that any part of the package can read it without importing
``denselora/__init__.py`` (which imports the parts)."""

__version__ = "0.3.0"
