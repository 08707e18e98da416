"""The digitizer: image of a paper ECG in, calibrated 12-lead signals out.

``ecgdigitize.digitize(image, ...)`` runs the whole pipeline
(:func:`ecgdigitize.digitize.pipeline.digitize`); the stages are the
modules of this package. Calling the package itself is the public API the
project promises, so the package module is made callable here; every
submodule stays importable as usual.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .pipeline import digitize
from .result import Detected, LeadTrace, Result

__all__ = ["digitize", "Result", "Detected", "LeadTrace"]


class _CallablePackage(types.ModuleType):
    """Module type whose call runs :func:`~ecgdigitize.digitize.pipeline.digitize`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        return digitize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
