"""A small literal inventory with the shape of inventory/example.yaml, for lab tests."""

from __future__ import annotations

import secrets

from vcmon.model import (
    Conference,
    ConferenceTopology,
    Device,
    Interface,
    InterfaceMatch,
    Inventory,
    Level,
    Link,
    LinkRole,
    Medium,
    Site,
    Terrain,
)


def _site(code: str, level: Level, parent: str | None) -> Site:
    district = code if level is Level.DISTRICT else (parent if level is Level.COMMUNE else None)
    return Site(code, f"site {code}", level, parent, None, Terrain.PLAIN, 1, district)


def _link(site: str, to: str, up: float, down: float, role: LinkRole = LinkRole.PRIMARY,
          latency: float | None = None, lid: str | None = None) -> Link:  # fmt: skip
    return Link(lid or f"{to}-{site}", site, to, Medium.FIBRE, up, down, latency, role)


def small_inventory() -> Inventory:
    """Province 51 -> districts 522 (2 communes), 530 (2 communes, one 4G backup), 536."""
    sites = [
        _site("51", Level.PROVINCE, None),
        _site("522", Level.DISTRICT, "51"),
        _site("21010", Level.COMMUNE, "522"),
        _site("21211", Level.COMMUNE, "522"),
        _site("530", Level.DISTRICT, "51"),
        _site("21340", Level.COMMUNE, "530"),
        _site("21334", Level.COMMUNE, "530"),
        _site("536", Level.DISTRICT, "51"),
    ]
    links = [
        _link("522", "51", 100e6, 100e6, latency=0.001, lid="dc-522"),
        _link("530", "51", 10e6, 10e6, latency=0.004, lid="dc-530"),
        _link("536", "51", 4e6, 8e6, latency=0.012, lid="dc-536"),
        _link("21010", "522", 20e6, 20e6),
        _link("21211", "522", 10e6, 10e6),
        _link("21340", "530", 4e6, 4e6, latency=0.008),
        _link("21334", "530", 1.5e6, 6e6, latency=0.035),
        _link("21334", "51", 2e6, 8e6, LinkRole.BACKUP, 0.04, "dc-21334-backup"),
    ]
    ifn = InterfaceMatch.IFNAME
    devices = [
        Device("dc-core", "51", "198.18.0.1", ("icmp",), "lab_v2c", (
            Interface("dc-522", ifn, "veth-522"),
            Interface("dc-530", ifn, "veth-530"),
            Interface("dc-536", ifn, "veth-536"),
        )),
        Device("r-522", "522", "198.18.1.1", ("icmp",), "lab_v2c", (
            Interface("522-21010", ifn, "veth-21010"),
            Interface("522-21211", ifn, "veth-21211"),
        )),
        Device("r-530", "530", "198.18.2.1", ("icmp",), "lab_v2c", (
            Interface("530-21340", ifn, "veth-21340"),
            Interface("530-21334", ifn, "veth-21334"),
        )),
        Device("r-536", "536", "198.18.3.1", ("icmp",), "lab_v2c"),
        Device("cpe-21010", "21010", "198.18.1.10", ("icmp",), "lab_v2c"),
        Device("cpe-21211", "21211", "198.18.1.11", ("icmp",), "lab_v2c"),
        Device("cpe-21340", "21340", "198.18.2.10", ("icmp",), "lab_v2c"),
        Device("cpe-21334", "21334", "198.18.2.11", ("icmp",), "lab_v2c"),
    ]  # fmt: skip
    return Inventory(
        sites={s.code: s for s in sites},
        links={ln.id: ln for ln in links},
        devices={d.name: d for d in devices},
        profiles={},
        modules={},
        auths={},
        conference=Conference("51", ConferenceTopology.MCU),
    )


def run_prefix() -> str:
    """A per-run namespace prefix, so concurrent test runs never collide."""
    return f"t{secrets.token_hex(3)}-"
