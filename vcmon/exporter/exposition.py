"""Fast /metrics bodies: the SnapshotCollector's families as text format 0.0.4, once per View.

prometheus_client's generic encoder costs ~10 us a sample: ~10 s for a national snapshot of
~650,000 samples. This module writes the same families, samples, label order and number
spelling directly, so the collector stays the reference (a test compares both, sample by
sample). What does not change between Views is not formatted again: site and link facts,
capacities, conference loads and SPOFs once per inventory (or per analysis object), verdict
lines once per (site, profile, verdict). The finished body, and its gzip, are kept until the
next View: a scrape of an unchanged View formats nothing.

>>> exp = Exposition(lambda: None)
>>> exp.body().decode().splitlines()[1]
'# TYPE vcmon_build_info gauge'
"""

from __future__ import annotations

import logging
import platform
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.utils import floatToGoString

from vcmon import __version__
from vcmon.exporter import names as n
from vcmon.exporter.collector import BYTES_PER_BIT
from vcmon.exporter.view import View
from vcmon.model import Direction, Inventory, Level, Site, Verdict
from vcmon.store import LagStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STATES = sorted(v.value for v in Verdict)  # prometheus_client writes a state set sorted


def _esc(value: str) -> str:
    r"""A label value as the text format quotes it.

    >>> print(_esc('a"b\\c'))
    a\"b\\c
    """
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _num(value: float) -> str:
    """A sample value spelt as prometheus_client spells it (Go's float format).

    >>> _num(0), _num(0.25), _num(500000.0), _num(1250000.0), _num(float("inf"))
    ('0.0', '0.25', '500000.0', '1.25e+06', '+Inf')
    """
    s = repr(float(value))
    # Go switches to exponents above 1e6 and spells inf/nan differently: rare, so delegate
    if 0 < s.find(".") <= 6:
        return s
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]  # untyped upstream


def _labels(pairs: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(pairs.items()))


def _header(m: n.MetricName) -> str:
    name = f"{m.name}_info" if m.kind == "info" else m.name
    kind = m.kind if m.kind in ("counter", "summary") else "gauge"
    help_ = m.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {help_}\n# TYPE {name} {kind}\n"


def _family(m: n.MetricName, lines: Iterable[str]) -> bytes:
    return (_header(m) + "".join(lines)).encode()


class _Escaped(dict[str, str]):
    """Label values escaped once, on first use."""

    def __missing__(self, key: str) -> str:
        value = self[key] = _esc(key)
        return value


class _Static:
    """What one inventory contributes whatever the measurements: rendered once."""

    def __init__(self, inv: Inventory) -> None:
        self.inventory = inv
        self.esc = _Escaped()
        self.verdict_lines: dict[tuple[str, str, Verdict], str] = {}
        self.by_identity: dict[str, tuple[object, bytes]] = {}
        self.inventory_sites = _family(
            n.INVENTORY_SITES,
            (
                f'{n.INVENTORY_SITES.name}{{level="{level.value}"}} '
                f"{_num(sum(1 for s in inv.sites.values() if s.level is level))}\n"
                for level in Level
            ),
        )
        self.site_info = _family(n.SITE_INFO, map(self._site_info, inv.sites.values()))
        name = f"{n.LINK_INFO.name}_info"
        self.link_info = _family(
            n.LINK_INFO,
            (
                f"{name}{{{_labels(dict(link=lk.id, site=lk.site, to=lk.to, medium=lk.medium.value, role=lk.role.value))}}} 1.0\n"  # noqa: E501
                for lk in inv.links.values()
            ),
        )
        name = n.LINK_CAPACITY.name
        self.capacity = _family(
            n.LINK_CAPACITY,
            (
                f'{name}{{direction="{d.value}",link="{self.esc[lk.id]}"}} '
                f"{_num(lk.capacity(d) * BYTES_PER_BIT)}\n"
                for lk in inv.links.values()
                for d in Direction
            ),
        )

    def _site_info(self, s: Site) -> str:
        district = self.inventory.sites.get(s.district) if s.district else None
        labels = {
            "site": s.code,
            "name": s.name,
            "district": s.district or "",
            "district_name": district.name if district else "",
            "level": s.level.value,
            "terrain": s.terrain.value,
            "latitude": f"{s.coordinates.lat:.5f}" if s.coordinates else "",
            "longitude": f"{s.coordinates.lon:.5f}" if s.coordinates else "",
        }
        return f"{n.SITE_INFO.name}_info{{{_labels(labels)}}} 1.0\n"

    def once(self, key: str, source: object, render: Callable[[], bytes]) -> bytes:
        """`render()`, reused while `source` is the very same object (the Evaluator shares
        its per-inventory analyses between Views)."""
        held = self.by_identity.get(key)
        if held is None or held[0] is not source:
            held = self.by_identity[key] = (source, render())
        return held[1]


def _build_info() -> bytes:
    labels = _labels({"version": __version__, "python": platform.python_version()})
    return _family(n.BUILD_INFO, [f"{n.BUILD_INFO.name}_info{{{labels}}} 1.0\n"])


def render(view: View, static: _Static) -> list[bytes]:
    """Every family SnapshotCollector yields for `view` after build info, in its order."""
    status = view.inventory_status
    out = [
        _family(
            n.INVENTORY_LOAD_SUCCESS,
            [f"{n.INVENTORY_LOAD_SUCCESS.name} {1.0 if status.ok else 0.0}\n"],
        ),
        _family(
            n.INVENTORY_LAST_LOAD_TIMESTAMP,
            [f"{n.INVENTORY_LAST_LOAD_TIMESTAMP.name} {_num(status.loaded_at)}\n"],
        ),
        static.inventory_sites,
    ]
    if view.shard:
        out.append(
            _family(n.SHARD_INFO, [f'{n.SHARD_INFO.name}_info{{shard="{_esc(view.shard)}"}} 1.0\n'])
        )
    out.append(static.site_info)
    out += _verdicts(view, static)
    out += _paths(view, static)
    out += _links(view, static)
    out += _probes(view, static)
    out += _conferences(view, static)
    return out


def _verdicts(view: View, static: _Static) -> list[bytes]:
    esc, cached = static.esc, static.verdict_lines
    states: list[str] = []
    best: list[str] = []
    reasons: list[str] = []
    roots: list[str] = []
    best_name, reason_name = f"{n.SITE_BEST_PROFILE.name}_info", n.SITE_REASON.name
    root_name = f"{n.SITE_ROOT_CAUSE.name}_info"
    for code, sr in view.verdicts.items():
        c = esc[code]
        best.append(f'{best_name}{{profile="{esc[sr.best_profile or "none"]}",site="{c}"}} 1.0\n')
        for profile, pv in sr.verdicts.items():
            p, verdict = esc[profile], pv.verdict
            text = cached.get((code, profile, verdict))
            if text is None:
                text = cached[code, profile, verdict] = "".join(
                    f'{n.SITE_VERDICT.name}{{profile="{p}",site="{c}",'
                    f'{n.SITE_VERDICT.name}="{state}"}} {1.0 if state == verdict else 0.0}\n'
                    for state in _STATES
                )
            states.append(text)
            for r in pv.reasons:
                if r.verdict is not Verdict.READY:
                    reasons.append(
                        f'{reason_name}{{metric="{r.metric.value}",profile="{p}",site="{c}",'
                        f'verdict="{r.verdict.value}"}} 1.0\n'
                    )
            if verdict is not Verdict.READY:
                roots.append(
                    f'{root_name}{{cause="{pv.root_cause.value}",profile="{p}",'
                    f'root="{esc[pv.root or code]}",site="{c}"}} 1.0\n'
                )
    return [
        _family(n.SITE_VERDICT, states),
        _family(n.SITE_BEST_PROFILE, best),
        _family(n.SITE_REASON, reasons),
        _family(n.SITE_ROOT_CAUSE, roots),
    ]


def _paths(view: View, static: _Static) -> list[bytes]:
    esc = static.esc
    kinds = (
        n.PATH_RTT_MIN,
        n.PATH_RTT_P50,
        n.PATH_RTT_P95,
        n.PATH_RTT_MAX,
        n.PATH_LOSS,
        n.PATH_MOS,
    )
    lines: list[list[str]] = [[] for _ in kinds]
    last: list[str] = []
    jitter: list[str] = []
    last_name, jitter_name = n.SITE_LAST_MEASUREMENT.name, n.PATH_JITTER.name
    for code, pm in view.observations.paths.items():
        label = f'{{site="{esc[code]}"}} '
        last.append(f"{last_name}{label}{_num(pm.measured_at)}\n")
        if pm.failure is not None:
            continue
        values = (
            pm.rtt_min_s,
            pm.rtt_p50_s,
            pm.rtt_p95_s,
            pm.rtt_max_s,
            pm.loss_ratio,
            pm.mos_estimate(),
        )
        for m, family, value in zip(kinds, lines, values, strict=True):
            if value is not None:
                family.append(f"{m.name}{label}{_num(value)}\n")
        if pm.jitter_s is not None:
            jitter.append(
                f'{jitter_name}{{method="ipdv",site="{esc[code]}"}} {_num(pm.jitter_s)}\n'
            )
        smoothed = pm.jitter_rfc3550_s
        if smoothed is not None:
            jitter.append(
                f'{jitter_name}{{method="rfc3550",site="{esc[code]}"}} {_num(smoothed)}\n'
            )
    return [
        *(_family(m, family) for m, family in zip(kinds, lines, strict=True)),
        _family(n.SITE_LAST_MEASUREMENT, last),
        _family(n.PATH_JITTER, jitter),
    ]


def _links(view: View, static: _Static) -> list[bytes]:
    esc, inv = static.esc, view.inventory
    used: list[str] = []
    util: list[str] = []
    spare: list[str] = []
    oper: list[str] = []
    used_name, util_name = n.LINK_USED.name, n.LINK_UTILISATION.name
    spare_name, oper_name = n.LINK_SPARE.name, n.LINK_OPER_UP.name
    observed = view.observations.links
    for link_id in inv.links:
        lm = observed.get(link_id)
        if lm is None:
            continue
        link = esc[link_id]
        if lm.failure is None:
            for d in Direction:
                label = f'{{direction="{d.value}",link="{link}"}} '
                bits = lm.used_up_bps if d is Direction.UP else lm.used_down_bps
                if bits is not None:
                    used.append(f"{used_name}{label}{_num(bits * BYTES_PER_BIT)}\n")
                u, s = lm.utilisation(d), lm.spare_bps(d)
                if u is not None:
                    util.append(f"{util_name}{label}{_num(u)}\n")
                if s is not None:
                    spare.append(f"{spare_name}{label}{_num(s * BYTES_PER_BIT)}\n")
        if lm.oper_up is not None:
            oper.append(f'{oper_name}{{link="{link}"}} {1.0 if lm.oper_up else 0.0}\n')
    profile = inv.conference.profile
    loads = view.loads.get(profile, {})

    def conference_load() -> bytes:
        name, p = n.LINK_CONFERENCE_LOAD.name, esc[profile]
        return _family(
            n.LINK_CONFERENCE_LOAD,
            (
                f'{name}{{direction="{d.value}",link="{esc[link_id]}",profile="{p}"}} '
                f"{_num(ld.load_bps(d) * BYTES_PER_BIT)}\n"
                for link_id, ld in loads.items()
                for d in Direction
            ),
        )

    def spofs() -> bytes:
        name = n.SPOF_SITES_CUT_OFF.name
        return _family(
            n.SPOF_SITES_CUT_OFF,
            (
                f'{name}{{id="{esc[s.id]}",kind="{esc[s.kind]}"}} {_num(len(s.cut_off))}\n'
                for s in view.spofs
            ),
        )

    return [
        static.link_info,
        static.capacity,
        _family(n.LINK_USED, used),
        _family(n.LINK_UTILISATION, util),
        _family(n.LINK_SPARE, spare),
        _family(n.LINK_OPER_UP, oper),
        static.once(f"conference_load:{profile}", loads, conference_load),
        static.once("spofs", view.spofs, spofs),
    ]


def _probes(view: View, static: _Static) -> list[bytes]:
    esc, devices = static.esc, view.inventory.devices
    success: list[str] = []
    duration: list[str] = []
    last: list[str] = []
    failures: list[str] = []
    for (device, module), st in view.observations.probes.items():
        dev = devices.get(device)
        if dev is None:  # left the inventory since the probe ran
            continue
        label = f'device="{esc[device]}",module="{esc[module]}"'
        site = f'site="{esc[dev.site]}"'
        success.append(f"{n.PROBE_SUCCESS.name}{{{label},{site}}} {1.0 if st.success else 0.0}\n")
        duration.append(f"{n.PROBE_DURATION.name}{{{label},{site}}} {_num(st.duration_s)}\n")
        if st.last_success_at is not None:
            last.append(
                f"{n.PROBE_LAST_SUCCESS.name}{{{label},{site}}} {_num(st.last_success_at)}\n"
            )
        for reason, count in st.failures_total.items():
            failures.append(
                f'{n.PROBE_FAILURES.name}{{{label},reason="{reason.value}",{site}}} {_num(count)}\n'
            )
    snmp = [
        f'{n.SNMP_ERRORS.name}{{device="{esc[device]}",reason="{reason.value}"}} {_num(count)}\n'
        for (device, reason), count in view.observations.snmp_errors.items()
    ]
    return [
        _scheduler_lag(view.observations.lag),
        _family(n.PROBE_SUCCESS, success),
        _family(n.PROBE_DURATION, duration),
        _family(n.PROBE_LAST_SUCCESS, last),
        _family(n.PROBE_FAILURES, failures),
        _family(n.SNMP_ERRORS, snmp),
    ]


def _scheduler_lag(lag: LagStats) -> bytes:
    name = n.SCHEDULER_LAG.name
    lines = [f"{name}_count {_num(lag.count)}\n", f"{name}_sum {_num(lag.sum_s)}\n"]
    for q in (0.5, 0.99, 1.0):
        value = lag.quantile(q)
        if value is not None:
            lines.append(f'{name}{{quantile="{q}"}} {_num(value)}\n')
    return _family(n.SCHEDULER_LAG, lines)


def _conferences(view: View, static: _Static) -> list[bytes]:
    esc = static.esc
    start: list[str] = []
    lead: list[str] = []
    ready: list[str] = []
    for event in view.inventory.schedule:
        verdicts = view.conferences.get(event.name)
        if verdicts is None:  # over, or not judged yet
            continue
        conf = esc[event.name]
        start.append(
            f'{n.CONFERENCE_START.name}{{conference="{conf}",profile="{esc[event.profile]}"}} '
            f"{_num(event.start_s)}\n"
        )
        lead.append(
            f'{n.CONFERENCE_LEAD_TIME.name}{{conference="{conf}"}} {_num(event.lead_time_s)}\n'
        )
        for site, verdict in verdicts.items():
            ready.append(
                f'{n.CONFERENCE_SITE_READY.name}{{conference="{conf}",site="{esc[site]}"}} '
                f"{1.0 if verdict is Verdict.READY else 0.0}\n"
            )
    return [
        _family(n.CONFERENCE_START, start),
        _family(n.CONFERENCE_LEAD_TIME, lead),
        _family(n.CONFERENCE_SITE_READY, ready),
    ]


class Exposition:
    """The /metrics body of the latest View, rendered at most once per View, never raising.

    Thread-safe: concurrent scrapes of a new View wait for one render instead of each
    doing it. The chunks are kept (not joined) to avoid a second copy of a ~50 MB body.
    """

    def __init__(self, latest: Callable[[], View | None]) -> None:
        self._latest = latest
        self._lock = threading.Lock()
        self._build = _build_info()
        self._view: View | None = None
        self._chunks: tuple[bytes, ...] = ()
        self._gzip: tuple[bytes] | None = None
        self._static: _Static | None = None

    def chunks(self, *, gzipped: bool = False) -> tuple[bytes, ...]:
        """The body for the latest View as chunks to write in order (one chunk if gzipped)."""
        try:
            view = self._latest()
        except Exception:  # never let a bug fail the scrape
            log.exception("no View to expose; serving build info only")
            return (self._build,)
        with self._lock:
            if view is not self._view or not self._chunks:
                self._view, self._chunks, self._gzip = view, (), None  # free the old body first
                self._chunks = self._render(view)
            if not gzipped:
                return self._chunks
            if self._gzip is None:
                self._gzip = (_gzip(self._chunks),)
            return self._gzip

    def body(self) -> bytes:
        return b"".join(self.chunks())

    def _render(self, view: View | None) -> tuple[bytes, ...]:
        if view is None:
            return (self._build,)
        try:
            if self._static is None or self._static.inventory is not view.inventory:
                self._static = None  # the old inventory's text can go before the new is built
                self._static = _Static(view.inventory)
            return (self._build, *render(view, self._static))
        except Exception:  # never let a bug fail the scrape
            log.exception("exposition failed; serving build info only")
            return (self._build,)


def _gzip(chunks: Iterable[bytes]) -> bytes:
    # level 1: a national body shrinks ~15x at a fraction of level 9's CPU
    z = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(z.compress(c) for c in chunks), z.flush()])
