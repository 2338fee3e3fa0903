"""Pausing the cyclic garbage collector around large acyclic builds.

The inventory loader, `vcmon analyze` and the /metrics render each allocate hundreds of
thousands of containers on top of a heap of hundreds of thousands more: left on, the
collector's passes rescan everything alive again and again.
"""

from __future__ import annotations

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
