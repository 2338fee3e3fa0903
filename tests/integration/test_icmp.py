"""The ICMP engine with real packets: loopback, and namespaces this module builds and removes.

    prober ns (P)  198.18.200.1/30 --veth-- 198.18.200.2/30  peer ns (S): kernel echo replies
                   198.18.200.5/30 --veth-- 198.18.200.6/30  responder ns (R): the lab's
                                                             user-space responder (delay,
                                                             jitter, loss), kernel echo off
    S: 198.19.200.1-50/32 on lo (answering); 198.19.201.0/24 `unreachable` route;
       198.19.202.0/24 routed back to P, and P back to S (a loop: TTL exceeded);
       198.19.203.0/24 blackholed (silence).
    R: 198.19.210.1-3/32 on lo (the responder's targets).

The engine and every socket run inside P (asyncio in a thread switched into P), so nothing
leaves these namespaces but loopback traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vcmon.errors import ProbeSetupError
from vcmon.lab import netns
from vcmon.model import FailureReason, Module, ProberKind
from vcmon.probers.icmp import IcmpEngine, SocketKind

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
]
T = TypeVar("T")
SO_TIMESTAMPNS = 35  # Linux; not exported by the socket module
PEER_TARGETS = [f"198.19.200.{i}" for i in range(1, 51)]
UNREACHABLE = "198.19.201.5"
LOOPING = "198.19.202.5"
SILENT = "198.19.203.5"
DELAYED, JITTERY, LOSSY = "198.19.210.1", "198.19.210.2", "198.19.210.3"


def icmp_module(**overrides: object) -> Module:
    fields: dict[str, object] = {
        "name": "icmp_test",
        "prober": ProberKind.ICMP,
        "interval_s": 60.0,
        "timeout_s": 0.5,
        "count": 5,
        "spacing_s": 0.01,
        "size_bytes": 1200,
        "dscp": 34,
    }
    fields.update(overrides)
    return Module(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Lab:
    prober: str
    peer: str
    responder: str

    def run(self, scenario: Callable[[], Coroutine[Any, Any, T]], ns: str | None = None) -> T:
        """Run an async scenario on an event loop inside namespace `ns` (default: prober)."""
        return netns.in_netns(ns or self.prober, lambda: asyncio.run(scenario()))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    prefix = f"ti{secrets.token_hex(3)}"
    p, s, r = f"{prefix}p", f"{prefix}s", f"{prefix}r"
    try:
        netns.ip_batch([f"netns add {ns}" for ns in (p, s, r)])
        netns.ip_batch(
            [
                f"link add {prefix}a netns {p} type veth peer name {prefix}b netns {s}",
                f"link add {prefix}c netns {p} type veth peer name {prefix}d netns {r}",
            ]
        )
        netns.ip_batch(
            [
                "link set lo up",
                f"addr add 198.18.200.1/30 dev {prefix}a",
                f"addr add 198.18.200.5/30 dev {prefix}c",
                f"link set {prefix}a up",
                f"link set {prefix}c up",
                "route add 198.19.200.0/22 via 198.18.200.2",
                "route add 198.19.210.0/24 via 198.18.200.6",
            ],
            p,
        )
        netns.ip_batch(
            [
                "link set lo up",
                f"addr add 198.18.200.2/30 dev {prefix}b",
                f"link set {prefix}b up",
                *(f"addr add {a}/32 dev lo" for a in PEER_TARGETS),
                "route add unreachable 198.19.201.0/24",
                "route add 198.19.202.0/24 via 198.18.200.1",
                "route add blackhole 198.19.203.0/24",
            ],
            s,
        )
        netns.ip_batch(
            [
                "link set lo up",
                f"addr add 198.18.200.6/30 dev {prefix}d",
                f"link set {prefix}d up",
                *(f"addr add {a}/32 dev lo" for a in (DELAYED, JITTERY, LOSSY)),
            ],
            r,
        )
        # ICMP errors unthrottled, both routers forwarding: the TTL loop bounces P <-> S,
        # so P must take back packets carrying its own source address (accept_local).
        routing = {"net.ipv4.ip_forward": "1", "net.ipv4.icmp_ratelimit": "0"}
        netns.write_sysctls(s, routing)
        netns.write_sysctls(
            p,
            routing | {f"net.ipv4.conf.{c}.accept_local": "1" for c in ("all", f"{prefix}a")},
        )
        netns.write_sysctls(r, {"net.ipv4.icmp_echo_ignore_all": "1"})
        yield Lab(p, s, r)
    finally:
        for ns in (p, s, r):
            if ns in netns.list_netns():
                netns.run(["ip", "netns", "del", ns])


@pytest.fixture(scope="module")
def responder(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The lab's responder daemon in R: 20 ms; 30 ms with 4 ms jitter; 2 of 10 lost.

    Its own process (real-time priority, as the lab runs it), so its timing does not share
    this process's GIL with the engine under test.
    """
    state = tmp_path_factory.mktemp("responder")
    targets = [
        (DELAYED, 0.020, 0.0, {"ratio": 0.0, "drop": 0, "every": 0}),
        (JITTERY, 0.030, 0.004, {"ratio": 0.0, "drop": 0, "every": 0}),
        (LOSSY, 0.010, 0.0, {"ratio": 0.2, "drop": 2, "every": 10}),
    ]
    spec = {
        "seed": 7,
        "responders": {
            lab.responder: [
                {"address": a, "delay_s": d, "jitter_s": j, "loss": loss}
                for a, d, j, loss in targets
            ]
        },
        "agents": {},
        "flows": [],
        "events": [],
    }
    (state / "daemon.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", "vcmon.lab.daemon", str(state)], check=True)
    pid = int((state / "daemon.pid").read_text())
    try:
        deadline = time.monotonic() + 10
        while not (state / "daemon.ready").exists():
            assert time.monotonic() < deadline, (state / "daemon.log").read_text()
            time.sleep(0.05)
        yield
    finally:
        os.kill(pid, signal.SIGTERM)
        while os.path.exists(f"/proc/{pid}"):  # reparented to init, which reaps it
            time.sleep(0.05)


@contextlib.contextmanager
def ping_sockets(lab: Lab, allowed: bool) -> Iterator[None]:
    """Allow (gid 0) or refuse unprivileged ICMP sockets in P, as the kernel default does."""
    netns.write_sysctls(lab.prober, {"net.ipv4.ping_group_range": "0 0" if allowed else "1 0"})
    try:
        yield
    finally:
        netns.write_sysctls(lab.prober, {"net.ipv4.ping_group_range": "1 0"})


class Capture:
    """Echo requests arriving in a namespace, read from a raw socket opened there."""

    def __init__(self, ns: str) -> None:
        self.sock = netns.in_netns(
            ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        )
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        # The kernel turns receive timestamps on through deferred work; until it has, packets
        # are stamped when read, so give it a moment before anything arrives.
        time.sleep(0.05)

    def requests(self) -> list[tuple[float, bytes]]:
        """(kernel arrival time, whole IP packet) of every echo request received so far."""
        seen = []
        while True:
            try:
                packet, anc, _flags, _addr = self.sock.recvmsg(65535, 64)
            except BlockingIOError:
                break
            sec, nsec = struct.unpack("@qq", anc[0][2])
            if packet[(packet[0] & 0x0F) * 4] == 8:
                seen.append((sec + nsec / 1e9, packet))
        return seen

    def close(self) -> None:
        self.sock.close()


# --- loopback ---------------------------------------------------------------------------


def test_loopback_echoes_all_come_back_with_small_rtt() -> None:
    module = icmp_module()

    async def scenario() -> None:
        async with IcmpEngine() as engine:
            result = await engine.probe("127.0.0.1", module)
            assert result.sent == result.received == 5
            assert result.loss_ratio == 0.0
            assert result.failure is None and result.errors == ()
            assert result.rtt_min_s is not None and result.rtt_max_s is not None
            assert 0 < result.rtt_min_s <= result.rtt_max_s < module.timeout_s
            assert result.jitter_ipdv_s is not None and result.jitter_ipdv_s >= 0
            if engine.socket_kind is SocketKind.RAW:  # our own requests are seen, ignored
                assert engine.stats.echo_requests >= 5

    asyncio.run(scenario())


# --- the namespaces ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [SocketKind.RAW, SocketKind.DGRAM])
def test_every_target_answers_over_raw_and_ping_sockets(lab: Lab, kind: SocketKind) -> None:
    async def scenario() -> dict[str, int]:
        async with IcmpEngine(socket_kind=kind) as engine:
            assert engine.socket_kind is kind
            results = await engine.probe_many(PEER_TARGETS, icmp_module(count=3))
        return {t: r.received for t, r in results.items()}

    with ping_sockets(lab, allowed=True):
        received = lab.run(scenario)
    assert received == dict.fromkeys(PEER_TARGETS, 3)


def test_ping_socket_refused_by_ping_group_range_is_a_setup_error(lab: Lab) -> None:
    async def scenario() -> None:
        async with IcmpEngine(socket_kind=SocketKind.DGRAM):
            pass

    with pytest.raises(ProbeSetupError, match="ping_group_range"):
        lab.run(scenario)


NO_PERMISSION = """
import asyncio
from vcmon.errors import ProbeSetupError
from vcmon.probers.icmp import IcmpEngine

async def main() -> None:
    async with IcmpEngine():
        pass

try:
    asyncio.run(main())
except ProbeSetupError as exc:
    print(exc)
"""


def test_no_ping_group_and_no_cap_net_raw_is_a_setup_error_naming_both(lab: Lab) -> None:
    out = subprocess.run(
        ["ip", "netns", "exec", lab.prober, "setpriv", "--bounding-set", "-net_raw",
         sys.executable, "-c", NO_PERMISSION],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert out.stdout.strip() == (
        "cannot open an ICMP socket: ICMP datagram socket: Permission denied "
        "(net.ipv4.ping_group_range); raw ICMP socket: Operation not permitted "
        "(needs CAP_NET_RAW)"
    )
    assert out.stderr == ""


def test_auto_takes_ping_socket_where_allowed_else_raw(lab: Lab) -> None:
    async def kind() -> SocketKind:
        async with IcmpEngine() as engine:
            return engine.socket_kind

    assert lab.run(kind) is SocketKind.RAW
    with ping_sockets(lab, allowed=True):
        assert lab.run(kind) is SocketKind.DGRAM


def test_sends_round_robin_over_targets_keeping_each_targets_spacing(lab: Lab) -> None:
    capture = Capture(lab.peer)
    module = icmp_module(count=4, spacing_s=0.05, size_bytes=84, dscp=0)

    async def scenario() -> None:
        async with IcmpEngine() as engine:
            await engine.probe_many(PEER_TARGETS, module)

    try:
        lab.run(scenario)
        seen = capture.requests()
    finally:
        capture.close()
    order = [socket.inet_ntoa(p[16:20]) for _, p in seen]
    assert len(order) == len(PEER_TARGETS) * 4
    assert sorted(order[: len(PEER_TARGETS)]) == sorted(PEER_TARGETS)  # one each, then round 2
    for target in PEER_TARGETS:
        times = [t for t, p in seen if socket.inet_ntoa(p[16:20]) == target]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= module.spacing_s - 0.002  # arrival jitter on a veth: < 2 ms


@pytest.mark.parametrize("kind", [SocketKind.RAW, SocketKind.DGRAM])
@pytest.mark.parametrize(("dscp", "size"), [(34, 1200), (46, 84), (0, 28)])
def test_dscp_and_size_are_on_the_wire(lab: Lab, kind: SocketKind, dscp: int, size: int) -> None:
    capture = Capture(lab.peer)

    async def scenario() -> int:
        async with IcmpEngine(socket_kind=kind) as engine:
            result = await engine.probe(PEER_TARGETS[0], icmp_module(dscp=dscp, size_bytes=size))
            return result.received

    try:
        with ping_sockets(lab, allowed=True):
            received = lab.run(scenario)
        seen = capture.requests()
    finally:
        capture.close()
    assert received == 5
    assert [(p[1] >> 2, len(p)) for _, p in seen] == [(dscp, size)] * 5


@pytest.mark.parametrize("kind", [SocketKind.RAW, SocketKind.DGRAM])
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (UNREACHABLE, FailureReason.UNREACHABLE),
        (LOOPING, FailureReason.TTL_EXCEEDED),
        (SILENT, FailureReason.TIMEOUT),
    ],
)
def test_failing_target_gets_its_reason_and_spares_the_others(
    lab: Lab, kind: SocketKind, target: str, reason: FailureReason
) -> None:
    # The kernel sends 'unreachable' for a route at most 5 in a burst then 1/s, and its
    # limit (net.ipv4.route.error_cost) is machine-wide: 2 probes x 2 socket kinds fit.
    module = icmp_module(count=2, timeout_s=0.3)

    async def scenario() -> dict[str, tuple[int, FailureReason | None, int]]:
        async with IcmpEngine(socket_kind=kind) as engine:
            results = await engine.probe_many([target, PEER_TARGETS[0], "not-an-ip"], module)
        return {t: (r.received, r.failure, len(r.errors)) for t, r in results.items()}

    with ping_sockets(lab, allowed=True):
        outcome = lab.run(scenario)
    expected_errors = 0 if reason is FailureReason.TIMEOUT else 2
    assert outcome[target] == (0, reason, expected_errors)
    assert outcome[PEER_TARGETS[0]] == (2, None, 0)
    assert outcome["not-an-ip"] == (0, FailureReason.ERROR, 0)


def test_cancelled_probe_leaves_engine_usable(lab: Lab) -> None:
    async def scenario() -> tuple[int, int]:
        async with IcmpEngine() as engine:
            task = asyncio.create_task(engine.probe(SILENT, icmp_module(timeout_s=5.0)))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            result = await engine.probe(PEER_TARGETS[1], icmp_module())
            return result.received, len(engine._runs)

    assert lab.run(scenario) == (5, 0)


# --- forged, malformed, duplicated and flooding replies ---------------------------------


class Forger:
    """In the peer namespace: for each echo request, forge replies around the kernel's own."""

    FLOOD = 500

    def __init__(self, ns: str) -> None:
        def open_sockets() -> tuple[socket.socket, socket.socket]:
            listen = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            return listen, send

        self.listen, self.send = netns.in_netns(ns, open_sockets)
        self.listen.settimeout(0.2)
        self.stop = False
        self.forged_for = 0
        self.rng = random.Random(3)
        self.thread = threading.Thread(target=self.run, name="icmp-test-forger")

    def packet(self, src: bytes, dst: bytes, icmp: bytes) -> bytes:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0, src, dst)
        return header + icmp

    def reply(self, ident: int, seq: int, payload: bytes) -> bytes:
        body = struct.pack("!BBHHH", 0, 0, 0, ident, seq) + payload
        padded = body + b"\0" * (len(body) % 2)
        total = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        return body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]

    def run(self) -> None:
        while not self.stop:
            try:
                request = self.listen.recv(65535)
            except TimeoutError:
                continue
            ihl = (request[0] & 0x0F) * 4
            if len(request) < ihl + 8 or request[ihl] != 8:
                continue
            ident, seq = struct.unpack_from("!HH", request, ihl + 4)
            prober, target = request[12:16], request[16:20]
            payload = request[ihl + 8 :]
            good = self.reply(ident, seq, payload)
            forged = [
                self.packet(target, prober, good),  # a duplicate
                self.packet(socket.inet_aton("198.19.200.99"), prober, good),  # wrong host
                self.packet(target, prober, self.reply(ident, seq, payload[::-1])),  # altered
                self.packet(target, prober, good[:18]),  # truncated payload
            ]
            if self.forged_for == 0:  # one flood: others' identifiers, and ours at random
                for _ in range(self.FLOOD):
                    other = self.rng.randrange(65536)
                    forged.append(self.packet(target, prober, self.reply(other, seq, b"x")))
                    forged.append(
                        self.packet(target, prober, self.reply(ident, other, payload[:8]))
                    )
            for packet in forged:
                self.send.sendto(packet, (socket.inet_ntoa(prober), 0))
            self.forged_for += 1

    def __enter__(self) -> Forger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join()
        self.listen.close()
        self.send.close()


def test_forged_malformed_duplicate_and_flood_replies_are_counted_never_results(
    lab: Lab,
) -> None:
    module = icmp_module(count=10, spacing_s=0.03)

    async def scenario() -> None:
        async with IcmpEngine() as engine:
            result = await engine.probe(PEER_TARGETS[2], module)
            stats = engine.stats
        assert (result.sent, result.received, result.loss_ratio) == (10, 10, 0.0)
        # The kernel's reply always comes first; forgeries about the last echo arrive after
        # the probe has finished (all answered), so they count as 'unmatched'.
        assert result.duplicates == 9
        assert result.rtt_max_s is not None and result.rtt_max_s < 0.05
        assert stats.ignored_wrong_source == 9
        assert stats.malformed >= 18  # 9 altered + 9 truncated payloads (+ flood hits)
        assert stats.not_ours == Forger.FLOOD
        assert stats.unmatched >= 3
        assert stats.replies == 19  # 10 genuine + 9 duplicates: nothing forged got in

    with Forger(lab.peer):
        lab.run(scenario)


# --- accuracy against the lab's impairment responder ------------------------------------


def test_rtt_p50_within_1ms_of_injected_delay(lab: Lab, responder: None) -> None:
    async def scenario() -> float | None:
        async with IcmpEngine() as engine:
            return (await engine.probe(DELAYED, icmp_module(count=10, spacing_s=0.02))).rtt_p50_s

    p50 = lab.run(scenario)
    assert p50 is not None and abs(p50 - 0.020) <= 0.001


def test_deterministic_loss_two_of_ten_counted_exactly(lab: Lab, responder: None) -> None:
    async def scenario() -> tuple[int, int, float | None, tuple[bool, ...], FailureReason | None]:
        async with IcmpEngine() as engine:
            r = await engine.probe(LOSSY, icmp_module(count=10, spacing_s=0.02, timeout_s=0.3))
        return r.sent, r.received, r.loss_ratio, tuple(x is None for x in r.rtts_s), r.failure

    sent, received, loss, lost, failure = lab.run(scenario)
    assert (sent, received, loss, failure) == (10, 8, 0.2, None)
    assert [i for i, gone in enumerate(lost) if gone] == [4, 9]  # the lab drops the 5th, 10th


def test_ipdv_jitter_within_2ms_of_injected(lab: Lab, responder: None) -> None:
    async def scenario() -> tuple[float | None, float | None, float | None]:
        async with IcmpEngine() as engine:
            r = await engine.probe(JITTERY, icmp_module(count=50, spacing_s=0.02))
        return r.jitter_ipdv_s, r.jitter_rfc3550_s, r.rtt_p50_s

    ipdv, rfc3550, p50 = lab.run(scenario)
    assert ipdv is not None and abs(ipdv - 0.004) <= 0.002
    assert rfc3550 is not None and 0 < rfc3550 < 0.008
    assert p50 is not None and abs(p50 - 0.030) <= 0.003
