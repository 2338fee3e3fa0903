"""Counter and rate rules of vcmon.probers.counters, with literal numbers (no agent, no I/O)."""

from __future__ import annotations

import pytest

from vcmon.model import (
    Device,
    Direction,
    FailureReason,
    Interface,
    InterfaceMatch,
    Link,
    LinkRole,
    Medium,
)
from vcmon.probers.counters import (
    InterfaceSample,
    RateTracker,
    SnmpResult,
    counter_delta,
    link_rates,
    uptime_consistent,
)

# customer end "522", upstream "51"; contract 10 Mb/s up, 40 Mb/s down on a 100 Mb/s port
LINK = Link("522-51", "522", "51", Medium.FIBRE, 10e6, 40e6, None, LinkRole.PRIMARY)
NO_CONTRACT = Link("522-51", "522", "51", Medium.FIBRE, 0.0, 0.0, None, LinkRole.PRIMARY)
CPE = Device("r-522", "522", "198.18.1.1", (), None,
             (Interface("522-51", InterfaceMatch.IFNAME, "wan0"),))  # fmt: skip
HUB = Device("r-51", "51", "198.18.0.1", (), None,
             (Interface("522-51", InterfaceMatch.IFNAME, "ge-0/0/1"),))  # fmt: skip


def sample(
    in_octets: int | None,
    out_octets: int | None,
    *,
    hc: bool = True,
    index: int = 3,
    speed: float | None = 100e6,
    discontinuity: float | None = 0.0,
    errors: int = 0,
) -> InterfaceSample:
    return InterfaceSample("522-51", index, in_octets, out_octets, hc, speed, True, errors, 0,
                           discontinuity)  # fmt: skip


def result(t: float, uptime: float | None, *samples: InterfaceSample,
           failure: FailureReason | None = None) -> SnmpResult:  # fmt: skip
    return SnmpResult("r-522", 1.7e9 + t, t, 0.01, uptime, samples, failure=failure)


def test_counter32_wrap_is_added_back_once() -> None:
    assert counter_delta(4_294_967_000, 704, hc=False) == 1000


def test_counter64_going_backwards_is_a_discontinuity_not_a_wrap() -> None:
    assert counter_delta(5_000, 4_000, hc=True) is None


def test_uptime_must_advance_by_about_the_wall_interval() -> None:
    assert uptime_consistent(1000.0, 1059.0, 60.0)
    assert not uptime_consistent(1000.0, 1030.0, 60.0)  # 30 s missing: restarted, re-seed
    assert not uptime_consistent(1000.0, 20.0, 60.0)  # agent rebooted 20 s ago
    assert uptime_consistent(42_949_672.0, 55.04, 60.0)  # TimeTicks wrap after 497 days


def test_rates_are_bits_per_second_in_link_directions_from_the_customer_end() -> None:
    prev, cur = sample(0, 0), sample(1_500_000, 750_000)
    rates = link_rates(prev, cur, 60.0, link=LINK, out_direction=Direction.UP, measured_at=1.0)
    assert rates.used_up_bps == 100_000.0  # 750,000 B out x 8 / 60 s
    assert rates.used_down_bps == 200_000.0
    assert rates.utilisation(Direction.UP) == pytest.approx(0.01)
    assert rates.spare_bps(Direction.DOWN) == 39_800_000.0


def test_on_the_upstream_end_out_is_the_link_down_direction() -> None:
    tracker = RateTracker({LINK.id: LINK})
    tracker.update(HUB, result(0.0, 500.0, sample(0, 0)))
    rates = tracker.update(HUB, result(10.0, 510.0, sample(125_000, 250_000)))[LINK.id]
    assert rates.used_down_bps == 200_000.0 and rates.used_up_bps == 100_000.0


def test_capacity_falls_back_to_port_speed_without_a_contract() -> None:
    rates = link_rates(sample(0, 0), sample(0, 0), 10.0, link=NO_CONTRACT,
                       out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.capacity_up_bps == rates.capacity_down_bps == 100e6


def test_counter32_wrap_gives_the_true_rate_where_hc_is_absent() -> None:
    prev = sample(4_294_000_000, 0, hc=False)
    cur = sample(32_704, 0, hc=False)  # wrapped: 967,296 + 32,704 = 1,000,000 bytes
    rates = link_rates(prev, cur, 10.0, link=LINK, out_direction=Direction.UP, measured_at=1.0)
    assert rates.used_down_bps == 800_000.0 and rates.failure is None


def test_delta_faster_than_the_port_is_discarded() -> None:
    # 200 MB in 10 s is 160 Mb/s on a 100 Mb/s port: a counter fault, not traffic
    rates = link_rates(sample(0, 0), sample(200_000_000, 0), 10.0, link=LINK,
                       out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.used_down_bps is None and rates.used_up_bps is None
    assert rates.failure is FailureReason.COUNTER_DISCONTINUITY


def test_a_wrapped_counter32_that_implies_over_speed_is_discarded() -> None:
    # a Counter32 'going backwards' by a little is a reset, and the wrap would claim ~3.4 Gb/s
    rates = link_rates(sample(1_000_000, 0, hc=False), sample(10, 0, hc=False), 10.0,
                       link=LINK, out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.used_down_bps is None
    assert rates.failure is FailureReason.COUNTER_DISCONTINUITY


def test_changed_discontinuity_time_reseeds_even_when_counters_look_sane() -> None:
    rates = link_rates(sample(0, 0, discontinuity=0.0), sample(1000, 1000, discontinuity=512.3),
                       10.0, link=LINK, out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.used_up_bps is None and rates.failure is FailureReason.COUNTER_DISCONTINUITY


def test_changed_if_index_reseeds() -> None:
    rates = link_rates(sample(0, 0, index=3), sample(1000, 1000, index=7), 10.0, link=LINK,
                       out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.failure is FailureReason.COUNTER_DISCONTINUITY


def test_device_reboot_reseeds_instead_of_reporting_a_wrap_or_negative_rate() -> None:
    tracker = RateTracker({LINK.id: LINK})
    tracker.update(CPE, result(0.0, 86_400.0, sample(9_000_000_000, 9_000_000_000)))
    rebooted = tracker.update(CPE, result(60.0, 45.0, sample(1_000, 2_000)))[LINK.id]
    assert rebooted.failure is FailureReason.AGENT_RESTARTED
    assert rebooted.used_up_bps is None and rebooted.used_down_bps is None
    after = tracker.update(CPE, result(120.0, 105.0, sample(751_000, 377_000)))[LINK.id]
    assert after.used_down_bps == 100_000.0 and after.used_up_bps == 50_000.0


def test_a_timeout_keeps_the_seed_so_the_next_poll_has_a_rate() -> None:
    tracker = RateTracker({LINK.id: LINK})
    tracker.update(CPE, result(0.0, 100.0, sample(0, 0)))
    lost = tracker.update(CPE, result(60.0, None, failure=FailureReason.TIMEOUT))[LINK.id]
    assert lost.failure is FailureReason.TIMEOUT and lost.used_up_bps is None
    back = tracker.update(CPE, result(120.0, 220.0, sample(1_500_000, 0)))[LINK.id]
    assert back.used_down_bps == 100_000.0  # over the whole 120 s


def test_missing_interface_and_missing_octets_carry_reasons() -> None:
    tracker = RateTracker({LINK.id: LINK})
    gone = tracker.update(CPE, result(0.0, 100.0))[LINK.id]
    assert gone.failure is FailureReason.NO_SUCH_INTERFACE
    bad = tracker.update(CPE, result(10.0, 110.0, sample(None, None)))[LINK.id]
    assert bad.failure is FailureReason.BAD_RESPONSE


def test_error_and_discard_counters_become_per_second_rates() -> None:
    rates = link_rates(sample(0, 0, errors=10), sample(0, 0, errors=40), 60.0, link=LINK,
                       out_direction=Direction.UP, measured_at=1.0)  # fmt: skip
    assert rates.in_errors_per_s == 0.5 and rates.out_discards_per_s == 0.0


def test_measurement_carries_reason_as_plain_string() -> None:
    tracker = RateTracker({LINK.id: LINK})
    tracker.update(CPE, result(0.0, 100.0, sample(0, 0)))
    m = tracker.update(CPE, result(60.0, 5.0, sample(0, 0)))[LINK.id].to_measurement()
    assert m.failure == "agent_restarted" and m.used_up_bps is None
    assert (m.capacity_up_bps, m.capacity_down_bps) == (10e6, 40e6)


def test_slow_polls_widen_the_uptime_tolerance_by_their_duration() -> None:
    # 3 s off on a 10 s interval: a restart for quick polls, not for polls that took 1.5 s each
    assert not uptime_consistent(100.0, 107.0, 10.0)
    assert uptime_consistent(100.0, 107.0, 10.0, slack_s=3.0)
