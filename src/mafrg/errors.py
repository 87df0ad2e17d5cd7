"""The error every reader of dataset files raises: its message starts with the file's path."""

from __future__ import annotations


class DataError(ValueError):
    """A data file is missing, unreadable or malformed. The message starts with the file's path."""
