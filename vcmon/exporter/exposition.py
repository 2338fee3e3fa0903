"""Fast /metrics bodies: the SnapshotCollector's families as text format 0.0.4, once per View.

prometheus_client's generic encoder costs ~10 us a sample: ~10 s for a national snapshot of
~650,000 samples. This module writes the same families, samples, label order and number
spelling directly, so the collector stays the reference (a test compares both, sample by
sample). What does not change between Views is not formatted again: site and link facts,
capacities, conference loads and SPOFs once per inventory (or per analysis object); a site's,
link's or probe's lines while its measurement is the same object, verdict lines while they
say the same; a family's bytes (and their compressed segment) while all its lines are the
same. The finished body and its gzip are kept until the next View: a scrape formats and
compresses nothing.

>>> exp = Exposition(lambda: None)
>>> exp.body().decode().splitlines()[1]
'# TYPE vcmon_build_info gauge'
"""

from __future__ import annotations

import gzip
import logging
import platform
import struct
import threading
import zlib
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from prometheus_client.utils import floatToGoString

from vcmon import __version__
from vcmon.exporter import names as n
from vcmon.exporter.collector import BYTES_PER_BIT, PATH_GAUGES, link_labels, site_labels
from vcmon.exporter.view import View
from vcmon.memory import gc_paused
from vcmon.model import (
    Direction,
    Inventory,
    Level,
    Link,
    LinkMeasurement,
    PathMeasurement,
    Site,
    Verdict,
)
from vcmon.readiness import ProfileVerdict
from vcmon.store import LagStats, ProbeStatus

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# RFC 1952: deflate, no name, mtime 0, OS unknown; a final empty fixed-Huffman block ends it
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_DEFLATE_END = b"\x03\x00"


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
    dot = s.find(".")
    if 0 < dot <= 6:
        return s
    if dot > 6 and value > 0:  # Go switches to exponents sooner: byte rates often do
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    # inf, nan, Python's own exponents: rare, so delegate
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


class _Section:
    """Families whose lines come per subject (a site, link, probe, site and profile).

    A subject's lines live only inside the families' bytes, found again by offsets; while
    its token (its measurement object, or what its verdict says) is unchanged they are
    copied from there, in runs, rather than formatted again. Keeping them nowhere else
    saves ~60 MB at national scale.
    """

    def __init__(self, *families: n.MetricName) -> None:
        self.headers = [_header(m).encode() for m in families]
        self.bodies = list(self.headers)
        self.sizes = [array("Q") for _ in families]  # per family, each row's byte count
        self.bounds = [array("Q", [len(h)]) for h in self.headers]
        self.index: dict[Hashable, int] = {}
        self.tokens: list[object] = []

    def render(
        self,
        subjects: Iterable[tuple[Hashable, object, Any]],
        lines: Callable[[Any, Any], tuple[str, ...]],
    ) -> list[bytes]:
        """Each family's bytes for `(key, token, source)` subjects, in their order;
        `lines(key, source)` formats a subject whose token changed. The very same bytes as
        last time if nothing changed, so their compressed segment is reused too."""
        old = [memoryview(b) for b in self.bodies]
        old_sizes, old_bounds, old_index, old_tokens = (
            self.sizes,
            self.bounds,
            self.index,
            self.tokens,
        )
        # grown in place: a list of per-row bytes would cost ~70 MB more at the peak
        parts = [bytearray(h) for h in self.headers]
        sizes = [array("Q") for _ in self.headers]
        index: dict[Hashable, int] = {}
        tokens: list[object] = []
        a = b = runs = new = 0  # old rows [a, b) are the run to copy next

        def copy_run() -> None:
            for f in range(len(parts)):
                parts[f] += old[f][old_bounds[f][a] : old_bounds[f][b]]
                sizes[f].extend(old_sizes[f][a:b])

        for i, (key, token, source) in enumerate(subjects):
            j = old_index.get(key)
            if j is not None and ((was := old_tokens[j]) is token or was == token):
                if j != b:
                    if b > a:
                        copy_run()
                        runs += 1
                    a = j
                b = j + 1
            else:
                if b > a:
                    copy_run()
                    runs += 1
                a = b
                new += 1
                for f, text in enumerate(lines(key, source)):
                    data = text.encode()
                    parts[f] += data
                    sizes[f].append(len(data))
            index[key] = i
            tokens.append(token)
        if b > a:
            copy_run()
            runs += 1
        self.index, self.tokens = index, tokens
        if new == 0 and runs <= 1 and len(tokens) == len(old_tokens):
            return self.bodies
        for view in old:
            view.release()
        self.bodies = []
        for p in parts:
            self.bodies.append(bytes(p))
            p.clear()  # one family's copy at a time
        self.sizes = sizes
        self.bounds = [
            array("Q", accumulate(s, initial=len(h)))
            for s, h in zip(sizes, self.headers, strict=True)
        ]
        return self.bodies


class _Text:
    """One inventory's text: its fixed families, and the sections of per-subject lines."""

    def __init__(self, inv: Inventory) -> None:
        self.inventory = inv
        self.esc = _Escaped()
        self.verdicts = _Section(n.SITE_VERDICT, n.SITE_REASON, n.SITE_ROOT_CAUSE)
        self.best = _Section(n.SITE_BEST_PROFILE)
        self.paths = _Section(*_PATH)
        self.links = _Section(n.LINK_USED, n.LINK_UTILISATION, n.LINK_SPARE, n.LINK_OPER_UP)
        self.probes = _Section(
            n.PROBE_SUCCESS, n.PROBE_DURATION, n.PROBE_LAST_SUCCESS, n.PROBE_FAILURES
        )
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
        self.link_info = _family(n.LINK_INFO, map(self._link_info, inv.links.values()))
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
        labels = site_labels(self.inventory, s)
        return f"{n.SITE_INFO.name}_info{{{_labels(labels)}}} 1.0\n"

    def _link_info(self, lk: Link) -> str:
        labels = link_labels(lk)
        return f"{n.LINK_INFO.name}_info{{{_labels(labels)}}} 1.0\n"

    def once(self, key: str, source: object, render: Callable[[], bytes]) -> bytes:
        """`render()`, reused while `source` is the very same object (the Evaluator shares
        its per-inventory analyses between Views)."""
        held = self.by_identity.get(key)
        if held is None or held[0] is not source:
            held = self.by_identity[key] = (source, render())
        return held[1]

    def path(self, code: str, pm: PathMeasurement) -> tuple[str, ...]:
        """Lines of the six path families, the last-measurement one and jitter."""
        label = f'{{site="{self.esc[code]}"}} '
        last = f"{n.SITE_LAST_MEASUREMENT.name}{label}{_num(pm.measured_at)}\n"
        if pm.failure is not None:
            return ("", "", "", "", "", "", last, "")
        values = (
            pm.rtt_min_s,
            pm.rtt_p50_s,
            pm.rtt_p95_s,
            pm.rtt_max_s,
            pm.loss_ratio,
            pm.mos_estimate(),
        )
        jitter = ""
        if pm.jitter_s is not None:
            jitter = f'{n.PATH_JITTER.name}{{method="ipdv",{label[1:]}{_num(pm.jitter_s)}\n'
        if pm.jitter_rfc3550_s is not None:
            jitter += (
                f'{n.PATH_JITTER.name}{{method="rfc3550",{label[1:]}{_num(pm.jitter_rfc3550_s)}\n'
            )
        return (
            *(
                "" if v is None else f"{m.name}{label}{_num(v)}\n"
                for m, v in zip(_PATH[:6], values, strict=True)
            ),
            last,
            jitter,
        )

    def link(self, link_id: str, lm: LinkMeasurement) -> tuple[str, ...]:
        """Lines of used, utilisation, spare (both directions) and oper status."""
        used = util = spare = oper = ""
        link = self.esc[link_id]
        if lm.failure is None:
            for d in Direction:
                label = f'{{direction="{d.value}",link="{link}"}} '
                bits = lm.used_up_bps if d is Direction.UP else lm.used_down_bps
                if bits is not None:
                    used += f"{n.LINK_USED.name}{label}{_num(bits * BYTES_PER_BIT)}\n"
                u, s = lm.utilisation(d), lm.spare_bps(d)
                if u is not None:
                    util += f"{n.LINK_UTILISATION.name}{label}{_num(u)}\n"
                if s is not None:
                    spare += f"{n.LINK_SPARE.name}{label}{_num(s * BYTES_PER_BIT)}\n"
        if lm.oper_up is not None:
            oper = f'{n.LINK_OPER_UP.name}{{link="{link}"}} {1.0 if lm.oper_up else 0.0}\n'
        return (used, util, spare, oper)

    def probe(self, site: str, device: str, module: str, st: ProbeStatus) -> tuple[str, ...]:
        """Lines of probe success, duration, last success and failures by reason."""
        esc = self.esc
        label = f'device="{esc[device]}",module="{esc[module]}"'
        tail = f'site="{esc[site]}"}}'
        last = failures = ""
        if st.last_success_at is not None:
            last = f"{n.PROBE_LAST_SUCCESS.name}{{{label},{tail} {_num(st.last_success_at)}\n"
        for reason, count in st.failures_total.items():
            failures += (
                f'{n.PROBE_FAILURES.name}{{{label},reason="{reason.value}",{tail} {_num(count)}\n'
            )
        return (
            f"{n.PROBE_SUCCESS.name}{{{label},{tail} {1.0 if st.success else 0.0}\n",
            f"{n.PROBE_DURATION.name}{{{label},{tail} {_num(st.duration_s)}\n",
            last,
            failures,
        )

    def verdict(self, code: str, pv: ProfileVerdict) -> tuple[str, ...]:
        """Lines of the verdict state set, the reasons and the root cause."""
        esc = self.esc
        c, p, verdict = esc[code], esc[pv.profile], pv.verdict
        states = (
            f'{n.SITE_VERDICT.name}{{profile="{p}",site="{c}",'
            f'{n.SITE_VERDICT.name}="{verdict.value}"}} 1.0\n'
        )
        reasons = "".join(
            f'{n.SITE_REASON.name}{{metric="{r.metric.value}",profile="{p}",site="{c}",'
            f'verdict="{r.verdict.value}"}} 1.0\n'
            for r in pv.reasons
            if r.verdict is not Verdict.READY
        )
        root = ""
        if verdict is not Verdict.READY:
            root = (
                f'{n.SITE_ROOT_CAUSE.name}_info{{cause="{pv.root_cause.value}",profile="{p}",'
                f'root="{esc[pv.root or code]}",site="{c}"}} 1.0\n'
            )
        return (states, reasons, root)


_PATH = (*PATH_GAUGES, n.PATH_JITTER)


def _build_info() -> bytes:
    labels = _labels({"version": __version__, "python": platform.python_version()})
    return _family(n.BUILD_INFO, [f"{n.BUILD_INFO.name}_info{{{labels}}} 1.0\n"])


def _families(view: View, text: _Text) -> list[bytes]:
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
        text.inventory_sites,
    ]
    if view.shard:
        out.append(
            _family(n.SHARD_INFO, [f'{n.SHARD_INFO.name}_info{{shard="{_esc(view.shard)}"}} 1.0\n'])
        )
    out.append(text.site_info)
    out += _verdicts(view, text)
    out += _paths(view, text)
    out += _links(view, text)
    out += _probes(view, text)
    out += _conferences(view, text)
    return out


def _verdicts(view: View, text: _Text) -> list[bytes]:
    def verdicts() -> Iterator[tuple[tuple[str, str], tuple[object, ...], ProfileVerdict]]:
        for code, sr in view.verdicts.items():
            for pv in sr.verdicts.values():
                # what the lines depend on (readiness builds new objects every evaluation);
                # flat: a tuple per reason would cost ~6 MB at national scale
                said = (
                    pv.verdict,
                    pv.root_cause,
                    pv.root,
                    *[r.metric for r in pv.reasons],
                    *[r.verdict for r in pv.reasons],
                )
                yield (code, pv.profile), said, pv

    def best_line(code: str, profile: str) -> tuple[str]:
        esc = text.esc
        return (
            f'{n.SITE_BEST_PROFILE.name}_info{{profile="{esc[profile]}",site="{esc[code]}"}} 1.0\n',
        )

    states, reasons, roots = text.verdicts.render(
        verdicts(), lambda key, pv: text.verdict(key[0], pv)
    )
    best = text.best.render(
        ((code, p, p) for code, sr in view.verdicts.items() for p in [sr.best_profile or "none"]),
        best_line,
    )
    return [states, *best, reasons, roots]


def _paths(view: View, text: _Text) -> list[bytes]:
    return text.paths.render(
        ((code, pm, pm) for code, pm in view.observations.paths.items()), text.path
    )


def _links(view: View, text: _Text) -> list[bytes]:
    esc, inv = text.esc, view.inventory
    observed = view.observations.links
    rows = text.links.render(
        ((link_id, lm, lm) for link_id in inv.links if (lm := observed.get(link_id)) is not None),
        text.link,
    )
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
        text.link_info,
        text.capacity,
        *rows,
        text.once(f"conference_load:{profile}", loads, conference_load),
        text.once("spofs", view.spofs, spofs),
    ]


def _probes(view: View, text: _Text) -> list[bytes]:
    esc, devices = text.esc, view.inventory.devices
    rows = text.probes.render(
        (
            (key, st, st)
            for key, st in view.observations.probes.items()
            if key[0] in devices  # else it left the inventory since the probe ran
        ),
        lambda key, st: text.probe(devices[key[0]].site, key[0], key[1], st),
    )
    snmp = [
        f'{n.SNMP_ERRORS.name}{{device="{esc[device]}",reason="{reason.value}"}} {_num(count)}\n'
        for (device, reason), count in view.observations.snmp_errors.items()
    ]
    return [
        _scheduler_lag(view.observations.lag),
        *rows,
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


def _conferences(view: View, text: _Text) -> list[bytes]:
    esc = text.esc
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


@dataclass(frozen=True, slots=True)
class _Body:
    view: View | None
    plain: tuple[bytes, ...]
    gzip: tuple[bytes, ...]


class Exposition:
    """The /metrics body of the latest View, rendered once per View, never raising.

    Thread-safe: one thread renders a new View; a scrape that gives a `wait_s` has it
    rendered in a thread of its own, waits for it that long at most, and then gets the
    previous View's body: a scrape never pays more than that for a render. The chunks are
    kept (not joined) to avoid another copy of a ~50 MB body.
    """

    def __init__(self, latest: Callable[[], View | None]) -> None:
        self._latest = latest
        self._lock = threading.Lock()
        self._done = threading.Condition()
        build = _build_info()
        self._build = _Body(None, (build,), (gzip.compress(build, mtime=0),))
        self._body = self._build
        self._segments: dict[int, tuple[bytes, bytes]] = {}
        self._text: _Text | None = None

    def chunks(self, *, gzipped: bool = False, wait_s: float = -1) -> tuple[bytes, ...]:
        """The body for the latest View as chunks to write in order; if rendering it takes
        longer than `wait_s` (-1: wait, rendering here if needed), the previous one's."""
        try:
            view = self._latest()
        except Exception:  # never let a bug fail the scrape
            log.exception("no View to expose; serving build info only")
            body = self._build
        else:
            body = self._body
            if body.view is not view:
                body = self._render(view) if wait_s < 0 else self._await(view, wait_s)
        return body.gzip if gzipped else body.plain

    def _render(self, view: View | None) -> _Body:
        with self._lock:
            if self._body.view is not view:
                self._body = self._publish(view)
                with self._done:
                    self._done.notify_all()
            return self._body

    def _await(self, view: View | None, wait_s: float) -> _Body:
        self.refresh()
        with self._done:
            self._done.wait_for(lambda: self._body.view is view, timeout=wait_s)
        return self._body

    def refresh(self) -> None:
        """Render the latest View in a thread of its own, unless it is done or under way."""
        try:
            current = self._body.view is self._latest()
        except Exception:  # chunks() logs it
            current = False
        if current or self._lock.locked():
            return
        threading.Thread(
            target=self.chunks, kwargs={"gzipped": True}, name="vcmon-metrics", daemon=True
        ).start()

    @property
    def view(self) -> View | None:
        """The View the current body shows."""
        return self._body.view

    def body(self) -> bytes:
        return b"".join(self.chunks())

    def _publish(self, view: View | None) -> _Body:
        if view is None:
            return self._build
        # The render allocates ~10^5 tuples (no cycles among them) on a heap of millions of
        # inventory objects: left on, the cyclic GC's full passes doubled or tripled its time.
        try:
            with gc_paused():
                if self._text is None or self._text.inventory is not view.inventory:
                    self._text = None  # the old inventory's text can go before the new is built
                    self._text = _Text(view.inventory)
                plain = (self._build.plain[0], *_families(view, self._text))
                # one piece: each write of a piece waits for the GIL (~5 ms while a render runs)
                return _Body(view, plain, (b"".join(self._compress(plain)),))
        except Exception:  # never let a bug fail the scrape
            log.exception("exposition failed; serving build info only")
            return _Body(view, self._build.plain, self._build.gzip)

    def _compress(self, chunks: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """One gzip member whose deflate stream is the chunks' segments end to end: each
        segment is compressed on its own (a fresh window, flushed to a byte boundary), so a
        chunk shared with the last View reuses its segment and only new text is compressed."""
        held, self._segments = self._segments, {}
        out, crc, size = [_GZIP_HEADER], 0, 0
        for chunk in chunks:
            seg = held.get(id(chunk))
            if seg is None or seg[0] is not chunk:
                z = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
                seg = (chunk, z.compress(chunk) + z.flush(zlib.Z_SYNC_FLUSH))
            self._segments[id(chunk)] = seg
            out.append(seg[1])
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        out += [_DEFLATE_END, struct.pack("<II", crc, size & 0xFFFFFFFF)]
        return tuple(out)
