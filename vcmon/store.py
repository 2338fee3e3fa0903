"""The latest probe results and a short history. No I/O.

Probers' results are written as they arrive (many small writes from the event loop); readers
(the evaluator, the HTTP threads) take an immutable `Observations` snapshot, built under a
lock, so a scrape never sees half a cycle and never blocks the probes for long.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vcmon.model import FailureReason, LinkMeasurement, Measurements, PathMeasurement


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    """The last run of one module against one device."""

    target: str
    module: str
    success: bool
    duration_s: float
    finished_at: float
    last_success_at: float | None
    failure: FailureReason | None
    failures_total: Mapping[FailureReason, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LagStats:
    """Scheduler drift: how late jobs started, in total and over the most recent ones."""

    count: int
    sum_s: float
    recent_s: tuple[float, ...]

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile of the recent lags.

        >>> lag = LagStats(4, 0.1, (0.0, 0.07, 0.01, 0.02))
        >>> lag.quantile(0.5), lag.quantile(0.99), lag.quantile(1.0)
        (0.01, 0.07, 0.07)
        """
        if not self.recent_s:
            return None
        ordered = sorted(self.recent_s)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Observations:
    paths: Mapping[str, PathMeasurement]
    links: Mapping[str, LinkMeasurement]
    probes: Mapping[tuple[str, str], ProbeStatus]
    snmp_errors: Mapping[tuple[str, FailureReason], int]
    lag: LagStats = field(default_factory=lambda: LagStats(0, 0.0, ()))

    def measurements(self) -> Measurements:
        return Measurements(paths=self.paths, links=self.links)


class Store:
    """Latest results per site/link/probe plus the last `history` path measurements per site.

    >>> s = Store(history=2)
    >>> for t in (1.0, 2.0, 3.0):
    ...     s.record_path(PathMeasurement("522", t, 0.01, 0.02, 0.001, 0.0))
    >>> [m.measured_at for m in s.history("522")], s.snapshot().paths["522"].measured_at
    ([2.0, 3.0], 3.0)
    """

    def __init__(self, history: int = 30) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, PathMeasurement] = {}
        self._links: dict[str, LinkMeasurement] = {}
        self._probes: dict[tuple[str, str], ProbeStatus] = {}
        self._snmp_errors: dict[tuple[str, FailureReason], int] = {}
        self._history: dict[str, deque[PathMeasurement]] = {}
        self._history_len = history
        self._lag_count = 0
        self._lag_sum = 0.0
        self._lag_recent: deque[float] = deque(maxlen=2000)

    def record_path(self, m: PathMeasurement) -> None:
        with self._lock:
            self._paths[m.site] = m
            self._history.setdefault(m.site, deque(maxlen=self._history_len)).append(m)

    def record_link(self, m: LinkMeasurement) -> None:
        with self._lock:
            self._links[m.link] = m

    def record_lag(self, lag_s: float) -> None:
        with self._lock:
            self._lag_count += 1
            self._lag_sum += lag_s
            self._lag_recent.append(lag_s)

    def record_snmp_error(self, device: str, reason: FailureReason) -> None:
        with self._lock:
            key = (device, reason)
            self._snmp_errors[key] = self._snmp_errors.get(key, 0) + 1

    def record_probe(
        self,
        target: str,
        module: str,
        *,
        finished_at: float,
        duration_s: float,
        failure: FailureReason | None,
    ) -> ProbeStatus:
        with self._lock:
            prev = self._probes.get((target, module))
            totals = dict(prev.failures_total) if prev else {}
            if failure is not None:
                totals[failure] = totals.get(failure, 0) + 1
            status = ProbeStatus(
                target=target,
                module=module,
                success=failure is None,
                duration_s=duration_s,
                finished_at=finished_at,
                last_success_at=finished_at
                if failure is None
                else (prev.last_success_at if prev else None),
                failure=failure,
                failures_total=MappingProxyType(totals),
            )
            self._probes[(target, module)] = status
            return status

    def history(self, site: str) -> list[PathMeasurement]:
        with self._lock:
            return list(self._history.get(site, ()))

    def retain(self, sites: Iterable[str], links: Iterable[str], targets: Iterable[str]) -> None:
        """Forget what the current inventory no longer has (no stale series after a reload)."""
        keep_sites, keep_links, keep_targets = set(sites), set(links), set(targets)
        with self._lock:
            for d in (self._paths, self._history):
                for k in [k for k in d if k not in keep_sites]:
                    del d[k]
            for k in [k for k in self._links if k not in keep_links]:
                del self._links[k]
            for pk in [pk for pk in self._probes if pk[0] not in keep_targets]:
                del self._probes[pk]
            for ek in [ek for ek in self._snmp_errors if ek[0] not in keep_targets]:
                del self._snmp_errors[ek]

    def snapshot(self) -> Observations:
        with self._lock:
            return Observations(
                paths=MappingProxyType(dict(self._paths)),
                links=MappingProxyType(dict(self._links)),
                probes=MappingProxyType(dict(self._probes)),
                snmp_errors=MappingProxyType(dict(self._snmp_errors)),
                lag=LagStats(self._lag_count, self._lag_sum, tuple(self._lag_recent)),
            )
