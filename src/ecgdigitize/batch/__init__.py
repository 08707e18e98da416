"""Batch digitizing: many files, many pages, in parallel, resumable, fault-tolerant.

``ecgdigitize batch INPUT... -o OUT`` (see :func:`run_batch`) digitizes
every page of every input on a local pool of worker processes, or on a Dask
cluster, and records each page in a SQLite manifest (``OUT/manifest.sqlite``,
exported as ``OUT/manifest.csv``). Running the same command again does only
what is left. Modules:

- :mod:`~.inputs`: folders, globs and lists into files;
- :mod:`~.plan`: pages, output names, what to resume;
- :mod:`~.manifest`: the SQLite manifest;
- :mod:`~.worker`: one page (read, digitize, write into a private folder);
- :mod:`~.pool`: the local worker processes, with time and memory limits;
- :mod:`~.distributed`: the same on a Dask cluster;
- :mod:`~.runner`: the run, and how outputs are moved into place.
"""

from __future__ import annotations

from .inputs import INPUT_SUFFIXES, expand_inputs
from .manifest import FAILED_STATUSES, STATUSES, Manifest, PageRow
from .runner import BatchSummary, run_batch
from .worker import DigitizeOptions, PageTask, TaskOutcome, digitize_page, execute

__all__ = [
    "INPUT_SUFFIXES",
    "STATUSES",
    "FAILED_STATUSES",
    "BatchSummary",
    "DigitizeOptions",
    "Manifest",
    "PageRow",
    "PageTask",
    "TaskOutcome",
    "digitize_page",
    "execute",
    "expand_inputs",
    "run_batch",
]
