"""Responder pieces: loss patterns, delay draws, the echo reply bytes."""

from __future__ import annotations

import itertools
import random
import statistics
import struct

import pytest

from vcmon.lab.responder import LossGate, draw_delay, echo_reply
from vcmon.lab.scenario import Loss


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_pattern_drops_exactly_2_of_every_10_in_each_window() -> None:
    gate = LossGate(Loss(0.2, 2, 10), random.Random(0))
    drops = [gate.drop() for _ in range(1000)]
    assert all(sum(drops[i : i + 10]) == 2 for i in range(0, 1000, 10))


def test_random_loss_converges_to_its_ratio() -> None:
    gate = LossGate(Loss(0.05), random.Random(7))
    assert sum(gate.drop() for _ in range(20000)) / 20000 == pytest.approx(0.05, abs=0.005)


def test_jitter_draws_have_mean_delay_and_mean_ipdv_equal_to_jitter() -> None:
    rng = random.Random(3)
    d = [draw_delay(0.05, 0.004, rng) for _ in range(20000)]
    ipdv = statistics.fmean(abs(a - b) for a, b in itertools.pairwise(d))
    assert statistics.fmean(d) == pytest.approx(0.05, abs=1e-4)
    assert ipdv == pytest.approx(0.004, rel=0.03)


def test_echo_reply_swaps_addresses_and_keeps_a_valid_icmp_checksum() -> None:
    payload = bytes(range(56))
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7) + payload
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                     bytes([198, 19, 255, 1]), bytes([198, 18, 1, 10]))  # fmt: skip
    made = echo_reply(ip + icmp)
    assert made is not None
    reply, dst = made
    assert dst == "198.19.255.1"
    assert reply[12:16] == bytes([198, 18, 1, 10]) and reply[16:20] == bytes([198, 19, 255, 1])
    body = reply[20:]
    assert body[0] == 0 and body[4:] == icmp[4:] and _checksum(body) == 0


def test_non_echo_packets_get_no_reply() -> None:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 1, 0, bytes(4), bytes(4))
    assert echo_reply(ip + struct.pack("!BBHHH", 0, 0, 0, 1, 1)) is None
