"""The SNMP engine against a real net-snmp snmpd that each test module starts and stops itself.

Layout (own namespaces, unique per run, removed also on failure):

    root ns  <-- mgmt veth 198.19.N.0/30 -->  agent ns (snmpd; lo, mgmt0, data0)
                                              agent data0 198.19.N.9/29 <--> peer ns data1 .10

SNMP travels over mgmt0, so data0 carries only the traffic a test sends. Frames are sent to an
address nobody owns (static neighbour entry), so the receiving kernel drops them silently
(forwarding off): no ICMP or ARP noise, and each packet adds exactly payload+42 bytes (UDP 8,
IPv4 20, Ethernet 14) to the counters. IPv6 is off on every link for the same reason.

snmpd caches interface counters for ~3 s (LAB-NOTES): rate tests send their burst right
after the first poll and take the second more than 3 s later, so each poll reads a fresh,
quiet counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vcmon.errors import ProbeSetupError
from vcmon.model import (
    Auth,
    Device,
    Direction,
    FailureReason,
    Interface,
    InterfaceMatch,
    Link,
    LinkRole,
    Medium,
    Module,
    ProberKind,
    SecretKind,
    SecretRef,
    SnmpVersion,
)
from vcmon.probers import snmp, usm
from vcmon.probers.snmp import RateTracker, SnmpEngine, SnmpResult


def needs_lab(test: Callable[..., None]) -> Callable[..., None]:
    """Tests on the namespace lab with a real snmpd (the fake-agent tests need neither)."""
    skip = pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("snmpd") is None or shutil.which("ip") is None,
        reason="needs root, iproute2 and net-snmp snmpd",
    )
    return pytest.mark.root(skip(test))  # type: ignore[no-any-return]


PORT = 1161
RUN = f"vs{os.getpid() % 100000}"
NET = f"198.19.{200 + os.getpid() % 50}"
AGENT_IP = f"{NET}.2"
DATA0_IP, DATA1_IP = f"{NET}.9", f"{NET}.10"
NOBODY_BEHIND_DATA1, NOBODY_BEHIND_DATA0 = f"{NET}.11", f"{NET}.12"
PAYLOAD = 1000
WIRE_BYTES = PAYLOAD + 42

ENV_COMMUNITY = f"VCMON_TEST_COMMUNITY_{RUN}"
ENV_AUTH = f"VCMON_TEST_AUTH_{RUN}"
ENV_PRIV = f"VCMON_TEST_PRIV_{RUN}"
ENV_WRONG = f"VCMON_TEST_WRONG_{RUN}"

MODULE = Module("snmp_test", ProberKind.SNMP, interval_s=60, timeout_s=1.0, retries=1)
LINK = Link("agent-peer", "agent", "peer", Medium.FIBRE, 8e6, 20e6, None, LinkRole.PRIMARY)


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def in_ns(ns: str, *args: str) -> str:
    return sh("ip", "netns", "exec", ns, *args)


@dataclass
class Lab:
    agent_ns: str
    peer_ns: str
    workdir: Path
    secrets: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start_agent(self) -> None:
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(self.workdir / "persist")}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.agent_ns, "snmpd", "-f", "-C", "-Lf",
             str(self.workdir / "snmpd.log"), "-c",
             f"{self.workdir / 'snmpd.conf'},{self.workdir / 'persist' / 'snmpd.conf'}",
             f"udp:{AGENT_IP}:{PORT}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["snmpget", "-v2c", "-c", self.secrets["community"], "-t", "0.2", "-r", "0",
                 f"{AGENT_IP}:{PORT}", "1.3.6.1.2.1.1.3.0"],
                check=False, capture_output=True, env={**os.environ, "MIBS": ""},
            )  # fmt: skip
            if probe.returncode == 0:
                return
        raise RuntimeError("snmpd did not start")

    def stop_agent(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.proc = None

    def send(self, from_ns: str, to_ip: str, count: int) -> None:
        """`count` UDP datagrams of PAYLOAD bytes; blocks until all are on the wire."""
        code = (
            "import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            f"b=bytes({PAYLOAD});[s.sendto(b,('{to_ip}',9)) for _ in range({count})]"
        )
        in_ns(from_ns, sys.executable, "-c", code)

    def kernel_stats(self, ifname: str) -> dict[str, int]:
        info = json.loads(in_ns(self.agent_ns, "ip", "-j", "-s", "link", "show", ifname))[0]
        return {"ifindex": info["ifindex"], **info["stats64"]["rx"], **{
            f"tx_{k}": v for k, v in info["stats64"]["tx"].items()}}  # fmt: skip


def _build(tmp: Path) -> Lab:
    agent, peer, mgmt = f"{RUN}a", f"{RUN}p", f"{RUN}m"
    values = {
        "community": secrets.token_hex(8),
        "auth": secrets.token_hex(10),
        "priv": secrets.token_hex(10),
        "wrong": secrets.token_hex(10),
    }
    for ns in (agent, peer):
        sh("ip", "netns", "add", ns)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
              "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.ip_forward=0")  # fmt: skip
        in_ns(ns, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", mgmt, "type", "veth", "peer", "name", "mgmt0", "netns", agent)
    sh("sysctl", "-qw", f"net.ipv6.conf.{mgmt}.disable_ipv6=1")
    sh("ip", "addr", "add", f"{NET}.1/30", "dev", mgmt)
    sh("ip", "link", "set", mgmt, "up")
    in_ns(agent, "ip", "addr", "add", f"{AGENT_IP}/30", "dev", "mgmt0")
    in_ns(agent, "ip", "link", "set", "mgmt0", "up")
    in_ns(agent, "ip", "link", "add", "data0", "type", "veth", "peer", "name", "data1",
          "netns", peer)  # fmt: skip
    in_ns(agent, "ip", "addr", "add", f"{DATA0_IP}/29", "dev", "data0")
    in_ns(peer, "ip", "addr", "add", f"{DATA1_IP}/29", "dev", "data1")
    in_ns(agent, "ip", "link", "set", "data0", "up")
    in_ns(peer, "ip", "link", "set", "data1", "up")
    mac0 = json.loads(in_ns(agent, "ip", "-j", "link", "show", "data0"))[0]["address"]
    mac1 = json.loads(in_ns(peer, "ip", "-j", "link", "show", "data1"))[0]["address"]
    in_ns(agent, "ip", "neigh", "replace", NOBODY_BEHIND_DATA1, "lladdr", mac1, "dev", "data0")
    in_ns(agent, "ip", "neigh", "replace", DATA1_IP, "lladdr", mac1, "dev", "data0")
    in_ns(peer, "ip", "neigh", "replace", NOBODY_BEHIND_DATA0, "lladdr", mac0, "dev", "data1")
    in_ns(peer, "ip", "neigh", "replace", DATA0_IP, "lladdr", mac0, "dev", "data1")
    (tmp / "persist").mkdir()
    (tmp / "snmpd.conf").write_text(
        f"rocommunity {values['community']} {NET}.0/30\n"
        f"rwcommunity {values['community']}rw {NET}.0/30\n"  # to set ifAlias (net-snmp
        # does not read the kernel's alias)
        # a community whose view hides ifHC*Octets: an agent with Counter32 only
        f"view nohc included .1\n"
        f"view nohc excluded .1.3.6.1.2.1.31.1.1.1.6\n"
        f"view nohc excluded .1.3.6.1.2.1.31.1.1.1.10\n"
        f"rocommunity {values['community']}32 {NET}.0/30 -V nohc\n"
        "rouser vcmon priv\n"
        "rouser vcmon256 priv\n"
        "rouser vcmonmd5 priv\n"
    )
    (tmp / "persist" / "snmpd.conf").write_text(
        f'createUser vcmon SHA "{values["auth"]}" AES "{values["priv"]}"\n'
        f'createUser vcmon256 SHA-256 "{values["auth"]}" AES "{values["priv"]}"\n'
        # MD5 is not on the engine's own USM path: this user keeps pysnmp's path tested
        f'createUser vcmonmd5 MD5 "{values["auth"]}" AES "{values["priv"]}"\n'
    )
    return Lab(agent, peer, tmp, values)


def _teardown(lab_names: tuple[str, ...], mgmt: str) -> None:
    for ns in lab_names:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    subprocess.run(["ip", "link", "del", mgmt], check=False, capture_output=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("snmpd")
    built: Lab | None = None
    try:
        built = _build(tmp)
        os.environ[ENV_COMMUNITY] = built.secrets["community"]
        os.environ[ENV_AUTH] = built.secrets["auth"]
        os.environ[ENV_PRIV] = built.secrets["priv"]
        os.environ[ENV_WRONG] = built.secrets["wrong"]
        built.start_agent()
        yield built
    finally:
        if built is not None:
            built.stop_agent()
        for env in (ENV_COMMUNITY, ENV_AUTH, ENV_PRIV, ENV_WRONG):
            os.environ.pop(env, None)
        _teardown((f"{RUN}a", f"{RUN}p"), f"{RUN}m")


def v2c(name: str = "lab_v2c", env: str = ENV_COMMUNITY) -> Auth:
    return Auth(name, SnmpVersion.V2C, community=SecretRef(SecretKind.ENV, env))


def v3(name: str = "lab_v3", user: str = "vcmon", auth_env: str = ENV_AUTH,
       auth_protocol: str = "sha", priv_env: str = ENV_PRIV) -> Auth:  # fmt: skip
    return Auth(name, SnmpVersion.V3, username=user, auth_protocol=auth_protocol,
                auth_key=SecretRef(SecretKind.ENV, auth_env), priv_protocol="aes",
                priv_key=SecretRef(SecretKind.ENV, priv_env))  # fmt: skip


def md5(name: str = "lab_md5", auth_env: str = ENV_AUTH) -> Auth:
    """A v3 user on pysnmp's path (usm.supports() says no to MD5)."""
    return v3(name, "vcmonmd5", auth_env, "md5")


def device(*interfaces: Interface, address: str = AGENT_IP) -> Device:
    return Device("agent-router", "agent", address, ("snmp_test",), "lab_v2c", interfaces)


DATA0 = Interface(LINK.id, InterfaceMatch.IFNAME, "data0")


def poll(dev: Device, auth: Auth, module: Module = MODULE) -> SnmpResult:
    async def run() -> SnmpResult:
        async with SnmpEngine() as engine:
            return await engine.poll(dev, auth, module, PORT)

    return asyncio.run(run())


@needs_lab
def test_v2c_poll_reads_the_kernel_counters_of_lo_and_data0(lab: Lab) -> None:
    ifindex = lab.kernel_stats("data0")["ifindex"]
    sh("snmpset", "-v2c", "-c", lab.secrets["community"] + "rw", f"{AGENT_IP}:{PORT}",
       f"1.3.6.1.2.1.31.1.1.1.18.{ifindex}", "s", "to peer: 8M contract")  # fmt: skip
    dev = device(
        Interface("l-lo", InterfaceMatch.IFDESCR, "lo"),
        DATA0,
        Interface("l-alias", InterfaceMatch.IFALIAS, "to peer: 8M contract"),
    )
    result = poll(dev, v2c())
    assert result.failure is None, result
    assert result.sys_uptime_s is not None and 0 < result.sys_uptime_s < 3600
    kernel = lab.kernel_stats("data0")
    data0, by_alias = result.sample(LINK.id), result.sample("l-alias")
    assert data0 is not None and by_alias is not None and result.sample("l-lo") is not None
    assert data0.if_index == by_alias.if_index == kernel["ifindex"]
    assert data0.hc and data0.oper_up is True
    assert data0.speed_bps == 10e9  # veth reports 10 Gb/s
    assert data0.in_octets == kernel["bytes"] and data0.out_octets == kernel["tx_bytes"]
    assert data0.in_errors == kernel["errors"] and data0.out_discards == kernel["tx_dropped"]
    assert data0.discontinuity_s == 0.0


@needs_lab
def test_missing_interface_is_reported_per_link_and_others_still_measured(lab: Lab) -> None:
    result = poll(device(DATA0, Interface("gone", InterfaceMatch.IFNAME, "eth9")), v2c())
    assert result.failure is None
    assert result.missing == ("gone",)
    assert result.sample(LINK.id) is not None
    only_missing = poll(device(Interface("gone", InterfaceMatch.IFNAME, "eth9")), v2c())
    assert only_missing.failure is FailureReason.NO_SUCH_INTERFACE


@needs_lab
def test_rate_matches_generated_traffic_within_2_percent_both_directions(lab: Lab) -> None:
    out_packets, in_packets = 3000, 1200
    dev = device(DATA0)
    tracker = RateTracker({LINK.id: LINK})

    async def run() -> tuple[SnmpResult, SnmpResult]:
        async with SnmpEngine() as engine:
            await asyncio.sleep(3.5)  # let snmpd's counter cache expire after earlier tests
            first = await engine.poll(dev, v2c(), MODULE, PORT)
            await asyncio.to_thread(lab.send, lab.agent_ns, NOBODY_BEHIND_DATA1, out_packets)
            await asyncio.to_thread(lab.send, lab.peer_ns, NOBODY_BEHIND_DATA0, in_packets)
            await asyncio.sleep(max(0.0, first.monotonic_s + 4.0 - time.monotonic()))
            return first, await engine.poll(dev, v2c(), MODULE, PORT)

    first, second = asyncio.run(run())
    assert tracker.update(dev, first)[LINK.id].used_up_bps is None  # first poll seeds
    rates = tracker.update(dev, second)[LINK.id]
    assert rates.failure is None, (rates, first, second)
    elapsed = second.monotonic_s - first.monotonic_s
    # the router sits on the link's `site` end: its out is the link's UP direction
    assert rates.used_up_bps == pytest.approx(out_packets * WIRE_BYTES * 8 / elapsed, rel=0.02)
    assert rates.used_down_bps == pytest.approx(in_packets * WIRE_BYTES * 8 / elapsed, rel=0.02)
    # capacity is the 8/20 Mb/s contract, not the 10 Gb/s veth
    assert rates.capacity_up_bps == 8e6 and rates.capacity_down_bps == 20e6
    assert rates.used_up_bps is not None and rates.used_down_bps is not None
    measurement = rates.to_measurement()
    assert measurement.utilisation(Direction.UP) == pytest.approx(rates.used_up_bps / 8e6)
    assert measurement.spare_bps(Direction.DOWN) == pytest.approx(20e6 - rates.used_down_bps)


@needs_lab
@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_agent_restart_during_polling_reseeds_without_spike_or_negative_rate(
    lab: Lab, version: str
) -> None:
    """v3 also re-syncs the clock: snmpd saves engineBoots and adds one at start."""
    dev = device(DATA0)
    auth = v2c() if version == "v2c" else v3()
    tracker = RateTracker({LINK.id: LINK})

    async def run() -> list[SnmpResult]:
        results = []
        async with SnmpEngine() as engine:
            results.append(await engine.poll(dev, auth, MODULE, PORT))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(lab.stop_agent)
            await asyncio.to_thread(lab.send, lab.agent_ns, NOBODY_BEHIND_DATA1, 500)
            await asyncio.to_thread(lab.start_agent)
            for _ in range(2):
                results.append(await engine.poll(dev, auth, MODULE, PORT))
                await asyncio.sleep(1.0)
        return results

    polls = asyncio.run(run())
    assert [r.failure for r in polls] == [None, None, None]
    if version == "v3":  # after the reboot: GETBULK -> notInTimeWindow report -> GETBULK
        assert [r.requests for r in polls] == [2, 2, 1]
    before, after_restart, later = (tracker.update(dev, r)[LINK.id] for r in polls)
    assert before.used_up_bps is None and before.failure is None
    assert after_restart.failure is FailureReason.AGENT_RESTARTED
    assert after_restart.used_up_bps is None and after_restart.used_down_bps is None
    assert later.failure is None
    assert later.used_up_bps is not None and 0 <= later.used_up_bps <= 8e6


@needs_lab
def test_stopped_agent_times_out_without_affecting_a_healthy_device(lab: Lab) -> None:
    module = Module("snmp_fast", ProberKind.SNMP, interval_s=60, timeout_s=0.5, retries=1)
    healthy = device(DATA0)
    # our own end of the mgmt veth: nothing listens there, and its port unreachables are
    # not reported to an unconnected UDP socket
    dead = Device("dead", "agent", f"{NET}.1", (), None, (DATA0,))

    async def run() -> tuple[list[SnmpResult], dict[str, int]]:
        async with SnmpEngine() as engine:
            jobs = [(healthy, v2c(), module), (dead, v2c(), module)]
            results = await engine.poll_many(jobs, PORT)
            return results, engine.stats()

    (good, gone), stats = asyncio.run(run())
    assert good.failure is None and good.sample(LINK.id) is not None
    assert gone.failure is FailureReason.TIMEOUT and gone.samples == ()
    assert gone.requests == 2  # one try, one retry
    assert 0.9 <= gone.duration_s < 2.5
    assert stats["failures_timeout"] == 1


@needs_lab
def test_wrong_v2c_community_times_out_because_snmpd_drops_it_silently(lab: Lab) -> None:
    result = poll(device(DATA0), v2c("wrong", ENV_WRONG))
    assert result.failure is FailureReason.TIMEOUT


@needs_lab
@pytest.mark.parametrize(
    "user,protocol", [("vcmon", "sha"), ("vcmon256", "sha256"), ("vcmonmd5", "md5")]
)
def test_v3_authpriv_polls_like_v2c(lab: Lab, user: str, protocol: str) -> None:
    v2 = poll(device(DATA0), v2c()).sample(LINK.id)
    result = poll(device(DATA0), v3(user=user, auth_protocol=protocol))
    assert result.failure is None
    data0 = result.sample(LINK.id)
    assert data0 is not None and data0.if_index == lab.kernel_stats("data0")["ifindex"]
    assert v2 is not None and data0.speed_bps == v2.speed_bps and data0.hc
    assert data0.in_octets is not None and v2.in_octets is not None
    assert data0.in_octets >= v2.in_octets


@needs_lab
def test_v3_fast_path_discovers_the_engine_once_then_one_request_per_poll(lab: Lab) -> None:
    async def run() -> tuple[list[SnmpResult], dict[str, int]]:
        async with SnmpEngine() as engine:
            results = [await engine.poll(device(DATA0), v3(), MODULE, PORT) for _ in range(3)]
            return results, engine.stats()

    results, stats = asyncio.run(run())
    assert [r.failure for r in results] == [None, None, None]
    # discovery probe + GETBULK, then the GETBULK alone: no pysnmp, no re-discovery
    assert [r.requests for r in results] == [2, 1, 1]
    assert stats["responses"] == 3 and stats["unauthenticated_datagrams"] == 0


@needs_lab
@pytest.mark.parametrize("make", [v3, md5], ids=["fast_path", "pysnmp_path"])
def test_wrong_v3_key_is_auth_failed(lab: Lab, make: Callable[..., Auth]) -> None:
    assert poll(device(DATA0), make(auth_env=ENV_WRONG)).failure is FailureReason.AUTH_FAILED
    assert poll(device(DATA0), v3(user="nobody")).failure is FailureReason.AUTH_FAILED


@needs_lab
def test_wrong_v3_priv_key_times_out_because_snmpd_drops_what_it_cannot_decrypt(
    lab: Lab,
) -> None:
    # the digest is right, so snmpd decrypts to garbage, counts a parse error and answers
    # nothing (no usmStatsDecryptionErrors report): the same as pysnmp's path said
    result = poll(device(DATA0), v3(priv_env=ENV_WRONG))
    assert result.failure is FailureReason.TIMEOUT and result.requests == 3


@needs_lab
def test_unset_secret_is_a_result_not_an_exception(lab: Lab) -> None:
    result = poll(device(DATA0), v2c("unset", f"VCMON_TEST_UNSET_{RUN}"))
    assert result.failure is FailureReason.SECRET_MISSING


@needs_lab
def test_two_keys_for_one_pysnmp_path_v3_user_in_one_engine_is_a_setup_error(lab: Lab) -> None:
    async def run() -> None:
        async with SnmpEngine() as engine:
            await engine.poll(device(DATA0), md5(), MODULE, PORT)
            await engine.poll(device(DATA0), md5("other", auth_env=ENV_WRONG), MODULE, PORT)

    with pytest.raises(ProbeSetupError, match="different keys"):
        asyncio.run(run())


@needs_lab
def test_two_keys_for_one_fast_path_v3_user_each_get_their_own_result(lab: Lab) -> None:
    async def run() -> list[SnmpResult]:
        async with SnmpEngine() as engine:
            jobs = [(device(DATA0), v3(), MODULE), (device(DATA0), v3("o", auth_env=ENV_WRONG),
                    MODULE), (device(DATA0), v3(), MODULE)]  # fmt: skip
            return await engine.poll_many(jobs, PORT)

    good, wrong, again = asyncio.run(run())
    assert (good.failure, wrong.failure, again.failure) == (None, FailureReason.AUTH_FAILED, None)


@needs_lab
@pytest.mark.parametrize("skew", ["zero_clock", "boots_ahead", "boots_behind", "time_ahead"])
def test_v3_clock_out_of_window_is_resynced_from_the_agents_authentic_report(
    lab: Lab, skew: str
) -> None:
    # agents that give no clock in the discovery report (boots 0, time 0), or a clock we
    # got wrong either way: snmpd answers notInTimeWindow, signed, with its real clock
    async def run() -> tuple[SnmpResult, SnmpResult]:
        async with SnmpEngine() as engine:
            first = await engine.poll(device(DATA0), v3(), MODULE, PORT)
            state = engine._agents[(AGENT_IP, PORT)]
            boots, now = state.clock()
            wrong = {"zero_clock": (0, 0), "boots_ahead": (boots + 1, now),
                     "boots_behind": (boots - 1, now),
                     "time_ahead": (boots, now + 1000)}[skew]  # fmt: skip
            state.learn(state.engine_id, *wrong)
            return first, await engine.poll(device(DATA0), v3(), MODULE, PORT)

    first, resynced = asyncio.run(run())
    assert first.failure is None and resynced.failure is None
    assert resynced.requests == 2  # refused GETBULK, then the one that answered
    assert resynced.sample(LINK.id) is not None


@needs_lab
def test_counter32_fallback_where_the_agent_has_no_hc_counters(lab: Lab) -> None:
    os.environ[f"{ENV_COMMUNITY}_32"] = lab.secrets["community"] + "32"
    try:
        result = poll(device(DATA0), v2c("nohc", f"{ENV_COMMUNITY}_32"))
    finally:
        del os.environ[f"{ENV_COMMUNITY}_32"]
    data0 = result.sample(LINK.id)
    assert result.failure is None and data0 is not None
    assert data0.hc is False
    assert data0.out_octets == lab.kernel_stats("data0")["tx_bytes"] % 2**32


@needs_lab
def test_secrets_appear_in_no_log_result_repr_or_stat(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auths = [v2c(), v2c("wrong", ENV_WRONG), v3(), v3("bad", "vcmon", ENV_WRONG),
             v3("badpriv", priv_env=ENV_WRONG), v3("256", "vcmon256", auth_protocol="sha256"),
             md5(), md5("badmd5", ENV_WRONG)]  # fmt: skip
    texts: list[str] = []
    engine_ids: set[bytes] = set()

    async def run() -> None:
        for auth in auths:  # one engine each: pysnmp's path holds one key set per user
            async with SnmpEngine() as engine:
                result = await engine.poll(device(DATA0), auth, MODULE, PORT)
                texts.extend([repr(result), str(result), repr(engine), str(engine.stats())])
                texts.extend([repr(auth), repr(engine.__dict__)])  # incl. the fast path's users
                engine_ids.update(agent.engine_id for agent in engine._agents.values())

    asyncio.run(run())
    everything = "\n".join([*texts, caplog.text])
    assert "auth_failed" in everything and "timeout" in everything  # failures were logged
    assert "v3 report wrong_digest" in everything  # the fast path's debug lines are in
    assert engine_ids, "the fast path discovered the agent"
    keys = set(lab.secrets.values())
    for password in (lab.secrets["auth"], lab.secrets["priv"], lab.secrets["wrong"]):
        for protocol in ("sha1", "sha256"):
            master = usm.password_to_key(password.encode(), protocol)
            local = [usm.localize_key(master, e, protocol) for e in engine_ids]
            for key in (master, *local, *(k[:16] for k in local)):
                keys.update({key.hex(), repr(key), repr(key)[2:-1]})
    for value in keys:
        assert value not in everything


class TamperingRelay(asyncio.DatagramProtocol):
    """A loopback relay in front of the lab snmpd that forges each IF-MIB reply: one byte of
    the encrypted part flipped (what a spoofer without the key can do at best)."""

    def __init__(self, forward_real: bool) -> None:
        self.forward_real = forward_real
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None
        self.forged = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client = addr
        assert self.upstream is not None
        self.upstream.sendto(data)

    def reply(self, data: bytes) -> None:
        assert self.transport is not None and self.client is not None
        if len(data) > 300:  # an IF-MIB response; discovery reports are ~100 bytes
            forged = bytearray(data)
            forged[-20] ^= 0x01
            self.transport.sendto(bytes(forged), self.client)
            self.forged += 1
            if not self.forward_real:
                return
        self.transport.sendto(data, self.client)


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: TamperingRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.reply(data)


@needs_lab
@pytest.mark.parametrize("forward_real", [True, False], ids=["forged_first", "forged_only"])
def test_forged_v3_reply_is_counted_and_dropped_without_poisoning_another_agent(
    lab: Lab, forward_real: bool
) -> None:
    async def run() -> tuple[list[SnmpResult], dict[str, int], int]:
        loop = asyncio.get_running_loop()
        relay = TamperingRelay(forward_real)
        listen, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        relay.upstream, _ = await loop.create_datagram_endpoint(
            lambda: Upstream(relay), remote_addr=(AGENT_IP, PORT)
        )
        port = listen.get_extra_info("sockname")[1]
        try:
            async with SnmpEngine() as engine:
                relayed = Device("relayed", "agent", "127.0.0.1", (), None, (DATA0,))
                direct = engine.poll(device(DATA0), v3(), MODULE, PORT)
                results = await asyncio.gather(engine.poll(relayed, v3(), MODULE, port), direct)
                return list(results), engine.stats(), relay.forged
        finally:
            listen.close()
            relay.upstream.close()

    (relayed, direct), stats, forged = asyncio.run(run())
    assert direct.failure is None and direct.sample(LINK.id) is not None
    assert stats["unauthenticated_datagrams"] == forged >= 1
    if forward_real:
        assert relayed.failure is None and relayed.sample(LINK.id) is not None
    else:
        # (requests counts the whole engine's: the direct poll runs at the same time)
        assert relayed.failure is FailureReason.TIMEOUT and forged == 2  # one try, one retry
        assert 1.9 <= relayed.duration_s < 3.0


# --- a fake agent on loopback: replies a real agent would not send ----------------------
# It answers GETBULK from a literal MIB with GETNEXT semantics, built with the engine's own
# BER helpers (a second codec here would only test itself).

UPTIME, IFNUMBER = (*snmp.SYS_UPTIME, 0), (*snmp.IF_NUMBER, 0)
TIMETICKS, GAUGE, COUNTER32, COUNTER64 = 0x43, 0x42, 0x41, 0x46
INTEGER, OCTETS = 0x02, 0x04
FAKE_COMMUNITY = "fake-community"
WAN = Interface("wan", InterfaceMatch.IFNAME, "wan0")


def good_mib(extra_interfaces: int = 0) -> dict[tuple[int, ...], tuple[int, bytes]]:
    names = [b"lo", b"wan0", *(f"ge-0/0/{i}".encode() for i in range(extra_interfaces))]
    mib: dict[tuple[int, ...], tuple[int, bytes]] = {
        UPTIME: (TIMETICKS, (123_456).to_bytes(3, "big")),
        IFNUMBER: (INTEGER, len(names).to_bytes(1, "big")),
    }
    for index, name in enumerate(names, 1):
        mib[(*snmp.IF_NAME, index)] = (OCTETS, name)
        mib[(*snmp.IF_DESCR, index)] = (OCTETS, name)
        mib[(*snmp.IF_HC_IN_OCTETS, index)] = (COUNTER64, (10_000 * index).to_bytes(4, "big"))
        mib[(*snmp.IF_HC_OUT_OCTETS, index)] = (COUNTER64, (20_000 * index).to_bytes(4, "big"))
        mib[(*snmp.IF_HIGH_SPEED, index)] = (GAUGE, b"\x64")  # 100 Mb/s
        mib[(*snmp.IF_OPER_STATUS, index)] = (INTEGER, b"\x01")
        mib[(*snmp.IF_IN_ERRORS, index)] = (COUNTER32, b"\x00")
        mib[(*snmp.IF_OUT_DISCARDS, index)] = (COUNTER32, b"\x00")
        mib[(*snmp.IF_COUNTER_DISCONTINUITY_TIME, index)] = (TIMETICKS, b"\x00")
    return mib


class FakeAgent(asyncio.DatagramProtocol):
    def __init__(self, mib: dict[tuple[int, ...], tuple[int, bytes]], mode: str = "ok") -> None:
        self.oids = sorted(mib)
        self.mib = mib
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def next_after(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], int, bytes]:
        for candidate in self.oids:
            if candidate > oid:
                return (candidate, *self.mib[candidate])
        return oid, 0x82, b""  # endOfMibView

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        _, pos, end = snmp._read(data, 0, len(data))
        _, _, pos = snmp._read(data, pos, end)
        _, start, pos = snmp._read(data, pos, end)
        community = data[start:pos]
        _, pos, end = snmp._read(data, pos, end)
        header = []
        for _ in range(3):
            _, start, pos = snmp._read(data, pos, end)
            header.append(int.from_bytes(data[start:pos], "big"))
        request_id, non_repeaters, max_reps = header
        _, pos, end = snmp._read(data, pos, end)
        asked = []
        while pos < end:
            _, start, pos = snmp._read(data, pos, end)
            _, name_start, name_end = snmp._read(data, start, pos)
            asked.append(snmp._decode_oid(data[name_start:name_end]))
        answer = [self.next_after(oid) for oid in asked[:non_repeaters]]
        cursors = asked[non_repeaters:]
        for _ in range(max_reps):
            row = [self.next_after(oid) for oid in cursors]
            if self.mode == "stuck":  # an agent that answers the OIDs it was asked
                row = [(oid, INTEGER, b"\x01") for oid in cursors]
            answer += row
            cursors = [oid for oid, _, _ in row]
        varbinds = b"".join(
            snmp._tlv(0x30, snmp._ber_oid(oid) + snmp._tlv(tag, body)) for oid, tag, body in answer
        )
        pdu = snmp._ber_int(request_id) + snmp._ber_int(0) + snmp._ber_int(0)
        pdu = snmp._tlv(0xA2, pdu + snmp._tlv(0x30, varbinds))
        reply = snmp._tlv(0x30, snmp._ber_int(1) + snmp._tlv(0x04, community) + pdu)
        assert self.transport is not None
        if self.mode == "garbage_first":
            self.transport.sendto(b"\x30\x05\x02\x01\x01\x04\x00", addr)
            self.transport.sendto(reply[:-3], addr)  # truncated
        if self.mode == "other_host":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                other.sendto(reply, addr)  # right request id, wrong source port
            return
        self.transport.sendto(reply, addr)


def poll_fake(
    mib: dict[tuple[int, ...], tuple[int, bytes]], mode: str = "ok", polls: int = 1
) -> tuple[SnmpResult, dict[str, int]]:
    """Poll the fake agent `polls` times with one engine; the last result and the stats."""
    os.environ["VCMON_TEST_FAKE_COMMUNITY"] = FAKE_COMMUNITY
    module = Module("fast", ProberKind.SNMP, interval_s=60, timeout_s=0.3, retries=0)

    async def run() -> tuple[SnmpResult, dict[str, int]]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: FakeAgent(mib, mode), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            async with SnmpEngine() as engine:
                dev = Device("fake", "agent", "127.0.0.1", (), None, (WAN,))
                auth = v2c("fake", "VCMON_TEST_FAKE_COMMUNITY")
                for _ in range(polls):
                    result = await engine.poll(dev, auth, module, port)
                return result, engine.stats()
        finally:
            transport.close()

    try:
        return asyncio.run(run())
    finally:
        del os.environ["VCMON_TEST_FAKE_COMMUNITY"]


def test_fake_agent_good_reply_gives_the_literal_numbers() -> None:
    result, _ = poll_fake(good_mib())
    wan = result.sample("wan")
    assert result.failure is None and result.sys_uptime_s == 1234.56
    assert wan is not None and (wan.if_index, wan.in_octets, wan.out_octets) == (2, 20_000, 40_000)
    assert wan.speed_bps == 100e6 and wan.oper_up is True


def test_malformed_datagrams_are_counted_and_the_real_reply_still_used() -> None:
    result, stats = poll_fake(good_mib(), "garbage_first")
    assert result.failure is None and result.sample("wan") is not None
    assert stats["ignored_datagrams"] == 2


def test_reply_from_another_source_is_ignored_and_the_poll_times_out() -> None:
    result, stats = poll_fake(good_mib(), "other_host")
    assert result.failure is FailureReason.TIMEOUT
    assert stats["ignored_datagrams"] == 1


def test_agent_that_does_not_advance_is_a_bad_response_not_a_loop() -> None:
    result, _ = poll_fake(good_mib(), "stuck")
    assert result.failure is FailureReason.BAD_RESPONSE


def test_missing_sysuptime_is_a_bad_response() -> None:
    mib = good_mib()
    del mib[UPTIME]
    assert poll_fake(mib)[0].failure is FailureReason.BAD_RESPONSE


def test_wrong_types_and_missing_rows_leave_values_empty_and_rates_report_it() -> None:
    mib = good_mib()
    mib[(*snmp.IF_HC_IN_OCTETS, 2)] = (OCTETS, b"12345")  # a string where a counter belongs
    mib[(*snmp.IF_HC_OUT_OCTETS, 2)] = (OCTETS, b"oops")
    del mib[(*snmp.IF_HIGH_SPEED, 2)]  # missing row
    result, _ = poll_fake(mib)
    wan = result.sample("wan")
    assert result.failure is None and wan is not None
    assert wan.in_octets is None and wan.out_octets is None and wan.speed_bps is None
    link = Link("wan", "agent", "peer", Medium.FIBRE, 0.0, 0.0, None, LinkRole.PRIMARY)
    rates = RateTracker({"wan": link}).update(Device("fake", "agent", "127.0.0.1", (), None,
                                                     (WAN,)), result)["wan"]  # fmt: skip
    assert rates.failure is FailureReason.BAD_RESPONSE


@needs_lab
def test_pysnmp_debug_output_does_not_carry_v3_keys(lab: Lab) -> None:
    from pysnmp import debug as pysnmp_debug  # only to switch its debug on, as a user might

    lines: list[str] = []
    pysnmp_debug.set_logger(pysnmp_debug.Debug("all", printer=lines.append))
    try:
        # MD5: a user on pysnmp's path (the fast path never calls pysnmp)
        assert poll(device(DATA0), md5()).failure is None
        assert poll(device(DATA0), md5("bad", auth_env=ENV_WRONG)).failure is not None
    finally:
        pysnmp_debug.set_logger(0)
    dump = "\n".join(lines)
    assert "usm" in dump.lower()  # debug was on and saw the v3 exchanges
    for name in ("auth", "priv", "wrong"):
        assert lab.secrets[name] not in dump


def test_max_repetitions_learned_from_ifnumber_make_later_polls_one_request() -> None:
    # 40 rows: the first poll (16 repetitions) needs 3 GETBULKs, later ones exactly one
    first, _ = poll_fake(good_mib(extra_interfaces=38))
    later, stats = poll_fake(good_mib(extra_interfaces=38), polls=2)
    assert first.requests == 3 and first.sample("wan") is not None
    assert later.requests == 1 and later.sample("wan") is not None
    assert stats["requests"] == 4 and stats["responses"] == 4


def test_a_name_instead_of_an_address_is_an_error_result_without_a_dns_lookup() -> None:
    async def run() -> SnmpResult:
        async with SnmpEngine() as engine:
            named = Device("named", "agent", "rtr-1.invalid", (), None, (WAN,))
            return await engine.poll(named, v2c("fake", "VCMON_TEST_UNUSED"), MODULE, 1161)

    started = time.monotonic()
    result = asyncio.run(run())
    assert result.failure is FailureReason.ERROR and result.requests == 0
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "auth,message",
    [
        (Auth("half", SnmpVersion.V3, username="u", auth_protocol="sha"), "go together"),
        (
            Auth(
                "md4",
                SnmpVersion.V3,
                username="u",
                auth_protocol="md4",
                auth_key=SecretRef(SecretKind.ENV, "X"),
            ),
            "md4' is not supported",
        ),
        (Auth("nocomm", SnmpVersion.V2C), "needs a community"),
    ],
)
def test_incomplete_or_unknown_auth_is_a_setup_error_naming_the_auth(
    auth: Auth, message: str
) -> None:
    os.environ["X"] = "not-used-before-the-check"

    async def run() -> None:
        async with SnmpEngine() as engine:
            await engine.poll(Device("d", "s", "127.0.0.1", (), None, (WAN,)), auth, MODULE, 1161)

    try:
        with pytest.raises(ProbeSetupError, match=message) as raised:
            asyncio.run(run())
    finally:
        del os.environ["X"]
    assert repr(auth.name) in str(raised.value)
