"""Imported by each worker of the local pool (and by its fork server) before any page.

Importing this module imports the digitizer, keeps OpenCV to one thread and
builds the digitizer's per-process caches (the lead-name template banks,
about 1.5 s), so that a worker's first page costs no more than the others
(and its time limit is fair), and workers forked from the fork server start
with the caches built.

OpenCV is set to one thread *before* anything runs: a process forked from
one whose OpenCV thread pool is running would find the pool's threads gone
and hang in its next parallel call.
"""

from __future__ import annotations

from .worker import single_thread_opencv, warm_up

single_thread_opencv()
warm_up()
