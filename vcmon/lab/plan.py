"""Pure planning: (inventory, scenario, prefix) -> every namespace, veth, address, route,
shaper, responder target and agent the lab will create. No I/O, so it is unit-tested
with literal inventories and the executor (`vcmon.lab.netns`) stays a dumb loop.

Addressing (all inside 198.18.0.0/15, the benchmarking range of RFC 2544):

    198.18.0.0/16 and 198.19.0.0/17 minus the lab's own: inventory device addresses
    198.19.0.0/17      transit /31 per inventory link, in inventory order
    198.19.128.0/18    flat-mode ping targets
    198.19.254.0/24    NOC / bridge / flat transit /31s
    198.19.255.1, .2   the NOC and the conference bridge
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from vcmon import topology
from vcmon.errors import LabError
from vcmon.lab.scenario import Action, Loss, Scenario, SiteImpairment
from vcmon.model import InterfaceMatch, Inventory, Level, LinkRole

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
RESERVED = ipaddress.ip_network("198.19.0.0/16")
TRANSIT = ipaddress.ip_network("198.19.0.0/17")
FLAT = ipaddress.ip_network("198.19.128.0/18")
NOC_ADDR = "198.19.255.1"
BRIDGE_ADDR = "198.19.255.2"
_HOST_TRANSIT = ipaddress.ip_address("198.19.254.0")
IFNAMSIZ = 15
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,7}-$")
_CODE = re.compile(r"^[A-Za-z0-9_.]{1,20}$")
_LAB_NAMES = {"noc", "bridge", "flat"}
"""The lab's own namespaces: no site may take their names."""


@dataclass(frozen=True, slots=True)
class Route:
    dest: str
    via: str
    src: str | None = None


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    site: str | None
    """Inventory site code; None for the lab's own NOC, bridge and flat namespaces."""
    role: str
    """noc | bridge | flat | site."""
    addresses: tuple[str, ...] = ()
    """/32s on lo: the site's device addresses (the probe targets)."""
    routes: tuple[Route, ...] = ()
    local: tuple[str, ...] = ()
    """Prefixes made local as a whole (`route add local P dev lo`): flat mode's targets,
    O(1) to add where 10,000 /32s on lo take the kernel seconds."""
    router: bool = False
    agent: bool = False
    sys_name: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True)
class End:
    ns: str
    ifname: str
    address: str
    rate_bps: float | None
    """Egress shaping on this end (tbf); None: unshaped."""
    alias: str = ""


@dataclass(frozen=True, slots=True)
class Veth:
    link: str
    """Inventory link id, or `noc` / `bridge` / `flat` for the lab's own links."""
    child: End
    parent: End
    routed: bool
    background_up_bps: float = 0.0
    background_down_bps: float = 0.0


@dataclass(frozen=True, slots=True)
class Target:
    """One address the user-space responder answers for, with its impairment."""

    address: str
    site: str | None
    delay_s: float
    jitter_s: float
    loss: Loss


@dataclass(frozen=True, slots=True)
class LabPlan:
    prefix: str
    namespaces: tuple[Namespace, ...]
    veths: tuple[Veth, ...]
    targets: dict[str, tuple[Target, ...]] = field(default_factory=dict)
    """Namespace name -> the addresses its responder answers for."""
    noc: str = ""
    bridge: str = ""

    def ns(self, name: str) -> Namespace:
        return next(n for n in self.namespaces if n.name == name)

    def site_ns(self, code: str) -> str:
        return f"{self.prefix}{code}"


def check_prefix(prefix: str) -> None:
    """A run prefix is short, lower-case and ends in '-' so names read `vl3f2a-522`.

    >>> check_prefix("vl3f2a-")
    >>> check_prefix("Lab")
    Traceback (most recent call last):
    ...
    vcmon.errors.LabError: lab prefix 'Lab' must match [a-z][a-z0-9]{0,7}- (e.g. vl3f2a-)
    """
    if not _PREFIX.match(prefix):
        raise LabError(f"lab prefix {prefix!r} must match [a-z][a-z0-9]{{0,7}}- (e.g. vl3f2a-)")


def _where(inv: Inventory) -> str:
    return str(inv.sources[0]) if inv.sources else "inventory"


def build_plan(inv: Inventory, scenario: Scenario, prefix: str) -> LabPlan:
    """Lay the inventory out as namespaces and veths. Raises LabError naming the problem."""
    check_prefix(prefix)
    where = _where(inv)
    for code in inv.sites:
        if not _CODE.match(code) or code in _LAB_NAMES:
            raise LabError(f"{where}: site code {code!r} cannot name a lab namespace")
    _check_scenario_refs(inv, scenario)
    links_at = Counter(code for ln in inv.links.values() for code in (ln.site, ln.to))
    root = inv.conference.bridge
    if root not in inv.sites:
        raise LabError(f"{where}: conference bridge site {root!r} is not a site")

    addresses: dict[str, list[str]] = {code: [] for code in inv.sites}
    seen: dict[str, str] = {}
    for dev in inv.devices.values():
        try:
            ip = ipaddress.ip_address(dev.address)
        except ValueError:
            raise LabError(f"{where}: device {dev.name}: bad address {dev.address!r}") from None
        if ip not in LAB_NET:
            raise LabError(
                f"{where}: device {dev.name}: address {ip} is outside 198.18.0.0/15; "
                "the lab only uses that range"
            )
        if ip in RESERVED:
            raise LabError(
                f"{where}: device {dev.name}: address {ip} is in 198.19.0.0/16, "
                "which the lab reserves for its transit links"
            )
        if str(ip) in seen:
            raise LabError(f"{where}: devices {seen[str(ip)]} and {dev.name} share {ip}")
        seen[str(ip)] = dev.name
        addresses[dev.site].append(str(ip))

    # Veths for inventory links, with the ifNames the inventory's devices map.
    ifnames: dict[tuple[str, str], str] = {}
    aliases: dict[tuple[str, str], str] = {}
    for dev in inv.devices.values():
        for itf in dev.interfaces:
            if itf.match is InterfaceMatch.IFALIAS:
                aliases[(dev.site, itf.link)] = itf.value
                continue
            if len(itf.value) > IFNAMSIZ:
                raise LabError(
                    f"{where}: device {dev.name}: interface {itf.value!r} for link {itf.link} "
                    f"is longer than {IFNAMSIZ} characters, which Linux cannot name"
                )
            ifnames[(dev.site, itf.link)] = itf.value
    veths: list[Veth] = []
    used: dict[str, set[str]] = {}

    def ifname(site: str, link: str, peer: str, index: int, end: str) -> str:
        name = ifnames.get((site, link)) or f"to-{peer}"
        if len(name) > IFNAMSIZ:
            name = f"l{index}{end}"
        names = used.setdefault(site, set())
        if name in names:
            raise LabError(f"{where}: site {site}: two links would both be named {name!r}")
        names.add(name)
        return name

    for index, ln in enumerate(inv.links.values()):
        net = ipaddress.ip_address(int(TRANSIT.network_address) + 2 * index)
        if net + 1 not in TRANSIT:
            raise LabError(f"{where}: more links than the lab's transit range holds")
        setting = scenario.links.get(ln.id)
        up = setting.up_bps if setting and setting.up_bps is not None else ln.up_bps
        down = setting.down_bps if setting and setting.down_bps is not None else ln.down_bps
        if setting:
            for way, load, rate in (
                ("up", setting.background_up_bps, up),
                ("down", setting.background_down_bps, down),
            ):
                if load >= rate:  # the shaper would cut it: counters would not match the truth
                    where = f"links.{ln.id}.background"
                    raise LabError(
                        f"{scenario.source}:{scenario.line(where)}: {where}: {way} "
                        f"{load:.0f} b/s is not below the link's {way} rate {rate:.0f} b/s"
                    )
        veths.append(
            Veth(
                ln.id,
                End(
                    f"{prefix}{ln.site}",
                    ifname(ln.site, ln.id, ln.to, index, "c"),
                    str(net),
                    up,
                    aliases.get((ln.site, ln.id), ""),
                ),
                End(
                    f"{prefix}{ln.to}",
                    ifname(ln.to, ln.id, ln.site, index, "p"),
                    str(net + 1),
                    down,
                    aliases.get((ln.to, ln.id), ""),
                ),
                routed=ln.role is LinkRole.PRIMARY,
                background_up_bps=setting.background_up_bps if setting else 0.0,
                background_down_bps=setting.background_down_bps if setting else 0.0,
            )
        )
    paths = lab_paths(inv)
    tree = tree_routes(paths, prefix, {v.link: v for v in veths}, addresses)
    delays = site_delays(inv, scenario, paths)

    def host_veth(name: str, ns: str, slot: int) -> Veth:
        base = _HOST_TRANSIT + 2 * slot
        return Veth(
            name,
            End(ns, "eth0", str(base), None),
            End(f"{prefix}{root}", name, str(base + 1), None),
            routed=True,
        )

    noc, bridge = f"{prefix}noc", f"{prefix}bridge"
    lab_veths = [host_veth("noc", noc, 0), host_veth("bridge", bridge, 1)]
    if scenario.flat:
        lab_veths.append(host_veth("flat", f"{prefix}flat", 2))

    # Namespaces and routes (see tree_routes), plus the NOC's, the bridge's and flat mode's
    # at the root.
    namespaces: list[Namespace] = []
    targets: dict[str, tuple[Target, ...]] = {}
    for code, site in inv.sites.items():
        name = f"{prefix}{code}"
        own = addresses[code]
        routes = list(tree.get(name, ()))
        if code == root:
            src = own[0] if own else None
            routes += [Route(f"{NOC_ADDR}/32", lab_veths[0].child.address, src)]
            routes += [Route(f"{BRIDGE_ADDR}/32", lab_veths[1].child.address, src)]
            if scenario.flat:
                routes += [Route(str(FLAT), lab_veths[2].child.address, src)]
        imp = scenario.sites.get(code, scenario.site_default)
        delay = delays.get(code, imp.delay_s or 0.0)
        targets[name] = tuple(Target(a, code, delay, imp.jitter_s, imp.loss) for a in own)
        devices = [d for d in inv.devices.values() if d.site == code]
        agent = bool(devices) and (site.level is not Level.COMMUNE or scenario.commune_agents)
        namespaces.append(
            Namespace(
                name,
                code,
                "site",
                tuple(own),
                tuple(routes),
                router=links_at[code] > 1 or code == root,
                agent=agent,
                sys_name=devices[0].name if devices else code,
                location=site.name,
            )
        )
    via_root = lab_veths[0].parent.address
    namespaces.append(
        Namespace(noc, None, "noc", (NOC_ADDR,), (Route(str(LAB_NET), via_root, NOC_ADDR),))
    )
    namespaces.append(
        Namespace(
            bridge,
            None,
            "bridge",
            (BRIDGE_ADDR,),
            (Route(str(LAB_NET), lab_veths[1].parent.address, BRIDGE_ADDR),),
            agent=True,
            sys_name="bridge",
            location=inv.sites[root].name,
        )
    )
    targets[bridge] = (Target(BRIDGE_ADDR, None, 0.0, 0.0, Loss(0.0)),)
    if scenario.flat:
        flat = scenario.flat
        flat_ns = f"{prefix}flat"
        hosts = [str(FLAT.network_address + i) for i in range(flat.targets)]
        namespaces.append(
            Namespace(
                flat_ns,
                None,
                "flat",
                (),
                (Route(str(LAB_NET), lab_veths[2].parent.address, hosts[0]),),
                local=(str(FLAT),),
            )
        )
        targets[flat_ns] = tuple(
            Target(a, None, flat.delay_s, flat.jitter_s, flat.loss) for a in hosts
        )
    return LabPlan(prefix, tuple(namespaces), tuple(veths + lab_veths), targets, noc, bridge)


def lab_paths(inv: Inventory, failed: Collection[str] = frozenset()) -> topology.Routes:
    """vcmon's own paths to the bridge (`topology.routes`: primary links, backups only
    where no primary path is left) with the `failed` links down: what the lab routes."""
    return topology.routes(
        topology.without_links(topology.build_graph(inv), failed), inv.conference.bridge
    )


def tree_routes(
    tree: topology.Routes,
    prefix: str,
    veths: Mapping[str, Veth],
    addresses: Mapping[str, Sequence[str]],
) -> dict[str, tuple[Route, ...]]:
    """Each site namespace's routes along `tree` (see `lab_paths`).

    A covering /15 toward the next hop (never a default route), and a /32 toward each
    neighbour downstream for every device address behind it. Replies leave with the site's
    own device address as source, so traceroute from the NOC names the inventory's devices.
    Sites cut off get no routes.
    """
    out: dict[str, list[Route]] = {f"{prefix}{code}": [] for code in tree.paths}
    below: dict[str, list[str]] = {}
    for code in reversed(list(tree.paths)):  # every site before its next hop
        if code == tree.bridge:
            continue
        ns, upstream = f"{prefix}{code}", f"{prefix}{tree.paths[code][1]}"
        v = veths[tree.hops[code][0].link]
        near, far = (v.child, v.parent) if v.child.ns == ns else (v.parent, v.child)
        own = addresses[code]
        out[ns].insert(0, Route(str(LAB_NET), far.address, own[0] if own else None))
        behind = [*own, *below.pop(code, [])]
        out[upstream] += [Route(f"{a}/32", near.address) for a in behind]
        below.setdefault(tree.paths[code][1], []).extend(behind)
    return {ns: tuple(routes) for ns, routes in out.items()}


def site_delays(inv: Inventory, scenario: Scenario, tree: topology.Routes) -> dict[str, float]:
    """The round-trip delay the responder adds for each site that has a path in `tree` (see
    `lab_paths`): the scenario's delay for the site, or else twice the inventory's `latency`
    along its path, plus every scenario link `delay` on that path.

    So a site moved onto a backup link by a failure answers with the backup's latency.
    """
    links, extra = inv.links, scenario.links
    out = {}
    for code, hops in tree.hops.items():
        own = scenario.sites.get(code, scenario.site_default).delay_s
        base = own if own is not None else 2 * sum(links[h.link].latency_s or 0.0 for h in hops)
        out[code] = base + sum(extra[h.link].delay_s for h in hops if h.link in extra)
    return out


def flat_addresses(plan: LabPlan) -> tuple[str, ...]:
    """The flat-mode ping targets (empty without `flat:` in the scenario)."""
    return tuple(t.address for t in plan.targets.get(f"{plan.prefix}flat", ()))


def _check_scenario_refs(inv: Inventory, sc: Scenario) -> None:
    def bad(path: str, kind: str, name: str) -> LabError:
        return LabError(f"{sc.source}:{sc.line(path)}: {path}: unknown {kind} {name!r}")

    for code in sc.sites:
        if code not in inv.sites:
            raise bad(f"sites.{code}", "site", code)
    for lid in sc.links:
        if lid not in inv.links:
            raise bad(f"links.{lid}", "link", lid)
    for i, ev in enumerate(sc.events):
        table = {
            Action.LOSS_BURST: ("site", inv.sites),
            Action.AGENT_DOWN: ("device", inv.devices),
            Action.AGENT_UP: ("device", inv.devices),
            Action.REBOOT: ("device", inv.devices),
        }.get(ev.action, ("link", inv.links))
        if ev.target not in table[1]:
            where = f"events[{i}]"
            raise LabError(f"{sc.source}:{ev.line}: {where}: unknown {table[0]} {ev.target!r}")


def site_impairment(plan: LabPlan, code: str) -> SiteImpairment:
    """What the responder injects for a site (its first address)."""
    t = plan.targets[plan.site_ns(code)]
    return SiteImpairment(t[0].delay_s, t[0].jitter_s, t[0].loss) if t else SiteImpairment(0.0)
