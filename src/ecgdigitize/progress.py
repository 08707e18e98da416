"""A small text progress bar (items/s, ETA, failures) for long runs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Progress of a run over `total` items, printed on one line of a stream.

    Parameters
    ----------
    total : int
        Number of items.
    label : str
        Word printed before the bar.
    stream : file, optional
        Where to print (default: standard error).
    enabled : bool
        Print nothing when False.
    min_interval_s : float
        Least time between two redraws in s.
    unit : str
        Name of the items in the rate (``"sheets"`` prints ``2.10 sheets/s``);
        empty for a bare ``2.10/s``.
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None,
                 enabled: bool = True, min_interval_s: float = 0.2, unit: str = "") -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self.unit = unit
        self.done = 0
        self.failed = 0
        self._skipped = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._closed = False

    @property
    def rate(self) -> float:
        """Items finished per s since the start (items given to :meth:`skip` left out)."""
        return (self.done - self._skipped) / max(time.monotonic() - self._start, 1e-9)

    def skip(self, n: int = 1, ok: bool = True) -> None:
        """Count `n` items settled without work (e.g. known failures), outside the rate."""
        self.done += n
        self._skipped += n
        if not ok:
            self.failed += n
        self.refresh()

    def refresh(self) -> None:
        """Draw the bar now (e.g. at the start, before the first item is done)."""
        self._last = time.monotonic()
        self._draw(self._last)

    def update(self, ok: bool = True) -> None:
        """Count one finished item (a failure when `ok` is False)."""
        self.done += 1
        if not ok:
            self.failed += 1
        now = time.monotonic()
        if now - self._last >= self.min_interval_s or self.done == self.total:
            self._last = now
            self._draw(now)

    def close(self) -> None:
        """End the line (once), e.g. when a run stops before its last item."""
        if self._closed:
            return
        self._closed = True
        if self.enabled and self._drawn and self.done < self.total:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        elapsed = max(now - self._start, 1e-9)
        rate = (self.done - self._skipped) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * 24)
        eta = f"{left:5.0f}s" if left != float("inf") else "    ?"
        unit = f" {self.unit}/s" if self.unit else "/s"
        self.stream.write(
            f"\r{self.label} [{bar:<24}] {self.done}/{self.total} {rate:5.2f}{unit} ETA {eta}"
            f" failed {self.failed}"
        )
        if self.done >= self.total:
            self.stream.write("\n")
        self._drawn = True
        self.stream.flush()
