"""The user-space ICMP echo responder: answers echo requests with a chosen delay, jitter and
loss (the kernel has no netem). One process, one raw socket per namespace (each opened in
its namespace by `netns.in_netns`), one loop: a selector for requests and a heap of replies
due, so 2,000+ targets cost one thread.

Jitter: each reply's delay is drawn uniformly from [delay - 1.5 j, delay + 1.5 j] (clamped at
0), which makes the expected mean |RTT(i) - RTT(i-1)| (RFC 5481 IPDV, DOMAIN.md) equal j and
the mean RTT equal the delay.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from vcmon.lab.scenario import Loss

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
_SOL_RAW = 255
_ICMP_FILTER = 1
_SO_TIMESTAMPNS = 35
_TS = struct.Struct("qq")


class LossGate:
    """Decides which echoes to drop: exactly `drop` of every `every`, or at random.

    >>> gate = LossGate(Loss(0.2, 2, 10), random.Random(0))
    >>> [i for i in range(20) if gate.drop()]
    [4, 9, 14, 19]
    """

    def __init__(self, loss: Loss, rng: random.Random) -> None:
        self.loss = loss
        self.rng = rng
        self.count = 0

    def drop(self) -> bool:
        n, self.count = self.count, self.count + 1
        if self.loss.deterministic:
            d, e = self.loss.drop, self.loss.every
            return (n + 1) * d // e > n * d // e
        return self.loss.ratio > 0 and self.rng.random() < self.loss.ratio


def draw_delay(delay_s: float, jitter_s: float, rng: random.Random) -> float:
    """One reply's delay: uniform over delay +- 1.5 jitter, never negative.

    >>> draw_delay(0.02, 0.0, random.Random(1))
    0.02
    >>> 0.017 <= draw_delay(0.02, 0.002, random.Random(1)) <= 0.023
    True
    """
    if jitter_s <= 0:
        return delay_s
    return max(0.0, delay_s + rng.uniform(-1.5 * jitter_s, 1.5 * jitter_s))


def echo_reply(packet: bytes) -> tuple[bytes, str] | None:
    """Turn a received IPv4 echo request into (reply packet with IP header, destination).

    The reply's source is the request's destination, so one socket answers for every
    address of its namespace; the ICMP checksum is adjusted, not recomputed (RFC 1624).

    >>> req = bytes.fromhex("4500001c0000000040010000c6120001c612010a") + bytes.fromhex(
    ...     "0800f7fe00010001")
    >>> reply, dst = echo_reply(req)
    >>> dst, reply[12:16] == req[16:20], reply[20], reply[22:24].hex()
    ('198.18.0.1', True, 0, 'fffe')
    """
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 or icmp[0] != ICMP_ECHO_REQUEST or icmp[1] != 0:
        return None
    csum = struct.unpack("!H", icmp[2:4])[0] + 0x0800
    csum = (csum & 0xFFFF) + (csum >> 16)
    body = bytes([ICMP_ECHO_REPLY, 0]) + struct.pack("!H", csum & 0xFFFF) + icmp[4:]
    # Version/IHL, TOS copied, length/checksum/id left for the kernel (IP_HDRINCL fills them).
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, packet[1], 0, 0, 0, 64, 1, 0, packet[16:20], packet[12:16]
    )
    return header + body, socket.inet_ntoa(packet[12:16])


@dataclass
class TargetState:
    delay_s: float
    jitter_s: float
    gate: LossGate
    burst: LossGate | None = None
    burst_until: float = 0.0
    answered: int = 0
    dropped: int = 0


def open_raw_socket() -> socket.socket:
    """A raw ICMP socket that receives only echo requests and writes whole IP packets."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sock.setsockopt(
        _SOL_RAW, _ICMP_FILTER, struct.pack("I", ~(1 << ICMP_ECHO_REQUEST) & 0xFFFFFFFF)
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    # The kernel's arrival time, so time spent waking up counts inside the delay.
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return sock


def _arrival(ancdata: list[tuple[int, int, bytes]]) -> float:
    """Monotonic time at which the kernel received the packet (now, if it did not say)."""
    now_mono, now_real = time.monotonic(), time.time()
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TS.size:
            sec, nsec = _TS.unpack_from(data)
            arrived: float = sec + nsec * 1e-9
            return now_mono - max(0.0, now_real - arrived)
    return now_mono


class Loop:
    """One thread's event loop: raw sockets in, a heap of timed callbacks out."""

    def __init__(self, seed: int = 0) -> None:
        # select(2), not epoll: epoll's timeout is whole milliseconds (Python rounds it up),
        # which alone would add up to 1 ms to every delayed reply; select's is microseconds.
        self.selector: selectors.BaseSelector = selectors.SelectSelector()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.targets: dict[bytes, TargetState] = {}
        self.rng = random.Random(seed)
        self.stopping = False

    def add_socket(self, sock: socket.socket) -> None:
        self.selector.register(sock, selectors.EVENT_READ)

    def add_target(self, address: str, delay_s: float, jitter_s: float, loss: Loss) -> None:
        seed = self.rng.getrandbits(32)
        self.targets[socket.inet_aton(address)] = TargetState(
            delay_s, jitter_s, LossGate(loss, random.Random(seed))
        )

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Run fn at monotonic time `when`."""
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn))

    def _on_request(self, sock: socket.socket, packet: bytes, now: float) -> None:
        made = echo_reply(packet)
        if made is None:
            return
        state = self.targets.get(packet[16:20])
        if state is None:  # a transit address: answer at once, like the kernel would
            self.at(now, lambda: self._send(sock, *made))
            return
        gate = state.burst if state.burst is not None and now < state.burst_until else state.gate
        if gate.drop():
            state.dropped += 1
            return
        state.answered += 1
        delay = draw_delay(state.delay_s, state.jitter_s, self.rng)
        self.at(now + delay, lambda: self._send(sock, *made))

    @staticmethod
    def _send(sock: socket.socket, reply: bytes, dst: str) -> None:
        # No route back (a link event): the echo is lost, as on a real network.
        with contextlib.suppress(OSError):
            sock.sendto(reply, (dst, 0))

    def run(self) -> None:
        while not self.stopping:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
                now = time.monotonic()
            timeout = min(self.timers[0][0] - now, 0.5) if self.timers else 0.5
            for key, _ in self.selector.select(max(timeout, 0.0)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                while True:
                    try:
                        packet, ancdata, _, _ = sock.recvmsg(65535, 64)
                    except BlockingIOError:
                        break
                    self._on_request(sock, packet, _arrival(ancdata))
