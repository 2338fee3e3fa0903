"""What the SNMP engine measures, and the pure logic that turns two samples into link rates.

No I/O and no pysnmp here, so every rule (wrap, reboot, discontinuity, over-speed) is tested
with literal numbers. A rate exists only between two samples of the same interface when the
agent's sysUpTime advanced by about the wall-clock interval and ifCounterDiscontinuityTime
did not change; anything else re-seeds: a reboot is not a counter wrap (DOMAIN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vcmon.model import Device, Direction, FailureReason, Link, LinkMeasurement

COUNTER32_MODULUS = 2**32
TIMETICKS_MODULUS_S = 2**32 / 100
"""sysUpTime is a TimeTicks (1/100 s) that wraps after ~497 days."""

UPTIME_TOLERANCE_S = 2.0
UPTIME_TOLERANCE_RATIO = 0.1
"""sysUpTime may differ from wall time by request latency and agent scheduling, not more."""

OVERSPEED_TOLERANCE = 1.05
"""A delta above port speed by more than timing error is a counter fault, not traffic."""


@dataclass(frozen=True, slots=True)
class InterfaceSample:
    """One interface's IF-MIB counters at one poll; None where the agent had no value."""

    link: str
    if_index: int
    in_octets: int | None
    out_octets: int | None
    hc: bool
    """True when octets come from ifHCIn/OutOctets (64-bit); False for the Counter32 fallback."""
    speed_bps: float | None
    """ifHighSpeed converted to bits/s; None when the agent reports 0 or nothing."""
    oper_up: bool | None
    in_errors: int | None
    out_discards: int | None
    discontinuity_s: float | None
    """ifCounterDiscontinuityTime in seconds of sysUpTime (0 = none since agent start)."""


@dataclass(frozen=True, slots=True)
class SnmpResult:
    """One poll of one device. `failure` set means no (or partial) numbers, never an exception."""

    device: str
    measured_at: float
    """Unix time of the response, seconds."""
    monotonic_s: float
    """time.monotonic() of the response: intervals between polls use this clock."""
    duration_s: float
    sys_uptime_s: float | None
    samples: tuple[InterfaceSample, ...] = ()
    missing: tuple[str, ...] = ()
    """Links whose interface the agent does not have (reason NO_SUCH_INTERFACE)."""
    failure: FailureReason | None = None
    requests: int = 0

    def sample(self, link: str) -> InterfaceSample | None:
        return next((s for s in self.samples if s.link == link), None)


@dataclass(frozen=True, slots=True)
class LinkRates:
    """Usage of one link from two consecutive samples, in the link's up/down directions."""

    link: str
    measured_at: float
    used_up_bps: float | None
    used_down_bps: float | None
    capacity_up_bps: float
    capacity_down_bps: float
    oper_up: bool | None
    in_errors_per_s: float | None = None
    out_discards_per_s: float | None = None
    failure: FailureReason | None = None
    """Why there is no rate: the first sample only seeds (failure None, rates None)."""

    def utilisation(self, direction: Direction) -> float | None:
        return self.to_measurement().utilisation(direction)

    def spare_bps(self, direction: Direction) -> float | None:
        return self.to_measurement().spare_bps(direction)

    def to_measurement(self) -> LinkMeasurement:
        return LinkMeasurement(
            link=self.link,
            measured_at=self.measured_at,
            used_up_bps=self.used_up_bps,
            used_down_bps=self.used_down_bps,
            capacity_up_bps=self.capacity_up_bps,
            capacity_down_bps=self.capacity_down_bps,
            oper_up=self.oper_up,
            failure=None if self.failure is None else str(self.failure),
        )


def counter_delta(prev: int, cur: int, *, hc: bool) -> int | None:
    """Increase of a counter between two reads, or None if it went backwards.

    Only a Counter32 may wrap (once); a Counter64 never wraps in practice, so a decrease
    there is a discontinuity.

    >>> counter_delta(100, 250, hc=True), counter_delta(2**32 - 10, 5, hc=False)
    (150, 15)
    >>> counter_delta(250, 100, hc=True) is None
    True
    """
    if cur >= prev:
        return cur - prev
    return None if hc else cur + COUNTER32_MODULUS - prev


def uptime_consistent(
    prev_uptime_s: float, cur_uptime_s: float, elapsed_s: float, slack_s: float = 0.0
) -> bool:
    """True if sysUpTime advanced by about the wall-clock interval (no agent restart).

    `slack_s` widens the tolerance by how long the two polls took: the agent read its clock
    somewhere inside each poll, not at the moment the reply arrived.

    >>> uptime_consistent(1000.0, 1060.2, 60.0), uptime_consistent(1000.0, 12.0, 60.0)
    (True, False)
    >>> uptime_consistent(TIMETICKS_MODULUS_S - 30, 30.0, 60.0)  # TimeTicks wrap, not reboot
    True
    """
    advanced = cur_uptime_s - prev_uptime_s
    if advanced < 0:
        advanced += TIMETICKS_MODULUS_S
    tolerance = max(UPTIME_TOLERANCE_S, UPTIME_TOLERANCE_RATIO * elapsed_s) + slack_s
    return abs(advanced - elapsed_s) <= tolerance


def direction_of_out(device: Device, link: Link) -> Direction:
    """Direction that the device's ifOut counts carry on the link.

    On the link's `site` end (the customer), out is UP; on the `to` end, out is DOWN.
    """
    return Direction.DOWN if device.site == link.to and device.site != link.site else Direction.UP


def link_rates(
    prev: InterfaceSample,
    cur: InterfaceSample,
    elapsed_s: float,
    *,
    link: Link,
    out_direction: Direction,
    measured_at: float,
) -> LinkRates:
    """Rates over `elapsed_s` between two samples of one interface already known comparable.

    The caller has checked sysUpTime; this checks the interface itself (same ifIndex,
    unchanged discontinuity time, counters that went forward no faster than the port).

    >>> from vcmon.model import LinkRole, Medium
    >>> lk = Link("l1", "522", "51", Medium.FIBRE, 10e6, 20e6, None, LinkRole.PRIMARY)
    >>> a = InterfaceSample("l1", 3, 0, 0, True, 100e6, True, 0, 0, 0.0)
    >>> b = InterfaceSample("l1", 3, 750_000, 1_500_000, True, 100e6, True, 0, 0, 0.0)
    >>> r = link_rates(a, b, 10.0, link=lk, out_direction=Direction.UP, measured_at=0.0)
    >>> r.used_up_bps, r.used_down_bps, r.utilisation(Direction.UP)
    (1200000.0, 600000.0, 0.12)
    """
    cap_up, cap_down = _capacities(link, cur.speed_bps)

    def without_rate(reason: FailureReason) -> LinkRates:
        return LinkRates(link.id, measured_at, None, None, cap_up, cap_down, cur.oper_up, None,
                         None, reason)  # fmt: skip

    if prev.if_index != cur.if_index or prev.hc != cur.hc or elapsed_s <= 0:
        return without_rate(FailureReason.COUNTER_DISCONTINUITY)
    if prev.discontinuity_s != cur.discontinuity_s:
        return without_rate(FailureReason.COUNTER_DISCONTINUITY)
    bps: list[float | None] = []
    for before, after in ((prev.in_octets, cur.in_octets), (prev.out_octets, cur.out_octets)):
        if before is None or after is None:
            bps.append(None)
            continue
        delta = counter_delta(before, after, hc=cur.hc)
        if delta is None:
            return without_rate(FailureReason.COUNTER_DISCONTINUITY)
        bps.append(delta * 8 / elapsed_s)
    in_bps, out_bps = bps
    speed = cur.speed_bps
    if speed and any(r is not None and r > speed * OVERSPEED_TOLERANCE for r in (in_bps, out_bps)):
        return without_rate(FailureReason.COUNTER_DISCONTINUITY)
    up, down = (out_bps, in_bps) if out_direction is Direction.UP else (in_bps, out_bps)
    return LinkRates(
        link=link.id,
        measured_at=measured_at,
        used_up_bps=up,
        used_down_bps=down,
        capacity_up_bps=cap_up,
        capacity_down_bps=cap_down,
        oper_up=cur.oper_up,
        in_errors_per_s=_per_s(prev.in_errors, cur.in_errors, elapsed_s),
        out_discards_per_s=_per_s(prev.out_discards, cur.out_discards, elapsed_s),
    )


def _per_s(prev: int | None, cur: int | None, elapsed_s: float) -> float | None:
    if prev is None or cur is None:
        return None
    delta = counter_delta(prev, cur, hc=False)  # error counters are Counter32
    return None if delta is None else delta / elapsed_s


def _capacities(link: Link, speed_bps: float | None) -> tuple[float, float]:
    """Contracted rate where the inventory gives one, else the port speed (DOMAIN.md)."""
    port = speed_bps or 0.0
    return (link.up_bps if link.up_bps > 0 else port, link.down_bps if link.down_bps > 0 else port)


class RateTracker:
    """Keeps the last sample per (device, link) and turns each new poll into link rates.

    >>> from vcmon.model import Interface, InterfaceMatch, LinkRole, Medium
    >>> lk = Link("l1", "522", "51", Medium.FIBRE, 10e6, 10e6, None, LinkRole.PRIMARY)
    >>> eth0 = Interface("l1", InterfaceMatch.IFNAME, "eth0")
    >>> dev = Device("r-522", "522", "198.18.1.1", (), None, (eth0,))
    >>> def poll(t, uptime, octets):
    ...     s = InterfaceSample("l1", 3, octets, octets, True, 100e6, True, 0, 0, 0.0)
    ...     return SnmpResult("r-522", t, t, 0.01, uptime, (s,))
    >>> tr = RateTracker({"l1": lk})
    >>> tr.update(dev, poll(100.0, 5000.0, 0))["l1"].used_up_bps is None  # first poll seeds
    True
    >>> tr.update(dev, poll(160.0, 5060.0, 3_750_000))["l1"].used_up_bps
    500000.0
    >>> tr.update(dev, poll(220.0, 30.0, 100))["l1"].failure  # agent restarted: re-seed
    <FailureReason.AGENT_RESTARTED: 'agent_restarted'>
    """

    def __init__(self, links: Mapping[str, Link]) -> None:
        self._links = links
        self._last: dict[tuple[str, str], tuple[SnmpResult, InterfaceSample]] = {}

    def forget(self, device: str) -> None:
        """Drop a device's history (it left the inventory)."""
        for key in [k for k in self._last if k[0] == device]:
            del self._last[key]

    def update(self, device: Device, result: SnmpResult) -> dict[str, LinkRates]:
        """Rates for every inventory link of the device; failures carry a reason."""
        rates: dict[str, LinkRates] = {}
        for iface in device.interfaces:
            link = self._links.get(iface.link)
            if link is None:
                continue
            rates[link.id] = self._one(device, link, result)
        return rates

    def _one(self, device: Device, link: Link, result: SnmpResult) -> LinkRates:
        key = (device.name, link.id)
        cur = result.sample(link.id)
        if result.failure is not None or cur is None or result.sys_uptime_s is None:
            reason = result.failure or FailureReason.NO_SUCH_INTERFACE
            cap_up, cap_down = _capacities(link, None)
            # keep the seed: one missed poll (timeout) must not cost the next rate
            return LinkRates(link.id, result.measured_at, None, None, cap_up, cap_down, None,
                             failure=reason)  # fmt: skip
        if cur.in_octets is None and cur.out_octets is None:
            cap_up, cap_down = _capacities(link, cur.speed_bps)
            return LinkRates(link.id, result.measured_at, None, None, cap_up, cap_down,
                             cur.oper_up, failure=FailureReason.BAD_RESPONSE)  # fmt: skip
        previous = self._last.get(key)
        self._last[key] = (result, cur)
        out_dir = direction_of_out(device, link)
        if previous is None:
            cap_up, cap_down = _capacities(link, cur.speed_bps)
            return LinkRates(link.id, result.measured_at, None, None, cap_up, cap_down,
                             cur.oper_up)  # fmt: skip
        prev_result, prev = previous
        elapsed = result.monotonic_s - prev_result.monotonic_s
        assert prev_result.sys_uptime_s is not None  # stored only with an uptime
        slack = prev_result.duration_s + result.duration_s
        if not uptime_consistent(prev_result.sys_uptime_s, result.sys_uptime_s, elapsed, slack):
            cap_up, cap_down = _capacities(link, cur.speed_bps)
            return LinkRates(link.id, result.measured_at, None, None, cap_up, cap_down,
                             cur.oper_up, failure=FailureReason.AGENT_RESTARTED)  # fmt: skip
        return link_rates(
            prev, cur, elapsed, link=link, out_direction=out_dir, measured_at=result.measured_at
        )
