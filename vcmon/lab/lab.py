"""Bring the lab up and down: execute a `LabPlan`, keep a state file of what was made,
roll back on failure, and write the ground truth of what was injected."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vcmon.errors import LabError
from vcmon.lab import agents, netns
from vcmon.lab.plan import (
    BRIDGE_ADDR,
    NOC_ADDR,
    LabPlan,
    Namespace,
    Route,
    Veth,
    build_plan,
    lab_paths,
    site_delays,
    tree_routes,
)
from vcmon.lab.scenario import Action, Loss, Scenario, load_scenario
from vcmon.lab.traffic import FLOW_PAYLOAD, WIRE_OVERHEAD
from vcmon.model import Inventory
from vcmon.topology import Routes

STATE = "state.json"
TRUTH = "truth.json"
_OUR_FILES = (
    STATE, TRUTH, "daemon.json", "daemon.pid", "daemon.ready", "daemon.log", "events.jsonl",
)  # fmt: skip
READY_TIMEOUT_S = 60.0
PARALLEL = 8
"""Concurrent `ip`/`tc`/agent starts: enough to keep 2 cores busy through process start-up."""


@dataclass(frozen=True, slots=True)
class LabState:
    """What `up` made, as recorded in STATE_DIR/state.json."""

    state_dir: Path
    prefix: str
    namespaces: tuple[str, ...]
    noc: str
    bridge: str
    daemon_pid: int
    started_at: float
    truth: Path
    """The ground-truth JSON (what was injected)."""


@dataclass(frozen=True, slots=True)
class LabStatus:
    up: bool
    prefix: str
    namespaces_present: int
    namespaces_missing: tuple[str, ...]
    daemon_alive: bool
    agents_alive: int
    agents_expected: int
    uptime_s: float
    events_done: int
    events_planned: int
    links_down: tuple[str, ...] = ()
    """Links cut by the scenario's `link_down` events so far and not yet mended."""


def _loss_json(loss: Loss) -> dict[str, Any]:
    return {"ratio": loss.ratio, "drop": loss.drop, "every": loss.every}


def _pattern(loss: Loss) -> str | None:
    return f"{loss.drop}/{loss.every}" if loss.deterministic else None


def _key(plan: LabPlan, scenario: Scenario) -> str:
    return hashlib.sha256(repr((plan, scenario.events)).encode()).hexdigest()[:16]


def _alive(pid: int, marker: str) -> bool:
    """Is pid running and ours (its command line names our state dir)?"""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "vcmon.lab.daemon" in cmd and marker in cmd


def read_state(state_dir: str | Path) -> dict[str, Any] | None:
    path = Path(state_dir) / STATE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: unreadable lab state ({exc}); remove it by hand") from None
    return data


def _write_state(state_dir: Path, data: dict[str, Any]) -> None:
    tmp = state_dir / (STATE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(state_dir / STATE)


def _to_state(state_dir: Path, data: dict[str, Any]) -> LabState:
    return LabState(
        state_dir,
        data["prefix"],
        tuple(data["namespaces"]),
        data["noc"],
        data["bridge"],
        int(data.get("daemon_pid", 0)),
        float(data.get("started_at", 0.0)),
        state_dir / TRUTH,
    )


def up(
    inventory: Inventory,
    scenario: Scenario | str | Path | None = None,
    *,
    state_dir: str | Path,
    prefix: str = "vl-",
) -> LabState:
    """Build the lab for `inventory`; idempotent for the same inventory and scenario.

    Raises LabError (not root, missing program, a namespace that is not ours, a lab already
    up with another inventory, any failure while building, after rolling back).
    """
    netns.require_root()
    netns.require_programs(["ip", "tc", "snmpd", "nsenter"])
    sc = scenario if isinstance(scenario, Scenario) else (
        load_scenario(scenario) if scenario is not None else Scenario()
    )  # fmt: skip
    plan = build_plan(inventory, sc, prefix)
    tree = _tree(plan, lab_paths(inventory))
    events = _resolve_events(plan, inventory, sc, tree)
    key = _key(plan, sc)
    sdir = Path(state_dir).resolve()
    old = read_state(sdir)
    if old is not None:
        if (
            old.get("key") == key
            and old.get("status") == "up"
            and _alive(int(old.get("daemon_pid", 0)), str(sdir))
            and set(old["namespaces"]) <= netns.list_netns()
        ):
            return _to_state(sdir, old)
        raise LabError(
            f"a lab (prefix {old.get('prefix')}) is already recorded in {sdir}: "
            "run `vcmon lab down` first"
        )
    names = [n.name for n in plan.namespaces]
    clash = sorted(set(names) & netns.list_netns())
    if clash:
        raise LabError(
            f"namespace {clash[0]} exists but this lab did not create it; refusing to touch it "
            "(choose another --prefix)"
        )
    need_agents = any(n.agent for n in plan.namespaces)
    secrets = agents.secrets_from_env() if need_agents else None
    sdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "status": "building",
        "key": key,
        "prefix": prefix,
        "namespaces": names,
        "noc": plan.noc,
        "bridge": plan.bridge,
        "daemon_pid": 0,
    }
    _write_state(sdir, state)
    try:
        started = time.monotonic()
        _build(plan)
        built = time.monotonic()
        spec = _daemon_spec(plan, tree, sc, events, sdir, secrets)
        (sdir / "daemon.json").write_text(json.dumps(spec))
        pid, t0 = _start_daemon(sdir, state)
        timings = {"build_s": built - started, "daemon_s": time.monotonic() - built}
        state |= {"status": "up", "daemon_pid": pid, "started_at": t0, "timings": timings}
        _write_truth(sdir / TRUTH, plan, inventory, sc, events, t0)
        _write_state(sdir, state)
    except BaseException as exc:
        with contextlib.suppress(LabError):
            down(sdir)
        if isinstance(exc, LabError):
            raise LabError(f"{exc} (lab rolled back)") from None
        raise
    return _to_state(sdir, state)


def _route_spec(r: Route) -> str:
    return f"{r.dest} via {r.via}" + (f" src {r.src}" if r.src else "")


def _veth_commands(
    plan: LabPlan, v: Veth, leave: Mapping[str, tuple[Route, ...]] | None = None
) -> dict[str, Any]:
    """Everything that makes one veth: the creating line (root namespace batch), and per
    end namespace its address, alias, up and the routes through it (but those in `leave`),
    and its shaping."""
    create = (
        f"link add {v.child.ifname} netns {v.child.ns} type veth "
        f"peer name {v.parent.ifname} netns {v.parent.ns}"
    )
    peers = {v.child.address, v.parent.address}
    ip: dict[str, list[str]] = {}
    shape = []
    for end in (v.child, v.parent):
        lines = ip.setdefault(end.ns, [])
        lines.append(f"addr add {end.address}/31 dev {end.ifname}")
        if end.alias:
            lines.append(f'link set dev {end.ifname} alias "{end.alias}"')
        lines.append(f"link set dev {end.ifname} up")
        if end.rate_bps is not None:
            shape.append([end.ns, end.ifname, end.rate_bps])
    for end in (v.child, v.parent):
        skip = leave.get(end.ns, ()) if leave else ()
        ip[end.ns] += [
            f"route add {_route_spec(r)}"
            for r in plan.ns(end.ns).routes
            if r.via in peers and r not in skip
        ]
    return {"create": create, "ip": ip, "shape": shape}


def _build(plan: LabPlan) -> None:
    commands = [_veth_commands(plan, v) for v in plan.veths]
    netns.ip_batch([f"netns add {n.name}" for n in plan.namespaces])
    netns.ip_batch([c["create"] for c in commands])

    def configure(ns: Namespace) -> None:
        lines = ["link set lo up"] + [f"addr add {a}/32 dev lo" for a in ns.addresses]
        lines += [f"route add local {p} dev lo" for p in ns.local]
        shaping = []
        for c in commands:
            lines += c["ip"].get(ns.name, [])
            shaping += [netns.tbf(dev, bps) for n, dev, bps in c["shape"] if n == ns.name]
        netns.ip_batch(lines, ns.name)
        netns.tc_batch(shaping, ns.name)
        sysctls = {"net.ipv4.icmp_ratelimit": "0"}
        if ns.router:
            sysctls["net.ipv4.ip_forward"] = "1"
        if plan.targets.get(ns.name):
            sysctls["net.ipv4.icmp_echo_ignore_all"] = "1"
        if ns.role == "noc":
            sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
        netns.write_sysctls(ns.name, sysctls)

    # Namespaces are independent once their veths exist: configure them on every core.
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(configure, plan.namespaces))


def _tree(plan: LabPlan, paths: Routes) -> dict[str, tuple[Route, ...]]:
    """Every site namespace's routes along `paths` (see `tree_routes`); a site cut off has
    none."""
    own = {n.site: n.addresses for n in plan.namespaces if n.site is not None}
    tree = tree_routes(paths, plan.prefix, {v.link: v for v in plan.veths}, own)
    return {plan.site_ns(code): tree.get(plan.site_ns(code), ()) for code in own}


def _resolve_events(
    plan: LabPlan, inv: Inventory, sc: Scenario, initial: Mapping[str, tuple[Route, ...]]
) -> list[dict[str, Any]]:
    """The scenario's events with everything the daemon needs to run them, without the
    inventory: interface names, addresses, and after each link event the routes of every
    namespace it changes (traffic moves onto a backup link, or back, as vcmon routes it),
    from the `initial` routes with nothing failed."""
    veths = {v.link: v for v in plan.veths}
    agent_ns = {n.name for n in plan.namespaces if n.agent}
    failed: set[str] = set()
    tables = initial
    delays = {ts[0].site: ts[0].delay_s for ts in plan.targets.values() if ts and ts[0].site}
    out: list[dict[str, Any]] = []
    for ev in sc.events:
        rec: dict[str, Any] = {"at_s": ev.at_s, "action": ev.action.value, "target": ev.target}
        if ev.action in (Action.LINK_DOWN, Action.LINK_UP, Action.RATE):
            v = veths[ev.target]
            rec["ends"] = [[v.child.ns, v.child.ifname], [v.parent.ns, v.parent.ifname]]
            if ev.action is not Action.RATE:
                if ev.action is Action.LINK_DOWN:
                    failed.add(ev.target)
                else:
                    failed.discard(ev.target)
                paths = lab_paths(inv, failed)
                now = _tree(plan, paths)
                rec["routes"] = {
                    ns: [_route_spec(r) for r in routes]
                    for ns, routes in now.items()
                    if routes != tables[ns]
                }
                tables = now
                # A site on another path answers with that path's latency.
                moved = site_delays(inv, sc, paths)
                rec["site_delays"] = {c: d for c, d in moved.items() if d != delays.get(c)}
                rec["delays"] = {
                    t.address: d
                    for c, d in rec["site_delays"].items()
                    for t in plan.targets[plan.site_ns(c)]
                }
                delays |= moved
            rates = [
                [v.child.ns, v.child.ifname, ev.up_bps],
                [v.parent.ns, v.parent.ifname, ev.down_bps],
            ]
            rec["rates"] = [r for r in rates if r[2] is not None]
            rec |= {"up_bps": ev.up_bps, "down_bps": ev.down_bps}
        elif ev.action is Action.LOSS_BURST:
            assert ev.loss is not None
            rec["addresses"] = [t.address for t in plan.targets[plan.site_ns(ev.target)]]
            rec |= {"loss": _loss_json(ev.loss), "duration_s": ev.duration_s}
        else:
            ns = plan.site_ns(inv.devices[ev.target].site)
            if ns not in agent_ns:
                raise LabError(f"{sc.source}:{ev.line}: device {ev.target} has no lab agent")
            rec["ns"] = ns
            if ev.action is Action.REBOOT:
                # A reboot recreates the device's veths, so its counters restart from zero.
                mine = [v for v in plan.veths if ns in (v.child.ns, v.parent.ns)]
                rec["delete"] = [[v.child.ns, v.child.ifname] for v in mine]
                rec["ends"] = [[e.ns, e.ifname] for v in mine for e in (v.child, v.parent)]
                # Routes along the site tree are the daemon's: it knows which links are down.
                rec["rebuild"] = [_veth_commands(plan, v, initial) for v in mine]
                rec["duration_s"] = ev.duration_s
        out.append(rec)
    return out


def _daemon_spec(
    plan: LabPlan,
    tree: Mapping[str, tuple[Route, ...]],
    sc: Scenario,
    events: list[dict[str, Any]],
    sdir: Path,
    secrets: agents.Secrets | None,
) -> dict[str, Any]:
    adir = sdir / "agents"
    adir.mkdir(mode=0o700, exist_ok=True)
    agent_specs: dict[str, Any] = {}
    for ns in plan.namespaces:
        if not ns.agent or secrets is None:
            continue
        conf, persist = adir / f"{ns.name}.conf", adir / ns.name
        persist.mkdir(mode=0o700, exist_ok=True)
        agents.write_config(conf, secrets, ns.sys_name, ns.location)
        argv = agents.agent_argv(ns.name, conf, adir / f"{ns.name}.pid", adir / f"{ns.name}.log")
        pidfile = adir / f"{ns.name}.pid"
        agent_specs[ns.name] = {"argv": argv, "persist": str(persist), "pidfile": str(pidfile)}
    flows = []
    for v in plan.veths:
        if v.background_up_bps > 0:
            flows.append({"src_ns": v.child.ns, "src_addr": v.child.address,
                          "dst_ns": v.parent.ns, "dst_addr": v.parent.address,
                          "bps": v.background_up_bps})  # fmt: skip
        if v.background_down_bps > 0:
            flows.append({"src_ns": v.parent.ns, "src_addr": v.parent.address,
                          "dst_ns": v.child.ns, "dst_addr": v.child.address,
                          "bps": v.background_down_bps})  # fmt: skip
    responders = {
        ns: [
            {
                "address": t.address,
                "delay_s": t.delay_s,
                "jitter_s": t.jitter_s,
                "loss": _loss_json(t.loss),
            }
            for t in targets
        ]
        for ns, targets in plan.targets.items()
        if targets
    }
    return {
        "seed": sc.seed,
        "routes": {ns: [_route_spec(r) for r in routes] for ns, routes in tree.items()},
        "responders": responders,
        "agents": agent_specs,
        "flows": flows,
        "events": events,
    }


def _start_daemon(sdir: Path, state: dict[str, Any]) -> tuple[int, float]:
    env = dict(os.environ)
    # The daemon needs no secrets: they are already in the 0600 agent configs.
    for var in (agents.ENV_COMMUNITY, agents.ENV_AUTH_KEY, agents.ENV_PRIV_KEY):
        env.pop(var, None)
    with (sdir / "daemon.log").open("wb") as log:
        launcher = subprocess.run(
            [sys.executable, "-m", "vcmon.lab.daemon", str(sdir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, check=False,
        )  # fmt: skip
    pid_file = sdir / "daemon.pid"
    if launcher.returncode != 0 or not pid_file.exists():
        raise LabError(f"lab daemon did not start: {_log_tail(sdir)}")
    pid = int(pid_file.read_text())
    state["daemon_pid"] = pid
    _write_state(sdir, state)
    ready = sdir / "daemon.ready"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if not _alive(pid, str(sdir)):
            raise LabError(f"lab daemon exited during start: {_log_tail(sdir)}")
        if time.monotonic() > deadline:
            raise LabError(f"lab daemon not ready after {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    t0 = float(json.loads(ready.read_text())["t0"])
    return pid, t0


def _log_tail(sdir: Path) -> str:
    lines = (sdir / "daemon.log").read_text(errors="replace").strip().splitlines()
    return " / ".join(line.strip() for line in lines[-3:]) or "no output"


def _write_truth(
    path: Path,
    plan: LabPlan,
    inv: Inventory,
    sc: Scenario,
    resolved: list[dict[str, Any]],
    t0: float,
) -> None:
    sites = {}
    for ns in plan.namespaces:
        if ns.site is None:
            continue
        targets = plan.targets.get(ns.name, ())
        t = targets[0] if targets else None
        sites[ns.site] = {
            "namespace": ns.name,
            "addresses": list(ns.addresses),
            "delay_s": t.delay_s if t else None,
            "jitter_s": t.jitter_s if t else None,
            "loss_ratio": t.loss.ratio if t else None,
            "loss_pattern": _pattern(t.loss) if t else None,
            "agent": ns.agent,
        }
    links = {
        v.link: {
            "up_bps": v.child.rate_bps,
            "down_bps": v.parent.rate_bps,
            "background_up_bps": v.background_up_bps,
            "background_down_bps": v.background_down_bps,
            "routed": v.routed,
            "child": asdict(v.child),
            "parent": asdict(v.parent),
        }
        for v in plan.veths
    }
    events = [
        {
            "at_s": e.at_s,
            "at": t0 + e.at_s,
            "action": e.action.value,
            "target": e.target,
            "up_bps": e.up_bps,
            "down_bps": e.down_bps,
            "duration_s": e.duration_s,
            "loss_ratio": e.loss.ratio if e.loss else None,
            "loss_pattern": _pattern(e.loss) if e.loss else None,
            "site_delays_s": r.get("site_delays", {}),
        }
        for e, r in zip(sc.events, resolved, strict=True)
    ]
    flat_ns = f"{plan.prefix}flat"
    truth = {
        "prefix": plan.prefix,
        "started_at": t0,
        "inventory": [str(s) for s in inv.sources],
        "scenario": sc.source,
        "noc": {"namespace": plan.noc, "address": NOC_ADDR},
        "bridge": {"namespace": plan.bridge, "address": BRIDGE_ADDR},
        "background": {
            "payload_bytes": FLOW_PAYLOAD,
            "wire_overhead_bytes": WIRE_OVERHEAD,
            "note": "background rates are L2 (interface counter) bits/s",
        },
        "sites": sites,
        "links": links,
        "events": events,
        "flat": (
            {
                "namespace": flat_ns,
                "targets": [t.address for t in plan.targets[flat_ns]],
                "delay_s": sc.flat.delay_s,
                "jitter_s": sc.flat.jitter_s,
                "loss_ratio": sc.flat.loss.ratio,
            }
            if sc.flat
            else None
        ),
    }
    path.write_text(json.dumps(truth, indent=1, ensure_ascii=False))


def down(state_dir: str | Path) -> None:
    """Remove everything the recorded lab made: its processes, namespaces (and so their
    veths) and files. Touches nothing it did not record; a no-op when nothing is recorded."""
    netns.require_root()
    sdir = Path(state_dir).resolve()
    state = read_state(sdir)
    if state is None:
        return
    pid = int(state.get("daemon_pid", 0))
    if pid and _alive(pid, str(sdir)):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(pid, str(sdir)) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid, str(sdir)):
            os.kill(pid, signal.SIGKILL)
    ours = [n for n in state["namespaces"] if n in netns.list_netns()]
    # Whatever still runs inside our namespaces was started by the lab (agents orphaned by a
    # crashed daemon, `lab exec` commands): it must go, or the namespace outlives `down`.
    for pid in netns.pids_in(ours):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    netns.ip_batch([f"netns del {n}" for n in ours])
    shutil.rmtree(sdir / "agents", ignore_errors=True)
    for name in _OUR_FILES:
        (sdir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: someone else's files live there too
        sdir.rmdir()


def _agent_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        return Path(f"/proc/{pid}/comm").read_text().strip() == "snmpd"
    except (OSError, ValueError, IndexError):
        return False


def status(state_dir: str | Path) -> LabStatus | None:
    """What is up now, compared with what was recorded; None when no lab is recorded."""
    sdir = Path(state_dir).resolve()
    state = read_state(sdir)
    if state is None:
        return None
    present = netns.list_netns()
    missing = tuple(n for n in state["namespaces"] if n not in present)
    alive = _alive(int(state.get("daemon_pid", 0)), str(sdir))
    ready_path = sdir / "daemon.ready"
    agent_pids: dict[str, int] = (
        json.loads(ready_path.read_text())["agents"] if ready_path.exists() else {}
    )
    agents_alive = sum(1 for ns in agent_pids if _agent_alive(sdir / "agents" / f"{ns}.pid"))
    events_path = sdir / "events.jsonl"
    done_events = (
        [json.loads(line) for line in events_path.read_text().splitlines()]
        if events_path.exists()
        else []
    )
    links_down: dict[str, None] = {}
    for ev in done_events:
        if ev["action"] == "link_down":
            links_down[ev["target"]] = None
        elif ev["action"] == "link_up":
            links_down.pop(ev["target"], None)
    spec_path = sdir / "daemon.json"
    planned = len(json.loads(spec_path.read_text())["events"]) if spec_path.exists() else 0
    started = float(state.get("started_at", 0.0))
    return LabStatus(
        up=state.get("status") == "up" and alive and not missing,
        prefix=state["prefix"],
        namespaces_present=len(state["namespaces"]) - len(missing),
        namespaces_missing=missing,
        daemon_alive=alive,
        agents_alive=agents_alive,
        agents_expected=len(agent_pids),
        uptime_s=time.time() - started if started else 0.0,
        events_done=len(done_events),
        events_planned=planned,
        links_down=tuple(links_down),
    )


def exec_in_noc(state_dir: str | Path, argv: list[str]) -> int:
    """Run a command in the NOC namespace (where vcmon probes from); its exit code."""
    state = read_state(Path(state_dir).resolve())
    if state is None or state.get("status") != "up":
        raise LabError(f"no lab is up in {state_dir}: run `vcmon lab up` first")
    if not argv:
        raise LabError("lab exec needs a command, e.g. vcmon lab exec -- ping 198.18.0.1")
    return subprocess.run(["ip", "netns", "exec", state["noc"], *argv], check=False).returncode
