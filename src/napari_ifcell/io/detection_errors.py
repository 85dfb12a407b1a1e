"""Errors of the detection-file readers."""

from __future__ import annotations


class DetectionFileError(ValueError):
    """A detection file that cannot be read; names the file and the field."""


class UntrustedFileError(DetectionFileError):
    """A pickle-based file (TIAToolbox ``.dat``) opened without saying it is trusted."""
