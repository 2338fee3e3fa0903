"""The cyclic garbage collector's policy: paused around large acyclic builds, and kept
off the heap at exit.

The inventory loader, `vcmon analyze` and the /metrics render each allocate hundreds of
thousands of containers on top of a heap of hundreds of thousands more: left on, the
collector's passes rescan everything alive again and again.
"""

from __future__ import annotations

import atexit
import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic data.

    Several times faster on a 5 MB inventory; data without cycles (YAML data, the frozen
    model, verdicts, exposition text) is freed by reference counting all the same. Nests:
    only the outermost pause re-enables the collector.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache  # once per process
def freeze_at_exit() -> None:
    """At interpreter exit, move every object out of the cyclic collector's reach.

    scapy's import leaves ~36,000 objects (its layers, fields, tables) that live until exit,
    and the collector's final passes at shutdown walked them all again: ~0.13 s of CPU, a
    sixth of a one-shot probe's fixed cost. At exit nothing can need that memory back, so
    the passes are skipped (`gc.freeze` as an atexit handler, registered once).
    """
    atexit.register(gc.freeze)
