"""The ICMP echo prober: one asyncio engine, one socket, every target interleaved like fping.

Packets are built once per module with scapy (an IP/ICMP echo whose whole IP packet is
`size_bytes`, DSCP set on the socket with IP_TOS); per packet only the sequence number and
checksum are patched in bytes, so scapy never sits on the hot path. Sends are round-robin
across the targets in flight, each target keeping its own `spacing_s`, under a global
pacing (`min_interval_s`, fping's `-i`). One non-blocking socket is read with `loop.add_reader`;
replies are matched by (identifier, sequence) and then checked for the right source
address and the exact payload we sent. Anything else - other pingers' replies, forgeries,
truncated packets, floods, our own echo requests seen on loopback - is counted in
`IcmpEngine.stats` and never reaches a result.

Socket choice: an unprivileged ICMP datagram socket when `net.ipv4.ping_group_range`
allows it, a raw socket otherwise; neither possible raises `ProbeSetupError`. That and a
bad module are the only exceptions: a failing target is an `IcmpResult` with a `failure`.

Jitter, both from consecutive replies in sequence order (lost echoes skipped):
`jitter_ipdv_s` is the mean of |RTT(i) - RTT(i-1)| (RFC 5481 IPDV style);
`jitter_rfc3550_s` smooths the same differences as J += (|D| - J) / 16 from J = 0
(RFC 3550 section 6.4.1), so it lags on short probes. RTTs use the kernel's receive
timestamp (SO_TIMESTAMPNS), so a busy event loop does not inflate them; the send time is
read just before sendto(2). Both are wall-clock (the kernel stamps in CLOCK_REALTIME): a
clock step during a probe makes that one RTT 'late' rather than wrong.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import errno
import heapq
import itertools
import math
import os
import socket
import struct
import time
from collections.abc import Callable, Sequence
from enum import StrEnum

from vcmon.errors import ProbeSetupError
from vcmon.memory import freeze_at_exit
from vcmon.model import FailureReason, Module, PathMeasurement, ProberKind

__all__ = [
    "MALFORMED",
    "OTHER_ICMP",
    "EngineStats",
    "IcmpEngine",
    "IcmpResult",
    "SocketKind",
    "build_echo_template",
    "check_module",
    "echo_checksum",
    "ipdv_mean",
    "ones_complement_sum",
    "parse_icmp",
    "percentile",
    "rfc3550_jitter",
    "to_measurement",
]

IP_HEADER_BYTES = 20
ICMP_HEADER_BYTES = 8
MIN_SIZE_BYTES = IP_HEADER_BYTES + ICMP_HEADER_BYTES
MAX_SIZE_BYTES = 65_535 - 8  # kept a little under the IPv4 limit of 65,535 bytes
_MAX_SEQ_IN_FLIGHT = 60_000  # below 2**16 so a sequence number is never reused while pending

# Linux values; the socket module does not export them.
_SO_TIMESTAMPNS = 35
_SO_RCVBUFFORCE = 33
_IP_RECVERR = 11
_SO_EE_ORIGIN_ICMP = 2
_TIMESPEC = struct.Struct("@qq")
_EXT_ERR = struct.Struct("=IBBBBII")

_ICMP_ECHO_REPLY = 0
_ICMP_UNREACH = 3
_ICMP_ECHO = 8
_ICMP_TIME_EXCEEDED = 11
_ERROR_REASON = {
    _ICMP_UNREACH: FailureReason.UNREACHABLE,
    _ICMP_TIME_EXCEEDED: FailureReason.TTL_EXCEEDED,
}
_SEND_ERRNO_REASON = {
    errno.ENETUNREACH: FailureReason.UNREACHABLE,
    errno.EHOSTUNREACH: FailureReason.UNREACHABLE,
}
_MATCHED_KINDS = frozenset((_ICMP_ECHO_REPLY, _ICMP_UNREACH, _ICMP_TIME_EXCEEDED))
_HDR = struct.Struct("!HHH")  # checksum, identifier, sequence at offset 2
_ID_SEQ = struct.Struct("!HH")
_MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: IntFlag's & costs microseconds per packet
_READ_BUDGET = 512  # datagrams per reader callback: a flood cannot starve the sender
_time_ns = time.time_ns  # bound once: read for every probe sent
_SEND_BUDGET = 128  # packets per sender callback: replies get read between batches
_PACE_TICK_S = 0.001  # the paced sender wakes at most about once per ms (epoll's unit)


class SocketKind(StrEnum):
    AUTO = "auto"
    DGRAM = "dgram"
    """Unprivileged ICMP 'ping' socket (needs the gid in net.ipv4.ping_group_range)."""
    RAW = "raw"
    """Raw ICMP socket (needs CAP_NET_RAW); sees every ICMP packet of the namespace."""


@dataclasses.dataclass(frozen=True, slots=True)
class IcmpResult:
    """One target probed with one module. Times in seconds, loss as a ratio 0..1."""

    target: str
    module: str
    sent: int
    received: int
    duplicates: int
    reordered: int
    late: int
    """Replies that came after `timeout_s`: counted as lost."""
    rtt_min_s: float | None
    rtt_p50_s: float | None
    rtt_p95_s: float | None
    rtt_max_s: float | None
    jitter_ipdv_s: float | None
    """Mean |RTT(i) - RTT(i-1)| over consecutive replies (RFC 5481 IPDV style)."""
    jitter_rfc3550_s: float | None
    """The same differences smoothed as J += (|D| - J) / 16 (RFC 3550 6.4.1)."""
    loss_ratio: float | None
    """None when nothing could be sent."""
    errors: tuple[FailureReason, ...] = ()
    """ICMP errors (or local send errors) received, one entry per probe, in arrival order."""
    failure: FailureReason | None = None
    """Set when no echo came back: the commonest error, else TIMEOUT."""
    rtts_s: tuple[float | None, ...] = ()
    """Per probe in send order; None for a lost probe."""


@dataclasses.dataclass(slots=True)
class EngineStats:
    """Counters over the engine's life; what was ignored, and why, is visible here.

    `IcmpEngine.stats` hands out a copy, so a caller's snapshot never moves under it.
    """

    sent: int = 0
    replies: int = 0
    """Echo replies matched to a probe (including late ones and duplicates)."""
    icmp_errors: int = 0
    """Unreachable / time-exceeded errors matched to a probe."""
    send_errors: int = 0
    not_ours: int = 0
    """Echo replies or errors carrying another identifier (another pinger's)."""
    unmatched: int = 0
    """Our identifier but no probe waiting for that sequence (very late, or forged)."""
    ignored_wrong_source: int = 0
    """Our identifier and sequence from an address we did not probe."""
    malformed: int = 0
    """Truncated, bad headers, or a payload that is not the one we sent."""
    echo_requests: int = 0
    """Echo requests seen on a raw socket (our own to local addresses, or someone else's)."""
    other_icmp: int = 0


# --- pure helpers ----------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, interpolated linearly (numpy's default).

    >>> percentile([0.010, 0.020, 0.030, 0.040], 0.5)
    0.025
    >>> round(percentile([float(i) for i in range(1, 21)], 0.95), 2)
    19.05
    """
    if not ordered:
        raise ValueError("percentile of no values")
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ipdv_mean(rtts: Sequence[float]) -> float | None:
    """Mean |RTT(i) - RTT(i-1)| over consecutive replies; None below two replies.

    >>> round(ipdv_mean([0.020, 0.030, 0.020, 0.030]), 6)
    0.01
    >>> ipdv_mean([0.02]) is None
    True
    """
    if len(rtts) < 2:
        return None
    return sum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)


def rfc3550_jitter(rtts: Sequence[float]) -> float | None:
    """RFC 3550's smoothed jitter over the same differences: J += (|D| - J) / 16 from 0.

    >>> round(rfc3550_jitter([0.020, 0.030]), 6)
    0.000625
    >>> rfc3550_jitter([]) is None
    True
    """
    if len(rtts) < 2:
        return None
    j = 0.0
    for a, b in itertools.pairwise(rtts):
        j += (abs(b - a) - j) / 16
    return j


def echo_checksum(base_sum: int, seq: int) -> int:
    """The ICMP checksum of a template whose other words sum (ones' complement) to base_sum.

    Patching only the sequence number makes the checksum an addition (RFC 1624):

    >>> hex(echo_checksum(0x1234, 0)), hex(echo_checksum(0xFFFF, 1))
    ('0xedcb', '0xfffe')
    """
    total = base_sum + seq
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ones_complement_sum(data: bytes) -> int:
    """16-bit ones' complement sum, folded, not inverted (RFC 1071).

    >>> hex(ones_complement_sum(bytes([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7])))
    '0xddf2'
    """
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


MALFORMED = -1
"""`parse_icmp` kind for a datagram too short or with broken headers."""
OTHER_ICMP = -2
"""`parse_icmp` kind for an ICMP error that does not quote an ICMP echo request."""
_MALFORMED = (MALFORMED, 0, 0, b"")
_OTHER = (OTHER_ICMP, 0, 0, b"")


def parse_icmp(data: bytes, ip_header: bool) -> tuple[int, int, int, bytes]:
    """Classify one received datagram as (kind, identifier, sequence, extra).

    kind is the ICMP type, MALFORMED or OTHER_ICMP. For an echo reply, extra is its
    payload; for unreachable / time exceeded, the identifier and sequence are those of
    our quoted echo request and extra is its destination (4 bytes). Raw sockets give the
    IP header (`ip_header=True`), ping sockets do not.

    >>> reply = bytes.fromhex("0000 0000 1234 0007") + b"data"
    >>> parse_icmp(reply, ip_header=False)
    (0, 4660, 7, b'data')
    >>> parse_icmp(reply[:5], ip_header=False)[0] == MALFORMED
    True
    """
    off = 0
    if ip_header:
        if len(data) < IP_HEADER_BYTES or data[0] >> 4 != 4:
            return _MALFORMED
        off = (data[0] & 0x0F) * 4
    if len(data) < off + ICMP_HEADER_BYTES:
        return _MALFORMED
    kind = data[off]
    if kind == _ICMP_ECHO_REPLY:
        ident, seq = _ID_SEQ.unpack_from(data, off + 4)
        return kind, ident, seq, data[off + ICMP_HEADER_BYTES :]
    if kind not in _ERROR_REASON:
        return kind, 0, 0, b""
    inner = off + ICMP_HEADER_BYTES  # the quoted IP header, then 8 bytes of what it carried
    if len(data) < inner + IP_HEADER_BYTES or data[inner + 9] != socket.IPPROTO_ICMP:
        return _OTHER
    quoted = inner + (data[inner] & 0x0F) * 4
    if len(data) < quoted + ICMP_HEADER_BYTES or data[quoted] != _ICMP_ECHO:
        return _OTHER
    ident, seq = _ID_SEQ.unpack_from(data, quoted + 4)
    return kind, ident, seq, data[inner + 16 : inner + 20]


def build_echo_template(size_bytes: int, dscp: int, ident: int, cookie: bytes) -> bytes:
    """The ICMP echo request (header + payload) of an IP packet of `size_bytes` on the wire.

    Built with scapy once per module; seq and checksum are left 0 for patching. The payload
    starts with the engine's random cookie, so other pingers' replies never match ours.

    >>> t = build_echo_template(84, 34, 0x1234, b"cookie!!")
    >>> len(t), t[:8].hex(), t[8:16]
    (64, '0800000012340000', b'cookie!!')
    """
    from scapy.layers.inet import ICMP, IP  # slow import: only at setup
    from scapy.packet import Raw

    freeze_at_exit()  # scapy's ~36,000 import-time objects, not walked again at exit

    filler = bytes(range(256)) * (size_bytes // 256 + 1)
    payload = (cookie + filler)[: size_bytes - MIN_SIZE_BYTES]
    packet = IP(tos=dscp << 2) / ICMP(type=_ICMP_ECHO, code=0, id=ident, seq=0) / Raw(payload)
    wire = bytes(packet)
    if len(wire) != size_bytes:
        raise ProbeSetupError(f"echo template is {len(wire)} bytes, expected {size_bytes}")
    icmp = bytearray(wire[IP_HEADER_BYTES:])
    icmp[2:4] = b"\0\0"
    return bytes(icmp)


def check_module(module: Module) -> None:
    """Raise ProbeSetupError unless the module can drive ICMP probes."""
    problems = []
    if module.prober is not ProberKind.ICMP:
        problems.append(f"prober is {module.prober.value!r}, not 'icmp'")
    if module.count < 1:
        problems.append(f"count {module.count} < 1")
    if not MIN_SIZE_BYTES <= module.size_bytes <= MAX_SIZE_BYTES:
        problems.append(f"size {module.size_bytes} not in {MIN_SIZE_BYTES}..{MAX_SIZE_BYTES}")
    if not 0 <= module.dscp <= 63:
        problems.append(f"dscp {module.dscp} not in 0..63")
    if module.spacing_s < 0 or not math.isfinite(module.spacing_s):
        problems.append(f"spacing {module.spacing_s} s is not a non-negative duration")
    if not 0 < module.timeout_s < math.inf:
        problems.append(f"timeout {module.timeout_s} s is not a positive duration")
    if problems:
        raise ProbeSetupError(f"module {module.name!r}: " + "; ".join(problems))


def to_measurement(
    result: IcmpResult, measured_at: float, site: str | None = None
) -> PathMeasurement:
    """The path quality readiness consumes (IPDV jitter); `site` defaults to the target.

    >>> r = IcmpResult("198.18.0.1", "m", 10, 8, 0, 0, 0, 0.02, 0.021, 0.03, 0.031,
    ...                0.004, 0.001, 0.2)
    >>> m = to_measurement(r, 1700000000.0, site="QN-001")
    >>> m.site, m.rtt_p50_s, m.rtt_p95_s, m.jitter_s, m.jitter_rfc3550_s, m.loss_ratio
    ('QN-001', 0.021, 0.03, 0.004, 0.001, 0.2)
    """
    return PathMeasurement(
        site=result.target if site is None else site,
        measured_at=measured_at,
        rtt_p50_s=result.rtt_p50_s,
        rtt_p95_s=result.rtt_p95_s,
        jitter_s=result.jitter_ipdv_s,
        loss_ratio=result.loss_ratio,
        failure=None if result.failure is None else result.failure.value,
        rtt_min_s=result.rtt_min_s,
        rtt_max_s=result.rtt_max_s,
        jitter_rfc3550_s=result.jitter_rfc3550_s,
    )


# --- the engine ------------------------------------------------------------------------


class _Shape:
    """A module's packet: the template buffer patched in place, and what a reply must carry."""

    __slots__ = ("base_sum", "buf", "payload", "tos")

    def __init__(self, module: Module, ident: int, cookie: bytes) -> None:
        template = build_echo_template(module.size_bytes, module.dscp, ident, cookie)
        self.buf = bytearray(template)
        self.payload = template[ICMP_HEADER_BYTES:]
        self.base_sum = ones_complement_sum(template)
        self.tos = module.dscp << 2


class _Run:
    """One target being probed: per-probe send times and outcomes."""

    __slots__ = (
        "addr",
        "admitted",
        "answered",
        "count",
        "dups",
        "errors",
        "finished",
        "highest",
        "late",
        "module",
        "on_done",
        "reordered",
        "rtt_ns",
        "seqs",
        "shape",
        "sockaddr",
        "spacing_s",
        "target",
        "timeout_ns",
        "timer",
        "tx_ns",
    )

    def __init__(
        self,
        target: str,
        addr: str,
        module: Module,
        shape: _Shape,
        on_done: Callable[[IcmpResult], None],
    ) -> None:
        self.target = target
        self.addr = addr
        self.sockaddr = (addr, 0)
        self.module = module
        self.count = module.count
        self.spacing_s = module.spacing_s
        self.shape = shape
        self.on_done = on_done
        self.timeout_ns = int(module.timeout_s * 1e9)
        self.tx_ns: list[int] = []
        self.seqs: list[int] = []
        self.rtt_ns: list[int | None] = [None] * module.count
        self.errors: list[FailureReason] = []
        self.answered = 0  # probes with a reply or an error: the run ends when all are
        self.highest = -1
        self.dups = 0
        self.reordered = 0
        self.late = 0
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = False
        self.finished = False

    def result(self) -> IcmpResult:
        sent = len(self.tx_ns)
        rtts_s = [None if r is None else r / 1e9 for r in self.rtt_ns[:sent]]
        rtts = [r for r in rtts_s if r is not None]
        ordered = sorted(rtts)
        failure: FailureReason | None = None
        if not rtts:
            counts = collections.Counter(self.errors)
            failure = counts.most_common(1)[0][0] if counts else FailureReason.TIMEOUT
        return IcmpResult(
            target=self.target,
            module=self.module.name,
            sent=sent,
            received=len(rtts),
            duplicates=self.dups,
            reordered=self.reordered,
            late=self.late,
            rtt_min_s=ordered[0] if ordered else None,
            rtt_p50_s=percentile(ordered, 0.5) if ordered else None,
            rtt_p95_s=percentile(ordered, 0.95) if ordered else None,
            rtt_max_s=ordered[-1] if ordered else None,
            jitter_ipdv_s=ipdv_mean(rtts),
            jitter_rfc3550_s=rfc3550_jitter(rtts),
            loss_ratio=(sent - len(rtts)) / sent if sent else None,
            errors=tuple(self.errors),
            failure=failure,
            rtts_s=tuple(rtts_s),
        )


def _failed(target: str, module: Module, reason: FailureReason) -> IcmpResult:
    return IcmpResult(
        target, module.name, 0, 0, 0, 0, 0, None, None, None, None, None, None, None,
        failure=reason,
    )  # fmt: skip


class IcmpEngine:
    """Probe many targets over one ICMP socket.

    `max_targets` bounds the targets in flight (the rest queue); `min_interval_s` is the
    least mean time between any two sends (fping's -i), 0.1 ms: at most 10,000 echoes/s
    leave the NOC, whatever the number of targets; 0 sends as fast as spacing allows.
    """

    def __init__(
        self,
        *,
        socket_kind: SocketKind = SocketKind.AUTO,
        max_targets: int = 4096,
        min_interval_s: float = 1e-4,
        rcvbuf_bytes: int = 8 << 20,
    ) -> None:
        if max_targets < 1 or min_interval_s < 0:
            raise ProbeSetupError("max_targets must be >= 1 and min_interval_s >= 0")
        self._want = socket_kind
        self._max_targets = max_targets
        self._min_interval = min_interval_s
        self._rcvbuf = rcvbuf_bytes
        self._sock: socket.socket | None = None
        self._kind = socket_kind
        self._ident = 0
        self._cookie = os.urandom(8)
        self._next_seq = int.from_bytes(os.urandom(2), "big")
        self._shapes: dict[tuple[int, int], _Shape] = {}
        self._pending: dict[int, tuple[_Run, int]] = {}
        self._waiting: collections.deque[_Run] = collections.deque()
        self._heap: list[tuple[float, int, _Run]] = []
        self._order = 0
        self._active = 0
        self._active_probes = 0
        self._runs: set[_Run] = set()
        self._pump_at: float | None = None
        self._pump_handle: asyncio.Handle | None = None
        self._next_send = 0.0
        self._tos = -1
        self._bufsize = 4096
        self._counters = EngineStats()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle

    async def __aenter__(self) -> IcmpEngine:
        self._loop = asyncio.get_running_loop()
        sock, self._kind = self._open()
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            try:  # as root, beyond rmem_max: a burst of replies must not overflow the queue
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, self._rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            if self._kind is SocketKind.DGRAM:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
                sock.bind(("0.0.0.0", 0))
                self._ident = sock.getsockname()[1]  # the kernel rewrites the id to this
            else:
                self._ident = int.from_bytes(os.urandom(2), "big") or 1
        except OSError as exc:
            sock.close()
            raise ProbeSetupError(f"cannot set up the ICMP socket: {exc.strerror}") from exc
        self._sock = sock
        self._shapes.clear()  # templates carry the identifier
        self._loop.add_reader(sock.fileno(), self._on_readable)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for run in list(self._runs):
            self._finish(run)
        if self._pump_handle is not None:
            self._pump_handle.cancel()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None

    def _open(self) -> tuple[socket.socket, SocketKind]:
        tried = []
        if self._want in (SocketKind.AUTO, SocketKind.DGRAM):
            try:
                return socket.socket(
                    socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP
                ), SocketKind.DGRAM
            except OSError as exc:
                tried.append(f"ICMP datagram socket: {exc.strerror} (net.ipv4.ping_group_range)")
        if self._want in (SocketKind.AUTO, SocketKind.RAW):
            try:
                return socket.socket(
                    socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP
                ), SocketKind.RAW
            except OSError as exc:
                tried.append(f"raw ICMP socket: {exc.strerror} (needs CAP_NET_RAW)")
        raise ProbeSetupError("cannot open an ICMP socket: " + "; ".join(tried))

    @property
    def socket_kind(self) -> SocketKind:
        return self._kind

    @property
    def ident(self) -> int:
        """The ICMP identifier every echo of this engine carries."""
        return self._ident

    @property
    def stats(self) -> EngineStats:
        return dataclasses.replace(self._counters)

    # -- public probing

    async def probe(self, target: str, module: Module) -> IcmpResult:
        """Probe one IPv4 address; never raises for the target's own failure."""
        return (await self.probe_many([target], module))[target]

    async def probe_many(self, targets: Sequence[str], module: Module) -> dict[str, IcmpResult]:
        """Probe each distinct target once with `module`, interleaved; results by target."""
        check_module(module)
        if self._sock is None or self._loop is None:
            raise ProbeSetupError("IcmpEngine used outside 'async with'")
        loop = self._loop
        results: dict[str, IcmpResult] = {}
        unique = list(dict.fromkeys(targets))
        done = loop.create_future()
        runs: list[_Run] = []

        def on_done(result: IcmpResult) -> None:
            results[result.target] = result
            if len(results) == len(unique) and not done.done():
                done.set_result(None)

        shape = self._shape(module)
        self._bufsize = max(self._bufsize, module.size_bytes + 512)
        for target in unique:
            try:  # strict dotted quad, in C: a national target list is parsed every cycle
                packed = socket.inet_pton(socket.AF_INET, target)
            except OSError:
                on_done(_failed(target, module, FailureReason.ERROR))
                continue
            run = _Run(target, socket.inet_ntoa(packed), module, shape, on_done)
            runs.append(run)
            self._runs.add(run)
            self._waiting.append(run)
        if len(results) == len(unique):
            return results
        self._schedule_pump(loop.time())
        try:
            async with asyncio.timeout(self._guard_s(module)):
                await done
        except TimeoutError:
            pass  # only a bug gets here; the runs still end below with what they measured
        finally:  # on cancellation too: no run of ours stays in the schedule
            for run in runs:
                if not run.finished:
                    self._finish(run)
        return results

    # -- internals

    def _guard_s(self, module: Module) -> float:
        """A bound that only a bug can reach: every queued probe sent, plus slack."""
        queued = (len(self._waiting) + self._active) * module.count
        per_packet = max(self._min_interval, 20e-6)
        batches = math.ceil((len(self._waiting) + self._active) / self._capacity(module))
        once = module.count * module.spacing_s + module.timeout_s
        return 2 * (queued * per_packet + batches * once) + 10.0

    def _capacity(self, module: Module) -> int:
        return max(1, min(self._max_targets, _MAX_SEQ_IN_FLIGHT // module.count))

    def _shape(self, module: Module) -> _Shape:
        key = (module.size_bytes, module.dscp)
        if key not in self._shapes:
            self._shapes[key] = _Shape(module, self._ident, self._cookie)
        return self._shapes[key]

    def _schedule_pump(self, when: float) -> None:
        assert self._loop is not None
        if self._pump_at is not None and self._pump_at <= when:
            return
        if self._pump_handle is not None:
            self._pump_handle.cancel()
        self._pump_at = when
        self._pump_handle = self._loop.call_at(when, self._pump)

    def _pump(self) -> None:
        """Admit queued targets, send every probe that is due (bounded batch), re-arm."""
        loop = self._loop
        assert loop is not None
        self._pump_at = None
        self._pump_handle = None
        heap = self._heap
        now = loop.time()
        while self._waiting:
            run = self._waiting[0]
            if self._active >= self._capacity(run.module) or (
                self._active_probes + run.count > _MAX_SEQ_IN_FLIGHT
            ):
                break
            self._waiting.popleft()
            run.admitted = True
            self._active += 1
            self._active_probes += run.count
            self._order += 1
            heapq.heappush(heap, (now, self._order, run))
        budget = _SEND_BUDGET
        interval = self._min_interval
        next_send = self._next_send
        send, heapreplace, monotonic = self._send, heapq.heapreplace, time.monotonic
        while heap and budget:
            due, order, run = heap[0]
            if due > now or (interval and next_send > now):
                break
            if run.finished:  # ended early (cancelled): its entry is dropped lazily here
                heapq.heappop(heap)
                continue
            if not send(run):  # socket buffer full: retry this one shortly, keep its place
                heapreplace(heap, (now + 0.001, order, run))
                break
            budget -= 1
            if interval:  # up to 2 ms of credit: the loop's timers tick in ms
                next_send = max(next_send, now - 0.002) + interval
            if len(run.tx_ns) < run.count:  # one sift instead of pop + push
                heapreplace(heap, (now + run.spacing_s, order, run))
            else:
                heapq.heappop(heap)
                self._arm_deadline(run, now)
            now = monotonic()  # what loop.time() reads, without the method call
        self._next_send = next_send
        if not heap:
            return
        # Paced, wake a tick after the credit runs out, not at the next 0.1 ms: epoll
        # sleeps in whole ms anyway, and each wake then sends a batch instead of 1-2 probes.
        when = max(heap[0][0], next_send + _PACE_TICK_S if interval else 0.0)
        self._schedule_pump(loop.time() if budget == 0 else when)

    def _send(self, run: _Run) -> bool:
        """Send the run's next probe; False when the socket buffer is full."""
        sock = self._sock
        assert sock is not None
        shape = run.shape
        seq = self._next_seq
        pending = self._pending
        while seq in pending:
            seq = (seq + 1) & 0xFFFF
        if shape.tos != self._tos:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, shape.tos)
            self._tos = shape.tos
        _HDR.pack_into(shape.buf, 2, echo_checksum(shape.base_sum, seq), self._ident, seq)
        index = len(run.tx_ns)
        tx = _time_ns()
        try:
            try:
                sock.sendto(shape.buf, run.sockaddr)
            except OSError as exc:
                # A ping socket reports another target's ICMP error on the next send and
                # drops that packet; the error was read (and cleared), so send again.
                if self._kind is not SocketKind.DGRAM or isinstance(exc, BlockingIOError):
                    raise
                tx = _time_ns()
                sock.sendto(shape.buf, run.sockaddr)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._counters.send_errors += 1
            run.errors.append(_SEND_ERRNO_REASON.get(exc.errno or 0, FailureReason.ERROR))
            run.answered += 1
        else:
            self._counters.sent += 1
            pending[seq] = (run, index)
        self._next_seq = (seq + 1) & 0xFFFF
        run.tx_ns.append(tx)
        run.seqs.append(seq)
        return True

    def _arm_deadline(self, run: _Run, now: float) -> None:
        assert self._loop is not None
        if run.answered >= run.count:
            self._finish(run)
        else:
            run.timer = self._loop.call_at(now + run.module.timeout_s, self._expire, run)

    def _expire(self, run: _Run) -> None:
        self._on_readable()  # replies already queued in the kernel still count
        if not run.finished:
            self._finish(run)

    def _finish(self, run: _Run) -> None:
        run.finished = True
        self._runs.discard(run)
        if run.timer is not None:
            run.timer.cancel()
        pending = self._pending
        for index, seq in enumerate(run.seqs):
            slot = pending.get(seq)
            if slot is not None and slot[0] is run and slot[1] == index:
                del pending[seq]
        if run.admitted:  # release its place; a heap entry left behind is skipped later
            self._active -= 1
            self._active_probes -= run.count
            if self._waiting and self._loop is not None:
                self._schedule_pump(self._loop.time())
        else:
            self._waiting.remove(run)
        run.on_done(run.result())

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        raw = self._kind is SocketKind.RAW
        bufsize = self._bufsize
        counters = self._counters
        recvmsg, ours, on_reply = sock.recvmsg, self._ident, self._on_reply
        for _ in range(_READ_BUDGET):
            try:
                data, anc, flags, addr = recvmsg(bufsize, 64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # a ping socket reports an ICMP error here; details follow
                break
            if anc and anc[0][1] == _SO_TIMESTAMPNS:  # the only ancillary data we ask for
                sec, nsec = _TIMESPEC.unpack_from(anc[0][2])
                rx = sec * 1_000_000_000 + nsec
            else:
                rx = _time_ns()
            kind, ident, seq, extra = parse_icmp(data, raw)
            if flags & _MSG_TRUNC or kind == MALFORMED:
                counters.malformed += 1
            elif ident != ours and kind in _MATCHED_KINDS:
                counters.not_ours += 1
            elif kind == _ICMP_ECHO_REPLY:
                on_reply(seq, extra, addr[0], rx)
            elif kind in _ERROR_REASON:
                self._match_error(socket.inet_ntoa(extra), seq, _ERROR_REASON[kind])
            elif kind == _ICMP_ECHO:
                counters.echo_requests += 1
            else:
                counters.other_icmp += 1
        if not raw:
            self._drain_errors(sock)

    def _claim(self, seq: int, addr: str) -> tuple[_Run, int] | None:
        """The pending probe a reply or error answers, if it is about that probe's target."""
        slot = self._pending.get(seq)
        if slot is None:
            self._counters.unmatched += 1
            return None
        if slot[0].addr != addr:
            self._counters.ignored_wrong_source += 1
            return None
        return slot

    def _on_reply(self, seq: int, payload: bytes, src: str, rx: int) -> None:
        counters = self._counters
        slot = self._claim(seq, src)
        if slot is None:
            return
        run, index = slot
        if payload != run.shape.payload:
            counters.malformed += 1
            return
        counters.replies += 1
        if run.rtt_ns[index] is not None:
            run.dups += 1
            return
        rtt = rx - run.tx_ns[index]
        if rtt > run.timeout_ns or rtt < 0:  # < 0 only if the wall clock stepped back
            run.late += 1
            return
        run.rtt_ns[index] = rtt
        if index < run.highest:
            run.reordered += 1
        else:
            run.highest = index
        run.answered += 1
        self._maybe_done(run)

    def _match_error(self, dst: str, seq: int, reason: FailureReason) -> None:
        counters = self._counters
        slot = self._claim(seq, dst)
        if slot is None:
            return
        run, index = slot
        counters.icmp_errors += 1
        run.errors.append(reason)
        if run.rtt_ns[index] is None:
            run.answered += 1
            self._maybe_done(run)

    def _drain_errors(self, sock: socket.socket) -> None:
        """Ping sockets queue ICMP errors apart (IP_RECVERR): our echo plus who refused it."""
        for _ in range(_READ_BUDGET):
            try:
                data, anc, _flags, addr = sock.recvmsg(ICMP_HEADER_BYTES, 512, socket.MSG_ERRQUEUE)
            except OSError:  # EAGAIN: the queue is empty
                return
            for level, kind, cdata in anc:
                if level != socket.IPPROTO_IP or kind != _IP_RECVERR or len(cdata) < 16:
                    continue
                _errno, origin, icmp_type, _code, _pad, _info, _data = _EXT_ERR.unpack_from(cdata)
                reason = _ERROR_REASON.get(icmp_type)
                if origin != _SO_EE_ORIGIN_ICMP or reason is None or len(data) < 8:
                    self._counters.other_icmp += 1
                    continue
                seq = _ID_SEQ.unpack_from(data, 4)[1]
                self._match_error(addr[0], seq, reason)

    def _maybe_done(self, run: _Run) -> None:
        if run.answered >= run.count and len(run.tx_ns) == run.count:
            self._finish(run)
