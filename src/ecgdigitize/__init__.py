"""ecgdigitize: paper ECG digitization and synthetic paper-ECG generation."""

# The digitizer package is callable: ``ecgdigitize.digitize(image, ...)``.
from . import digitize
from .errors import (
    EcgDigitizeError,
    ImageError,
    LayoutError,
    NotAnEcgError,
    OptionError,
    OutputError,
    RecordError,
)
from .layouts import Layout, get_layout, layout_names, load_layouts
from .record import EcgRecord

__version__ = "0.1.0"

__all__ = [
    "EcgDigitizeError",
    "ImageError",
    "LayoutError",
    "NotAnEcgError",
    "OptionError",
    "OutputError",
    "RecordError",
    "EcgRecord",
    "digitize",
    "Layout",
    "get_layout",
    "layout_names",
    "load_layouts",
    "__version__",
]
