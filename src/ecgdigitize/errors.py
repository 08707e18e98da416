"""Exception classes raised by ecgdigitize.

Every error the package raises on purpose derives from :class:`EcgDigitizeError`,
so callers (and the command-line interface) can tell a bad input apart from a bug.
"""

from __future__ import annotations

__all__ = [
    "EcgDigitizeError",
    "RecordError",
    "LayoutError",
    "OptionError",
    "ImageError",
    "NotAnEcgError",
    "OutputError",
    "BatchError",
    "ModelError",
]


class EcgDigitizeError(Exception):
    """Base class of every error raised on purpose by ecgdigitize."""


class RecordError(EcgDigitizeError):
    """An ECG record is missing, unreadable or unusable (e.g. no standard leads)."""


class LayoutError(EcgDigitizeError):
    """A layout name is unknown or a layout definition is invalid."""


class OptionError(EcgDigitizeError, ValueError):
    """An option has an invalid value (e.g. a paper speed of 30 mm/s)."""


class ImageError(EcgDigitizeError):
    """An image file is missing, corrupt, truncated, too large or of an unknown format."""


class NotAnEcgError(EcgDigitizeError):
    """An image was read but does not look like a paper ECG (no grid, no trace)."""


class OutputError(EcgDigitizeError):
    """An output file could not be written."""


class BatchError(EcgDigitizeError):
    """A batch run cannot start or go on as a whole.

    For example: the output folder is in use by another batch, the manifest
    belongs to another version, or worker processes keep dying at start-up.
    A bad page never raises it; it is recorded in the manifest instead.
    """


class ModelError(EcgDigitizeError):
    """A learned model cannot be used: its file is missing or corrupt, or the run-time
    library it needs (onnxruntime) is not installed."""
