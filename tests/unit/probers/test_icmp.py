"""Pure parts of the ICMP prober: statistics, jitter, packet building and parsing."""

from __future__ import annotations

import asyncio
import math
import socket
import statistics
import subprocess
import sys

import pytest
from scapy.layers.inet import ICMP, IP, ICMPerror, IPerror, UDPerror
from scapy.packet import Raw

from vcmon.errors import ProbeSetupError
from vcmon.model import FailureReason, Module, ProberKind
from vcmon.probers.icmp import (
    MALFORMED,
    OTHER_ICMP,
    IcmpEngine,
    IcmpResult,
    build_echo_template,
    check_module,
    echo_checksum,
    ipdv_mean,
    ones_complement_sum,
    parse_icmp,
    percentile,
    rfc3550_jitter,
    to_measurement,
)

COOKIE = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def icmp_module(**overrides: object) -> Module:
    fields: dict[str, object] = {
        "name": "icmp_test",
        "prober": ProberKind.ICMP,
        "interval_s": 60.0,
        "timeout_s": 1.0,
        "count": 5,
        "spacing_s": 0.02,
        "size_bytes": 1200,
        "dscp": 34,
    }
    fields.update(overrides)
    return Module(**fields)  # type: ignore[arg-type]


# --- statistics -------------------------------------------------------------------------


def test_percentile_matches_statistics_inclusive_quantiles() -> None:
    values = sorted([0.012, 0.031, 0.018, 0.025, 0.040, 0.011, 0.019, 0.027, 0.033, 0.022])
    cuts = statistics.quantiles(values, n=20, method="inclusive")  # 5 % steps
    assert percentile(values, 0.5) == pytest.approx(cuts[9])
    assert percentile(values, 0.95) == pytest.approx(cuts[18])
    assert percentile(values, 0.0) == values[0]
    assert percentile(values, 1.0) == values[-1]


def test_percentile_of_one_value_is_that_value_and_of_none_raises() -> None:
    assert percentile([0.042], 0.95) == 0.042
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_ipdv_mean_is_mean_absolute_difference_of_consecutive_rtts() -> None:
    rtts = [0.020, 0.025, 0.015, 0.030]  # |D| = 5, 10, 15 ms
    assert ipdv_mean(rtts) == pytest.approx(0.010)
    assert ipdv_mean([0.02, 0.02, 0.02]) == 0.0
    assert ipdv_mean([0.02]) is None


def test_rfc3550_jitter_converges_to_constant_difference_at_rate_one_sixteenth() -> None:
    rtts = [0.020 + 0.010 * (i % 2) for i in range(41)]  # |D| = 10 ms, 40 differences
    expected = 0.010 * (1 - (15 / 16) ** 40)
    assert rfc3550_jitter(rtts) == pytest.approx(expected)
    assert rfc3550_jitter(rtts[:1]) is None


# --- packet building --------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 29, 84, 1200, 1500])
def test_template_makes_ip_packet_of_module_size_with_cookie_payload(size: int) -> None:
    template = build_echo_template(size, 34, 0xBEEF, COOKIE)
    assert len(template) + 20 == size
    assert template[0] == 8 and template[1] == 0  # echo request, code 0
    assert template[4:6] == b"\xbe\xef"
    assert template[8:] == (COOKIE + bytes(range(256)) * 8)[: size - 28]


@pytest.mark.parametrize("seq", [0, 1, 0x00FF, 0x7FFF, 0xFFFE, 0xFFFF])
def test_patched_checksum_equals_scapy_checksum_for_every_sequence(seq: int) -> None:
    template = build_echo_template(1200, 0, 0x1234, COOKIE)
    base = ones_complement_sum(template)
    patched = bytearray(template)
    patched[2:4] = echo_checksum(base, seq).to_bytes(2, "big")
    patched[6:8] = seq.to_bytes(2, "big")
    reference = bytes(ICMP(type=8, id=0x1234, seq=seq) / Raw(template[8:]))
    assert patched[2:4] == reference[2:4]
    assert ones_complement_sum(bytes(patched)) in (0xFFFF, 0)  # verifies as receivers do


def test_template_build_freezes_the_heap_only_at_interpreter_exit() -> None:
    # atexit runs handlers last-registered first, so this one reports after the engine's.
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print(gc.get_freeze_count()))\n"
        "from vcmon.probers.icmp import build_echo_template\n"
        "build_echo_template(84, 0, 1, b'cookie!!')\n"
        "build_echo_template(1200, 34, 2, b'cookie!!')\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    while_running, tracked, at_exit = map(int, run.stdout.split())
    assert while_running == 0  # a running process keeps its normal collector
    # At exit every object (scapy's among them) is out of its reach; a few went since.
    assert at_exit >= 0.99 * tracked


# --- parsing ----------------------------------------------------------------------------


def test_parse_echo_reply_with_ip_header_gives_id_seq_payload() -> None:
    payload = COOKIE + b"x" * 40
    wire = bytes(IP(src="198.18.0.2", dst="198.18.0.1") / ICMP(type=0, id=77, seq=9) / payload)
    assert parse_icmp(wire, ip_header=True) == (0, 77, 9, payload)


def test_parse_handles_ip_options_by_header_length() -> None:
    ip = IP(src="198.18.0.2", dst="198.18.0.1", options=b"\x01\x01\x01\x00")  # 4 bytes NOP/EOL
    wire = bytes(ip / ICMP(type=0, id=5, seq=6) / b"abc")
    assert wire[0] & 0x0F == 6
    assert parse_icmp(wire, ip_header=True) == (0, 5, 6, b"abc")


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x45" + b"\0" * 10,  # shorter than an IP header
        bytes(IP(dst="198.18.0.1") / ICMP(type=0))[:24],  # ICMP header cut short
        b"\x65" + b"\0" * 40,  # IP version 6 on an IPv4 raw socket
    ],
)
def test_parse_truncated_or_non_ipv4_is_malformed(wire: bytes) -> None:
    assert parse_icmp(wire, ip_header=True)[0] == MALFORMED


@pytest.mark.parametrize(("icmp_type", "code"), [(3, 1), (3, 3), (11, 0)])
def test_parse_error_quoting_our_echo_gives_its_id_seq_and_destination(
    icmp_type: int, code: int
) -> None:
    quoted = IPerror(src="198.18.0.1", dst="198.19.5.7") / ICMPerror(type=8, id=4321, seq=65000)
    wire = bytes(IP(src="198.18.9.9", dst="198.18.0.1") / ICMP(type=icmp_type, code=code) / quoted)
    kind, ident, seq, dst = parse_icmp(wire, ip_header=True)
    assert (kind, ident, seq) == (icmp_type, 4321, 65000)
    assert dst == socket.inet_aton("198.19.5.7")


def test_parse_error_quoting_udp_is_other_icmp() -> None:
    quoted = IPerror(src="198.18.0.1", dst="198.19.5.7") / UDPerror(sport=5, dport=6)
    wire = bytes(IP(src="198.18.9.9", dst="198.18.0.1") / ICMP(type=3, code=3) / quoted)
    assert parse_icmp(wire, ip_header=True)[0] == OTHER_ICMP


def test_parse_echo_request_and_other_types_report_their_type() -> None:
    request = bytes(IP(dst="127.0.0.1") / ICMP(type=8, id=1, seq=2) / b"p")
    redirect = bytes(IP(dst="127.0.0.1") / ICMP(type=5, code=1))
    assert parse_icmp(request, ip_header=True)[0] == 8
    assert parse_icmp(redirect, ip_header=True)[0] == 5


def test_parse_ping_socket_reply_has_no_ip_header() -> None:
    wire = bytes(ICMP(type=0, id=40000, seq=3) / b"payload")
    assert parse_icmp(wire, ip_header=False) == (0, 40000, 3, b"payload")


# --- modules, results -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prober": ProberKind.SNMP}, "prober is 'snmp', not 'icmp'"),
        ({"count": 0}, "count 0 < 1"),
        ({"size_bytes": 27}, "size 27 not in 28..65527"),
        ({"dscp": 64}, "dscp 64 not in 0..63"),
        ({"spacing_s": -0.1}, "spacing -0.1 s is not a non-negative duration"),
        ({"timeout_s": 0.0}, "timeout 0.0 s is not a positive duration"),
        ({"timeout_s": math.inf}, "timeout inf s is not a positive duration"),
    ],
)
def test_bad_module_is_a_setup_error_naming_module_and_field(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ProbeSetupError) as info:
        check_module(icmp_module(**overrides))
    assert str(info.value) == f"module 'icmp_test': {message}"


def test_video_module_passes_module_check() -> None:
    check_module(icmp_module())


def test_to_measurement_carries_failure_as_its_string_value() -> None:
    result = IcmpResult(
        "198.18.0.9", "icmp_test", 5, 0, 0, 0, 0, None, None, None, None, None, None, 1.0,
        errors=(FailureReason.UNREACHABLE,) * 5, failure=FailureReason.UNREACHABLE,
    )  # fmt: skip
    measurement = to_measurement(result, 1_700_000_000.0)
    assert measurement.site == "198.18.0.9"
    assert measurement.failure == "unreachable"
    assert measurement.loss_ratio == 1.0
    assert measurement.rtt_p50_s is None and measurement.jitter_s is None


def test_engine_used_outside_async_with_is_a_setup_error() -> None:
    with pytest.raises(ProbeSetupError, match="outside 'async with'"):
        asyncio.run(IcmpEngine().probe("127.0.0.1", icmp_module()))


def test_engine_rejects_nonsense_limits() -> None:
    with pytest.raises(ProbeSetupError, match="max_targets"):
        IcmpEngine(max_targets=0)
