"""Merged, schema-valid YAML -> the frozen objects of vcmon.model, checking what a schema cannot.

Each check appends a Problem and moves on, so one run reports every mistake. The schema has
already vouched for types and units of every entry not in `sources.broken`.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vcmon.errors import Problem
from vcmon.inventory import defaults
from vcmon.inventory._schema import did_you_mean
from vcmon.inventory._sources import Entry, Sources
from vcmon.model import (
    Auth,
    Conference,
    ConferenceTopology,
    Coordinates,
    Device,
    Interface,
    InterfaceMatch,
    Inventory,
    Level,
    Link,
    LinkRole,
    Medium,
    Module,
    Policy,
    ProberKind,
    Profile,
    ScheduledConference,
    SecretKind,
    SecretRef,
    Site,
    SnmpVersion,
    Terrain,
    Threshold,
    UpgradeTier,
    select_sites,
)
from vcmon.units import parse_duration, parse_rate

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")
# Enum lookups by value, as dicts: calling Level("commune") costs 2 us, 75,000 times.
_LEVELS = {m.value: m for m in Level}
_TERRAINS = {m.value: m for m in Terrain}
_MEDIA = {m.value: m for m in Medium}
_ROLES = {m.value: m for m in LinkRole}
_MATCHES = tuple((m.value, m) for m in InterfaceMatch)
_PARENT_LEVEL = {Level.DISTRICT: Level.PROVINCE, Level.COMMUNE: Level.DISTRICT}


def ratio(value: str | float) -> float:
    """A ratio from `20%` or `0.2`.

    >>> ratio("20%"), ratio(0.2), ratio("1.5 %")
    (0.2, 0.2, 0.015)
    """
    if isinstance(value, str):
        return float(value.strip().rstrip("%").strip()) / 100.0
    return float(value)


class Resolver:
    def __init__(self, sources: Sources) -> None:
        self.src = sources
        self.problems: list[Problem] = []
        self.entries = sources.entries

    # --- helpers -------------------------------------------------------------------------

    def _valid(self, section: str) -> Iterable[tuple[str, Entry]]:
        broken = self.src.broken
        for name, entry in self.entries[section].items():
            if (section, name) not in broken:
                yield name, entry

    def _add(self, entry: Entry, message: str, *sub: str | int) -> None:
        self.problems.append(entry.problem(message, *sub))

    def _ref(self, entry: Entry, field: str, value: str, section: str) -> bool:
        """Check that `value` names an entry of `section`; say so where `field` is if not."""
        if value in self.entries[section]:
            return True
        what = section.rstrip("s")
        hint = did_you_mean(value, self.entries[section])
        self._add(entry, f"unknown {what} '{value}'{hint}", field)
        return False

    def _defaults(self, kind: str, builtin: Mapping[str, Any]) -> dict[str, Any]:
        entry = self.src.defaults.get(kind)
        merged = dict(builtin)
        if entry is not None and isinstance(entry.data, dict):
            merged.update(entry.data)
        return merged

    # --- sections ------------------------------------------------------------------------

    def resolve(self) -> Inventory:
        policy = self.policy()
        profiles = self.profiles(policy)
        modules = self.modules()
        auths = self.auths()
        sites = self.sites()
        links = self.links(sites)
        devices = self.devices(sites, links, modules)
        conference = self.conference(sites, profiles)
        if conference is not None:
            self.connectivity(conference.bridge, sites, links)
        schedule = self.schedule(sites, profiles)
        currency = self.src.singles.get("currency")
        # Read-only views: the Inventory is frozen, and so are its mappings.
        inventory = Inventory(
            sites=MappingProxyType(sites),
            links=MappingProxyType(links),
            devices=MappingProxyType(devices),
            profiles=MappingProxyType(profiles),
            modules=MappingProxyType(modules),
            auths=MappingProxyType(auths),
            conference=conference or Conference("", ConferenceTopology.MCU),
            sources=tuple(Path(d.file) for d in self.src.docs),
            currency=currency.data if currency is not None else defaults.CURRENCY,
            schedule=schedule,
        )
        return inventory

    def policy(self) -> Policy:
        entry = self.src.singles.get("policy")
        if entry is None:
            return defaults.POLICY
        return self._policy(entry, defaults.POLICY)

    def _policy(self, entry: Entry, base: Policy) -> Policy:
        data: dict[str, Any] = entry.data or {}

        def threshold(key: str, old: Threshold, parse: Callable[[Any], float]) -> Threshold:
            spec = data.get(key)
            if not isinstance(spec, dict):
                return old
            ready = parse(spec["ready"]) if "ready" in spec else old.ready
            degraded = parse(spec["degraded"]) if "degraded" in spec else old.degraded
            source = (
                spec.get("source")
                or f"set at {entry.doc.file}:{entry.doc.line((*entry.path, key))}"
            )
            if ready > degraded:
                self._add(
                    entry, f"ready ({ready:g}) must not be above degraded ({degraded:g})", key
                )
            return Threshold(ready, degraded, source)

        return Policy(
            rtt_p95_s=threshold("rtt_p95", base.rtt_p95_s, parse_duration),
            jitter_s=threshold("jitter", base.jitter_s, parse_duration),
            loss_ratio=threshold("loss", base.loss_ratio, self._ratio_at(entry, "loss")),
            max_age_s=parse_duration(data["max_age"]) if "max_age" in data else base.max_age_s,
            hysteresis_cycles=data.get("hysteresis_cycles", base.hysteresis_cycles),
        )

    def _ratio_at(self, entry: Entry, *sub: str) -> Callable[[Any], float]:
        def parse(value: Any) -> float:
            result = ratio(value)
            if result > 1:
                self._add(entry, f"{value!r} is more than 100%", *sub)
            return result

        return parse

    def profiles(self, policy: Policy) -> dict[str, Profile]:
        out = {
            name: Profile(
                name,
                p.stream_bps,
                p.overhead_ratio,
                p.source,
                policy,
                p.sfu_max_tiles,
                p.sfu_tile_bps,
            )
            for name, p in defaults.PROFILES.items()
        }
        for name, entry in self._valid("profiles"):
            data: dict[str, Any] = entry.data or {}
            old = out.get(name)
            if old is None:
                if "stream" not in data:
                    self._add(entry, "missing required key 'stream' (a new profile needs one)")
                    continue
                old = Profile(name, 0.0, defaults.OVERHEAD, f"defined at {entry.where}", policy)
            own_policy = policy
            if isinstance(data.get("policy"), dict):
                where = Entry(entry.doc, (*entry.path, "policy"), data["policy"])
                own_policy = self._policy(where, policy)
            out[name] = Profile(
                name=name,
                stream_bps=_get(data, "stream", parse_rate, old.stream_bps),
                overhead_ratio=_get(
                    data, "overhead", self._ratio_at(entry, "overhead"), old.overhead_ratio
                ),
                source=data.get("source", old.source),
                policy=own_policy,
                sfu_max_tiles=data.get("sfu_max_tiles", old.sfu_max_tiles),
                sfu_tile_bps=_get(data, "sfu_tile", parse_rate, old.sfu_tile_bps),
            )
            for key in ("stream", "sfu_tile"):
                if key in data and parse_rate(data[key]) <= 0:
                    self._add(entry, f"must be more than 0 (got {data[key]!r})", key)
        return out

    def modules(self) -> dict[str, Module]:
        out: dict[str, Module] = {}
        for name, entry in self._valid("modules"):
            data: dict[str, Any] = entry.data
            spec = {**defaults.MODULE, **data}
            prober = ProberKind(spec["prober"])
            foreign = defaults.SNMP_ONLY if prober is ProberKind.ICMP else defaults.ICMP_ONLY
            for key in sorted(foreign & data.keys()):
                self._add(entry, f"'{key}' does not apply to prober {prober.value}", key)
            interval = parse_duration(spec["interval"])
            timeout = parse_duration(spec["timeout"])
            spacing = parse_duration(spec["spacing"])
            if interval <= 0:
                self._add(entry, "must be more than 0", "interval")
            if timeout <= 0:
                self._add(entry, "must be more than 0", "timeout")
            elif timeout > interval > 0:
                self._add(
                    entry,
                    f"timeout {_fmt_s(timeout)} is longer than the interval {_fmt_s(interval)}",
                    "timeout",
                )
            burst = (spec["count"] - 1) * spacing
            if prober is ProberKind.ICMP and 0 < timeout <= burst:
                self._add(
                    entry,
                    f"{spec['count']} echoes {_fmt_s(spacing)} apart take {_fmt_s(burst)}, "
                    f"not less than the timeout {_fmt_s(timeout)}",
                    "count" if "count" in data else "spacing",
                )
            out[name] = Module(
                name=name,
                prober=prober,
                interval_s=interval,
                timeout_s=timeout,
                count=spec["count"],
                spacing_s=spacing,
                size_bytes=spec["size"],
                dscp=spec["dscp"],
                retries=spec["retries"],
                max_repetitions=spec["max_repetitions"],
            )
        return out

    def auths(self) -> dict[str, Auth]:
        out: dict[str, Auth] = {}
        for name, entry in self._valid("auths"):
            data: dict[str, Any] = entry.data
            version = SnmpVersion(data["version"])
            if version is SnmpVersion.V2C:
                if "community" not in data:
                    self._add(entry, "missing required key 'community' (for version v2c)")
                for key in ("username", "auth_protocol", "auth_key", "priv_protocol", "priv_key"):
                    if key in data:
                        self._add(entry, f"'{key}' applies to version v3 only", key)
            else:
                if "community" in data:
                    self._add(entry, "'community' applies to version v2c only", "community")
                if "username" not in data:
                    self._add(entry, "missing required key 'username' (for version v3)")
                for proto, key in (("auth_protocol", "auth_key"), ("priv_protocol", "priv_key")):
                    if (proto in data) != (key in data):
                        have, lack = (proto, key) if proto in data else (key, proto)
                        self._add(entry, f"'{have}' needs '{lack}'", have)
                if "priv_protocol" in data and "auth_protocol" not in data:
                    self._add(
                        entry, "privacy needs authentication: add 'auth_protocol'", "priv_protocol"
                    )
            out[name] = Auth(
                name=name,
                version=version,
                community=self._secret(entry, data.get("community")),
                username=data.get("username"),
                auth_protocol=data.get("auth_protocol"),
                auth_key=self._secret(entry, data.get("auth_key")),
                priv_protocol=data.get("priv_protocol"),
                priv_key=self._secret(entry, data.get("priv_key")),
            )
        return out

    def _secret(self, entry: Entry, value: Any) -> SecretRef | None:
        if value is None:
            return None
        if isinstance(value, dict):
            # Relative to the file that names it, as includes are.
            path = Path(entry.doc.file).parent / str(value["file"])
            return SecretRef(SecretKind.FILE, str(path))
        return SecretRef(SecretKind.ENV, str(value)[2:-1])

    def sites(self) -> dict[str, Site]:
        base = self._defaults("site", defaults.SITE)
        specs: dict[str, dict[str, Any]] = {}
        for code, entry in self._valid("sites"):
            specs[code] = {**base, **entry.data}
        entries = self.entries["sites"]
        # Parents: existence, level rules, cycles. Broken sites exist but are not judged.
        in_cycle = self._parent_cycles(specs)
        for code, spec in specs.items():
            entry = entries[code]
            level = _LEVELS[spec["level"]]
            parent = spec.get("parent")
            if code in in_cycle:
                continue  # its cycle is the one message: levels cannot be judged around a loop
            if level is Level.PROVINCE:
                if parent is not None:
                    self._add(entry, "a province has no parent", "parent")
                continue
            if parent is None:
                self._add(entry, f"missing required key 'parent' (a {level.value} needs one)")
                continue
            if not self._ref(entry, "parent", parent, "sites") or parent not in specs:
                continue
            want, got = _PARENT_LEVEL[level], _LEVELS[specs[parent]["level"]]
            if got is not want:
                self._add(
                    entry,
                    f"the parent of a {level.value} must be a {want.value}, "
                    f"not '{parent}' ({got.value})",
                    "parent",
                )
        out: dict[str, Site] = {}
        for code, spec in specs.items():
            coords = spec.get("coordinates")
            out[code] = Site(
                code=code,
                name=spec["name"],
                level=_LEVELS[spec["level"]],
                parent=spec.get("parent"),
                coordinates=(
                    Coordinates(
                        float(coords["lat"]),
                        float(coords["lon"]),
                        bool(coords.get("approximate", False)),
                    )
                    if coords
                    else None
                ),
                terrain=_TERRAINS[spec["terrain"]],
                rooms=int(spec["rooms"]),
                district=_district(code, specs),
            )
        return out

    def _parent_cycles(self, specs: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """Report each parent cycle once; return the sites on one."""
        done: set[str] = set()
        on_cycle: set[str] = set()
        for start in specs:
            chain: list[str] = []
            code: str | None = start
            while code is not None and code in specs and code not in done:
                if code in chain:
                    cycle = chain[chain.index(code) :]
                    first = min(cycle)
                    text = " -> ".join(
                        [*cycle[cycle.index(first) :], *cycle[: cycle.index(first)], first]
                    )
                    self._add(self.entries["sites"][first], f"parent cycle: {text}", "parent")
                    on_cycle.update(cycle)
                    break
                chain.append(code)
                code = specs[code].get("parent")
            done.update(chain)
        return on_cycle

    def links(self, sites: Mapping[str, Site]) -> dict[str, Link]:
        base = self._defaults("link", defaults.LINK)
        out: dict[str, Link] = {}
        pairs: dict[frozenset[str], str] = {}
        for lid, entry in self._valid("links"):
            spec = {**base, **entry.data}
            ends_ok = True
            for end in ("site", "to"):
                ends_ok = self._ref(entry, end, spec[end], "sites") and ends_ok
            if spec["site"] == spec["to"]:
                self._add(
                    entry, f"a link needs two different sites (both are '{spec['to']}')", "to"
                )
                continue
            pair = frozenset((spec["site"], spec["to"]))
            if ends_ok and pair in pairs:
                self._add(
                    entry,
                    f"parallel to link '{pairs[pair]}' (same sites {spec['site']} and "
                    f"{spec['to']}): describe them as one link",
                )
            pairs.setdefault(pair, lid)
            if "capacity" not in spec:
                self._add(entry, "missing required key 'capacity'")
                continue
            up, down = self._capacity(entry, spec["capacity"], ("capacity",))
            upgrades = []
            for index, tier in enumerate(spec.get("upgrades", ())):
                tier_up, tier_down = self._capacity(
                    entry, tier["capacity"], ("upgrades", index, "capacity")
                )
                upgrades.append(
                    UpgradeTier(
                        name=tier["name"],
                        up_bps=tier_up,
                        down_bps=tier_down,
                        monthly_cost=float(tier["monthly_cost"]),
                        lead_time_s=parse_duration(tier.get("lead_time", 0)),
                        medium=Medium(tier["medium"]) if "medium" in tier else None,
                    )
                )
            out[lid] = Link(
                id=lid,
                site=spec["site"],
                to=spec["to"],
                medium=_MEDIA[spec["medium"]],
                up_bps=up,
                down_bps=down,
                latency_s=parse_duration(spec["latency"]) if "latency" in spec else None,
                role=_ROLES[spec["role"]],
                upgrades=tuple(upgrades),
            )
        return out

    def _capacity(
        self, entry: Entry, value: Any, path: tuple[str | int, ...]
    ) -> tuple[float, float]:
        pairs = (("up", value["up"]), ("down", value["down"])) if isinstance(value, dict) else ()
        up, down = (parse_rate(v) for _, v in pairs) if pairs else (parse_rate(value),) * 2
        for key, rate, raw in (("up", up, value), ("down", down, value)):
            if rate <= 0:
                sub = (*path, key) if pairs else path
                shown = value[key] if pairs else raw
                self._add(entry, f"must be more than 0 (got {shown!r})", *sub)
                if not pairs:
                    break
        return up, down

    def devices(
        self, sites: Mapping[str, Site], links: Mapping[str, Link], modules: Mapping[str, Module]
    ) -> dict[str, Device]:
        base = self._defaults("device", defaults.DEVICE)
        out: dict[str, Device] = {}
        addresses: dict[str, str] = {}
        known_modules = self.entries["modules"]
        uses_snmp: dict[tuple[str, ...], bool] = {}
        for name, entry in self._valid("devices"):
            spec = {**base, **entry.data}
            self._ref(entry, "site", spec["site"], "sites")
            address = str(spec["address"])
            try:
                # Dotted IPv4 is already canonical: skip ipaddress (0.1 s on 12,000 devices).
                if not _IPV4.match(address):
                    address = str(ipaddress.ip_address(address))
            except ValueError:
                self._add(entry, f"'{address}' is not an IP address", "address")
            else:
                if address in addresses:
                    self._add(
                        entry,
                        f"address {address} is already used by device '{addresses[address]}'",
                        "address",
                    )
                addresses.setdefault(address, name)
            names = tuple(spec["modules"])
            snmp = uses_snmp.get(names)  # most devices share one list: judged once
            if snmp is None:
                snmp = False
                for index, module in enumerate(names):
                    if module not in known_modules:
                        hint = did_you_mean(module, known_modules)
                        self._add(entry, f"unknown module '{module}'{hint}", "modules", index)
                    elif module in modules and modules[module].prober is ProberKind.SNMP:
                        snmp = True
                if all(module in known_modules for module in names):
                    uses_snmp[names] = snmp
            auth = spec.get("auth")
            if auth is not None:
                self._ref(entry, "auth", auth, "auths")
            elif snmp:
                self._add(entry, "uses an SNMP module but has no 'auth'", "modules")
            interfaces = []
            site = spec["site"]
            for index, iface in enumerate(spec.get("interfaces", ())):
                link = iface["link"]
                known = links.get(link)
                if known is None or site not in (known.site, known.to):
                    self._interface_link(entry, index, link, site, known)
                for key, match in _MATCHES:  # the schema requires exactly one
                    if key in iface:
                        interfaces.append(Interface(link, match, iface[key]))
                        break
            out[name] = Device(name, site, address, names, auth, tuple(interfaces))
        return out

    def _interface_link(
        self, entry: Entry, index: int, link: str, site: str, known: Link | None
    ) -> None:
        """Say what is wrong with an interface's link: unknown, or not reaching the site.

        A link that exists but was not built (its own entry has errors) is not judged.
        """
        sub = ("interfaces", index, "link")
        if link not in self.entries["links"]:
            hint = did_you_mean(link, self.entries["links"])
            self._add(entry, f"unknown link '{link}'{hint}", *sub)
        elif known is not None:
            self._add(entry, f"link '{link}' does not reach site '{site}'", *sub)

    def conference(
        self, sites: Mapping[str, Site], profiles: Mapping[str, Profile]
    ) -> Conference | None:
        entry = self.src.singles.get("conference")
        if entry is None:
            return None
        data: dict[str, Any] = entry.data
        bridge_ok = self._ref(entry, "bridge", data["bridge"], "sites")
        topology = ConferenceTopology(data.get("topology", "mcu"))
        cascade_at = tuple(data.get("cascade_at", ()))
        for index, code in enumerate(cascade_at):
            if code not in self.entries["sites"]:
                hint = did_you_mean(code, self.entries["sites"])
                self._add(entry, f"unknown site '{code}'{hint}", "cascade_at", index)
            elif code in sites and sites[code].level is not Level.DISTRICT:
                level = sites[code].level.value
                self._add(entry, f"'{code}' is a {level}, not a district", "cascade_at", index)
        if topology is ConferenceTopology.CASCADE and not cascade_at:
            self._add(
                entry,
                "topology cascade needs the districts with an MCU in cascade_at",
                "cascade_at",
            )
        elif topology is not ConferenceTopology.CASCADE and cascade_at:
            self._add(
                entry, f"cascade_at applies to topology cascade, not {topology.value}", "cascade_at"
            )
        profile = data.get("profile", "hd")
        if profile not in profiles:
            hint = did_you_mean(profile, profiles)
            self._add(entry, f"unknown profile '{profile}'{hint}", "profile")
        conference = Conference(data["bridge"], topology, cascade_at, profile)
        return conference if bridge_ok else None

    def schedule(
        self, sites: Mapping[str, Site], profiles: Mapping[str, Profile]
    ) -> tuple[ScheduledConference, ...]:
        default_profile = "hd"
        conf = self.src.singles.get("conference")
        if conf is not None and isinstance(conf.data, dict):
            default_profile = conf.data.get("profile", "hd")
        out = []
        for name, entry in self._valid("schedule"):
            data: dict[str, Any] = entry.data
            try:
                start = datetime.fromisoformat(data["start"]).timestamp()
            except ValueError:
                self._add(entry, f"{data['start']!r} is not a valid date and time", "start")
                continue
            profile = data.get("profile", default_profile)
            if profile not in profiles:
                hint = did_you_mean(profile, profiles)
                self._add(entry, f"unknown profile '{profile}'{hint}", "profile")
                continue
            try:
                chosen = select_sites(sites, data["sites"])
            except ValueError as exc:
                self._add(entry, str(exc), "sites")
                continue
            out.append(
                ScheduledConference(
                    name=name,
                    start_s=start,
                    duration_s=parse_duration(data.get("duration", "2h")),
                    profile=profile,
                    sites=chosen,
                    lead_time_s=parse_duration(data.get("lead_time", "2h")),
                )
            )
        return tuple(sorted(out, key=lambda c: (c.start_s, c.name)))

    def connectivity(
        self, bridge: str, sites: Mapping[str, Site], links: Mapping[str, Link]
    ) -> None:
        """Every site needs a path to the bridge over links (either role, either way)."""
        ends = [(link.site, link.to) for link in links.values()]
        # A link with a schema error still joins its ends: one mistake, one message.
        for section, name in self.src.broken:
            data = self.entries["links"][name].data if section == "links" else None
            if isinstance(data, dict) and isinstance(data.get("site"), str):
                ends.append((data["site"], str(data.get("to"))))
        neighbours: dict[str, list[str]] = {}
        for a, b in ends:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
        reached = {bridge}
        queue = deque([bridge])
        while queue:
            for other in neighbours.get(queue.popleft(), ()):
                if other not in reached:
                    reached.add(other)
                    queue.append(other)
        # A site linked to an unknown site already has that message: no second one for it.
        dangling = {a for a, b in ends if b not in sites} | {b for a, b in ends if a not in sites}
        for code in sites:
            if code not in reached and code not in dangling:
                self._add(
                    self.entries["sites"][code], f"no path to the bridge '{bridge}' over links"
                )


def _get(data: Mapping[str, Any], key: str, parse: Callable[[Any], float], old: float) -> float:
    return parse(data[key]) if key in data else old


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _district(code: str, specs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The district-level ancestor (itself for a district); None above or when broken."""
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current in specs and current not in seen:
        seen.add(current)
        level = specs[current]["level"]
        if level == Level.DISTRICT:
            return current
        if level == Level.PROVINCE:
            return None
        current = specs[current].get("parent")
    return None
