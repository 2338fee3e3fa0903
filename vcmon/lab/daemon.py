"""The lab's one long-running process: ICMP responder, background traffic, SNMP agents and
timed scenario events, all driven by one loop (`responder.Loop`).

Started by `vcmon.lab.up` as `python -m vcmon.lab.daemon STATE_DIR`; reads STATE_DIR/daemon.json,
writes STATE_DIR/daemon.ready once every socket is open and every agent started, appends
each executed event to STATE_DIR/events.jsonl, and stops its agents on SIGTERM.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from vcmon.errors import LabError
from vcmon.lab import netns
from vcmon.lab.responder import Loop, LossGate, open_raw_socket
from vcmon.lab.scenario import Loss
from vcmon.lab.traffic import FLOW_TICK_S, Flow


def _loss(raw: dict[str, Any]) -> Loss:
    return Loss(float(raw["ratio"]), int(raw["drop"]), int(raw["every"]))


AGENT_START_S = 30.0


class Daemon:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.spec = json.loads((state_dir / "daemon.json").read_text())
        self.loop = Loop(int(self.spec.get("seed", 0)))
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.flows: list[Flow] = []
        self.sockets: list[socket.socket] = []
        self.realtime = False
        self.absent: set[tuple[str, str]] = set()
        """Veth ends deleted by a reboot in progress."""
        self.links_down: set[tuple[str, str]] = set()
        self.rates: dict[tuple[str, str], float] = {}
        """Rates changed by events, so a rebooted device's links come back at them."""
        self.routes: dict[str, list[str]] = self.spec.get("routes", {})
        """Each site namespace's routes (`ip route` arguments) with today's links down."""

    def start(self) -> None:
        began = time.monotonic()
        for ns, targets in self.spec["responders"].items():
            sock = netns.in_netns(ns, open_raw_socket)
            self.sockets.append(sock)
            self.loop.add_socket(sock)
            for t in targets:
                self.loop.add_target(t["address"], t["delay_s"], t["jitter_s"], _loss(t["loss"]))
        sockets_done = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:  # process start-up is the cost
            list(pool.map(self.start_agent, self.spec["agents"]))
        spawned = time.monotonic()
        # Real-time priority keeps reply timing exact while the machine is busy (tests,
        # builds); the loop sleeps in select(2), so it cannot starve anything (and RT
        # throttling caps it). Set after the first agents start, so they do not inherit it.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            self.realtime = True
        self.flows = [Flow(f) for f in self.spec["flows"]]
        if self.flows:
            self.loop.at(time.monotonic(), self.tick_flows)
        late = self.wait_agents(AGENT_START_S)
        timings = {
            "sockets_s": sockets_done - began,
            "agents_spawn_s": spawned - sockets_done,
            "agents_listening_s": time.monotonic() - spawned,
        }
        t0 = time.time()
        mono0 = time.monotonic()
        for ev in self.spec["events"]:
            self.loop.at(mono0 + float(ev["at_s"]), functools.partial(self.run_event, ev, t0))
        ready = {
            "t0": t0,
            "agents": {ns: p.pid for ns, p in self.agents.items()},
            "late": late,
            "timings": timings,
        }
        (self.dir / "daemon.ready").write_text(json.dumps(ready))

    def tick_flows(self) -> None:
        now = time.monotonic()
        for flow in self.flows:
            flow.tick(now)
        self.loop.at(now + FLOW_TICK_S, self.tick_flows)

    def start_agent(self, ns: str) -> None:
        a = self.spec["agents"][ns]
        # MIBS="": Debian ships no MIB text files; numeric OIDs only, and a quiet log.
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "SNMP_PERSISTENT_DIR": a["persist"],
            "MIBS": "",
        }
        # Agents restarted later must not inherit the responder's real-time priority.
        argv = ["chrt", "--other", "0", *a["argv"]] if self.realtime else a["argv"]
        self.agents[ns] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop_agent(self, ns: str) -> None:
        proc = self.agents.pop(ns, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def run_event(self, ev: dict[str, Any], t0: float) -> None:
        action, error = ev["action"], ""
        try:
            if action in ("link_down", "link_up"):
                state = "down" if action == "link_down" else "up"
                for ns, dev in ev["ends"]:
                    if state == "down":
                        self.links_down.add((ns, dev))
                    else:
                        self.links_down.discard((ns, dev))
                    if (ns, dev) not in self.absent:  # a rebooting device's: boot decides
                        netns.ip_batch([f"link set dev {dev} {state}"], ns)
                error = self.reroute(ev["routes"])
                for address, delay_s in ev["delays"].items():
                    self.loop.targets[socket.inet_aton(address)].delay_s = delay_s
            elif action == "rate":
                for ns, dev, bps in ev["rates"]:
                    self.rates[(ns, dev)] = bps
                    if (ns, dev) not in self.absent:  # else boot applies it
                        netns.tc_batch([netns.tbf(dev, bps, "change")], ns)
            elif action == "agent_down":
                self.stop_agent(ev["ns"])
            elif action == "agent_up":
                if ev["ns"] not in self.agents:
                    self.start_agent(ev["ns"])
            elif action == "reboot":
                self.stop_agent(ev["ns"])
                for ns, dev in ev["delete"]:
                    netns.ip_batch([f"link del dev {dev}"], ns)
                self.absent |= {(ns, dev) for ns, dev in ev["ends"]}
                back = time.monotonic() + float(ev.get("duration_s", 0.0))
                self.loop.at(back, functools.partial(self.boot, ev))
            elif action == "loss_burst":
                until = time.monotonic() + float(ev["duration_s"])
                for addr in ev["addresses"]:
                    state_ = self.loop.targets[socket.inet_aton(addr)]
                    state_.burst = LossGate(_loss(ev["loss"]), self.loop.rng)
                    state_.burst_until = until
        except Exception as exc:  # one failed event is logged, never stops the lab
            error = str(exc)
        record = {"at_s": ev["at_s"], "action": action, "target": ev["target"]}
        record |= {"done_at": time.time(), "offset_s": time.time() - t0, "error": error}
        with (self.dir / "events.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")

    def reroute(self, tables: dict[str, list[str]]) -> str:
        """Install these namespaces' routes in place of theirs; returns an error or "".

        The kernel already dropped the routes through a link set down, and never puts them
        back when it comes up: both are the planned tables' job.
        """
        errors = []
        for ns, specs in tables.items():
            keep = {spec.split(" ", 1)[0] for spec in specs}
            gone = [s for s in self.routes.get(ns, []) if s.split(" ", 1)[0] not in keep]
            self.routes[ns] = specs
            # Deleting a route the kernel dropped already fails, harmlessly.
            with contextlib.suppress(LabError):
                netns.ip_batch([f"route del {s}" for s in gone], ns, force=True)
            try:
                netns.ip_batch([f"route replace {s}" for s in specs], ns, force=True)
            except LabError as exc:
                if not any(n == ns for n, _ in self.absent):  # a rebooting one: boot redoes it
                    errors.append(str(exc))
        return "; ".join(errors)

    def boot(self, ev: dict[str, Any]) -> None:
        """The second half of a reboot: veths back (fresh counters, current rates), agent
        restarted (sysUpTime from zero)."""
        self.absent -= {(ns, dev) for ns, dev in ev["ends"]}
        try:
            netns.ip_batch([c["create"] for c in ev["rebuild"]])
            for c in ev["rebuild"]:
                for ns, lines in c["ip"].items():
                    netns.ip_batch(lines, ns)
                for ns, dev, bps in c["shape"]:
                    netns.tc_batch([netns.tbf(dev, self.rates.get((ns, dev), bps))], ns)
            for ns, dev in ev["ends"]:
                if (ns, dev) in self.links_down:  # a reboot does not mend a cut line
                    netns.ip_batch([f"link set dev {dev} down"], ns)
            self.reroute({ns: self.routes[ns] for ns, _ in ev["ends"] if ns in self.routes})
        finally:
            self.start_agent(ev["ns"])

    def wait_agents(self, timeout_s: float) -> list[str]:
        """Wait until each agent wrote its pid file (once listening); return those that did not."""
        deadline = time.monotonic() + timeout_s
        pending = dict(self.spec["agents"])
        while pending and time.monotonic() < deadline:
            pending = {ns: a for ns, a in pending.items() if not Path(a["pidfile"]).exists()}
            time.sleep(0.05)
        return sorted(pending)

    def stop(self) -> None:
        """Stop every agent at once (one by one would take 190 x its exit time)."""
        procs = list(self.agents.values())
        self.agents.clear()
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + 3
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str]) -> int:
    state_dir = Path(argv[1])
    # Detach: the caller waits for this launcher only, and the daemon, reparented to init,
    # never becomes a zombie of (or a resource warning in) the process that ran `up`.
    child = os.fork()
    if child:
        (state_dir / "daemon.pid").write_text(str(child))
        return 0
    os.setsid()
    daemon = Daemon(state_dir)

    def on_term(signum: int, frame: FrameType | None) -> None:
        daemon.loop.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        daemon.start()
        daemon.loop.run()
    finally:
        daemon.stop()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
