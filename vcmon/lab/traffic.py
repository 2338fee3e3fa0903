"""Background traffic: UDP at a fixed wire (L2) rate across one lab link, so interface
counters on both ends move by a known amount."""

from __future__ import annotations

import socket
import time
from typing import Any

from vcmon.lab import netns

FLOW_PAYLOAD = 1000
WIRE_OVERHEAD = 14 + 20 + 8
"""Ethernet + IPv4 + UDP header bytes: what interface counters add to each payload."""
FLOW_TICK_S = 0.005


class Flow:
    """UDP at a fixed wire rate from one namespace to a sink socket in another, never read
    (full buffer: silent drops, no ICMP), so both ends' counters move by a known amount."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.bps = float(spec["bps"])
        self.sink = netns.in_netns(spec["dst_ns"], lambda: self._sink(spec["dst_addr"]))
        self.sock = netns.in_netns(
            spec["src_ns"], lambda: self._source(spec["src_addr"], spec["dst_addr"])
        )
        self.credit = 0.0
        self.last = time.monotonic()
        self.payload = bytes(FLOW_PAYLOAD)
        self.sent_bytes = 0

    @staticmethod
    def _sink(addr: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((addr, 9))
        return s

    @staticmethod
    def _source(src: str, dst: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.connect((dst, 9))
        s.setblocking(False)
        return s

    def tick(self, now: float) -> None:
        self.credit += self.bps / 8 * (now - self.last)
        self.last = now
        frame = FLOW_PAYLOAD + WIRE_OVERHEAD
        while self.credit >= frame:
            self.credit -= frame
            try:
                self.sock.send(self.payload)
                self.sent_bytes += frame
            except OSError:
                pass  # shaper queue full or link down: dropped, as a real sender's would be
