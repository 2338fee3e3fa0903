#!/usr/bin/env python3
"""Generate inventory/quang-ngai.yaml from the shared GSO data file (deterministic).

Sites, codes, names and terrain come from the official 2022 list; links, capacities,
latencies, costs, addresses and commune coordinates are INVENTED so the sample tells a
planner's story (see STORY below). The same data always gives byte-identical output:
every random choice uses random.Random seeded with a fixed string and the site's code.

    python scripts/make_quang_ngai.py [DATA] [-o inventory/quang-ngai.yaml | -o -]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "quang-ngai-2022.yaml"
DEFAULT_OUTPUT = REPO / "inventory" / "quang-ngai.yaml"
SEED = "vcmon/quang-ngai-2022"

PROVINCE_DC = "51"
PROVINCE_DC_NAME = "Trung tâm Dữ liệu tỉnh Quảng Ngãi"
PROVINCE_DC_COORDS = (15.1214, 108.8044)  # the provincial offices in Quảng Ngãi city

STORY = """\
# The story this sample tells a planner (all numbers INVENTED, the sites are real):
# - Plain and coastal communes sit on 8-20 Mb/s fibre or carrier VPN: ready for hd under
#   mcu, except a few still on old VPN/ADSL circuits with about 1 Mb/s upload.
# - Mountain communes (Trà Bồng, Sơn Hà, Sơn Tây, Minh Long, Ba Tơ) have 2-8 Mb/s; about
#   a quarter are on 4G with a thin upload: 1 Mb/s cannot carry one hd stream (not ready;
#   sd fits), 1.2 Mb/s carries it only without the 20% overhead headroom (degraded).
# - Ba Tơ's 20 Mb/s district uplink cannot carry all its 19 communes plus the district
#   office at once under mcu: its communes are not ready with root cause upstream.
# - Every district hub is a single point of failure for its communes without a backup,
#   except Minh Long, whose five communes all have a 4G backup straight to the province
#   (role: backup) from a provincial pilot.
# - Lý Sơn island reaches the mainland over microwave and a long carrier backhaul: enough
#   bandwidth, but about 60 ms one way, so degraded by latency.
"""

# District uplinks to the province (INVENTED): capacity in Mb/s, one-way latency in ms.
# Each is sized for (communes + 2 district rooms) hd streams with headroom, except Ba Tơ
# (535), which is deliberately too thin (19 + 2 streams x 1.44 Mb/s = 30.2 Mb/s > 20).
DISTRICT_UPLINK: dict[str, tuple[str, int, int]] = {
    "522": ("fibre", 100, 1),
    "524": ("fibre", 60, 3),
    "525": ("fibre", 40, 5),
    "527": ("fibre", 50, 2),
    "528": ("fibre", 50, 2),
    "529": ("fibre", 30, 4),
    "530": ("fibre", 20, 6),
    "531": ("fibre", 20, 4),
    "532": ("fibre", 40, 3),
    "533": ("fibre", 50, 3),
    "534": ("fibre", 60, 4),
    "535": ("fibre", 20, 5),
    "536": ("microwave", 0, 60),  # Lý Sơn: asymmetric, see LY_SON_CAPACITY
}
LY_SON_CAPACITY = (8, 16)  # up, down Mb/s
ALL_BACKED_UP = {"531"}  # Minh Long: every commune has a 4G backup (the pilot)


@dataclass
class LinkSpec:
    id: str
    site: str
    to: str
    medium: str
    up_mbps: float
    down_mbps: float
    latency_ms: int
    role: str = "primary"
    upgrades: list[str] = field(default_factory=list)
    comment: str = ""

    @property
    def thin(self) -> bool:
        return self.up_mbps < 2


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML), diacritics kept.

    >>> q("Lê Hồng Phong"), q("21010")
    ('"Lê Hồng Phong"', '"21010"')
    """
    return json.dumps(text, ensure_ascii=False)


def mbps(value: float) -> str:
    """`10M`, `1.2M`, `512k` as the inventory accepts them.

    >>> mbps(10), mbps(1.2), mbps(0.5)
    ('10M', '1.2M', '500k')
    """
    if value < 1:
        return f"{value * 1000:g}k"
    return f"{value:g}M"


def spiral(lat: float, lon: float, index: int, step_km: float) -> tuple[float, float]:
    """The index-th point of a golden-angle spiral around (lat, lon), rounded to 4 places.

    Communes have no official coordinates; a spiral spreads them evenly within a few km of
    the district centroid, deterministically, and never stacks two on one point.

    >>> spiral(15.0, 108.0, 0, 1.0)
    (15.009, 108.0)
    """
    radius_km = step_km * math.sqrt(index + 1)
    angle = math.radians(index * 137.50776405)
    dlat = radius_km * math.cos(angle) / 111.32
    dlon = radius_km * math.sin(angle) / (111.32 * math.cos(math.radians(lat)))
    return round(lat + dlat, 4), round(lon + dlon, 4)


def upgrade(name: str, medium: str, capacity: str, cost_vnd: int, lead_days: int) -> str:
    return (
        f"{{name: {name}, medium: {medium}, capacity: {capacity}, "
        f"monthly_cost: {cost_vnd}, lead_time: {lead_days}d}}"
    )


def commune_links(code: str, district: str, terrain: str, rural: bool) -> list[LinkSpec]:
    """The commune's uplink to its district hub, plus a 4G backup to the province if any."""
    rng = random.Random(f"{SEED}/{code}")
    primary_id = f"{district}-{code}"
    links: list[LinkSpec] = []
    if terrain == "mountain":
        roll = rng.random()
        if roll < 0.25:
            up = rng.choice([1.0, 1.2])
            down = rng.choice([4, 6, 8])
            link = LinkSpec(primary_id, code, district, "4g", up, down, rng.randint(30, 40))
            link.upgrades.append(upgrade("fibre-8M", "fibre", "8M", 1_200_000, 60))
        else:
            medium = "vpn" if roll < 0.55 else "fibre"
            cap = rng.choice([2, 3, 4, 6, 8])
            lat = rng.randint(6, 10) if medium == "vpn" else rng.randint(2, 4)
            link = LinkSpec(primary_id, code, district, medium, cap, cap, lat)
            if cap < 8:
                link.upgrades.append(upgrade("fibre-10M", "fibre", "10M", 1_500_000, 45))
        backed_up = district in ALL_BACKED_UP or rng.random() < 0.25
    else:
        roll = rng.random()
        if rural and roll < 0.05:
            link = LinkSpec(primary_id, code, district, "vpn", 1.0, 8, rng.randint(8, 12))
            link.comment = "old ADSL-based VPN: 1 Mb/s upload"
            link.upgrades.append(upgrade("fibre-10M", "fibre", "10M", 1_000_000, 30))
        else:
            medium = "vpn" if roll < 0.25 else "fibre"
            cap = rng.choice([8, 10, 12, 16, 20])
            lat = rng.randint(4, 8) if medium == "vpn" else rng.randint(1, 2)
            link = LinkSpec(primary_id, code, district, medium, cap, cap, lat)
        backed_up = terrain == "coastal" and rng.random() < 0.08
    links.append(link)
    if backed_up:
        links.append(
            LinkSpec(f"dc-{code}-backup", code, PROVINCE_DC, "4g", 2, 8, 40, role="backup")
        )
    return links


def district_link(code: str) -> LinkSpec:
    medium, cap, latency = DISTRICT_UPLINK[code]
    if code == "536":
        up, down = LY_SON_CAPACITY
        link = LinkSpec(f"dc-{code}", code, PROVINCE_DC, medium, up, down, latency)
        link.comment = "microwave to Bình Sơn, then the carrier's long backhaul"
        link.upgrades.append(upgrade("submarine-fibre-100M", "fibre", "100M", 45_000_000, 540))
        return link
    link = LinkSpec(f"dc-{code}", code, PROVINCE_DC, medium, cap, cap, latency)
    if cap <= 20:
        link.upgrades.append(upgrade("fibre-50M", "fibre", "50M", 6_000_000, 30))
        link.upgrades.append(upgrade("fibre-100M", "fibre", "100M", 10_000_000, 60))
    return link


def render_link(link: LinkSpec) -> list[str]:
    comment = f"  # {link.comment}" if link.comment else ""
    out = [f"  {link.id}:{comment}", f"    site: {q(link.site)}", f"    to: {q(link.to)}"]
    if link.medium != "fibre":
        out.append(f"    medium: {link.medium}")
    if link.role != "primary":
        out.append(f"    role: {link.role}")
    if link.up_mbps == link.down_mbps:
        out.append(f"    capacity: {mbps(link.up_mbps)}")
    else:
        out.append(f"    capacity: {{up: {mbps(link.up_mbps)}, down: {mbps(link.down_mbps)}}}")
    out.append(f"    latency: {link.latency_ms}ms")
    if link.upgrades:
        out.append("    upgrades:")
        out.extend(f"      - {u}" for u in link.upgrades)
    return out


def render_site(
    code: str,
    name: str,
    level: str,
    parent: str | None,
    coords: tuple[float, float],
    terrain: str,
    rooms: int,
    comment: str,
    approximate: bool = True,
) -> list[str]:
    out = [f"  {q(code)}:  # {comment}", f"    name: {q(name)}", f"    level: {level}"]
    if parent is not None:
        out.append(f"    parent: {q(parent)}")
    approx = ", approximate: true" if approximate else ""
    out.append(f"    coordinates: {{lat: {coords[0]}, lon: {coords[1]}{approx}}}")
    out.append(f"    terrain: {terrain}")
    if rooms != 1:
        out.append(f"    rooms: {rooms}")
    return out


def render_device(
    name: str, site: str, address: str, interfaces: list[tuple[str, str]], light: bool
) -> list[str]:
    out = [f"  {name}:", f"    site: {q(site)}", f"    address: {address}"]
    if light:
        # A video-sized burst would itself congest a ~1 Mb/s upload.
        out.append("    modules: [icmp_light, snmp_v2c_ifmib]")
    if interfaces:
        out.append("    interfaces:")
        out.extend(f"      - {{link: {link}, ifName: {ifname}}}" for link, ifname in interfaces)
    return out


def render(data: dict[str, Any]) -> str:
    """The whole inventory as YAML text."""
    province = data["province"]
    districts: list[dict[str, Any]] = province["districts"]
    sites: list[str] = []
    links: list[LinkSpec] = []
    devices: list[str] = []
    dc_ifaces: list[tuple[str, str]] = []

    sites += render_site(
        PROVINCE_DC,
        PROVINCE_DC_NAME,
        "province",
        None,
        PROVINCE_DC_COORDS,
        "urban",
        1,
        "the bridge (MCU)",
        approximate=False,
    )
    for k, district in enumerate(districts, start=1):
        dcode: str = district["code"]
        terrain: str = district["terrain"]
        centroid = (district["centroid"]["lat"], district["centroid"]["lon"])
        sites += render_site(
            dcode,
            district["name"],
            "district",
            PROVINCE_DC,
            centroid,
            terrain,
            2,
            district["full_name"],
        )
        uplink = district_link(dcode)
        links.append(uplink)
        dc_ifaces.append((uplink.id, f"d-{dcode}"))
        hub_ifaces: list[tuple[str, str]] = []
        cpe_devices: list[str] = []
        step_km = 1.5 if terrain == "mountain" else 1.0
        for i, commune in enumerate(district["communes"]):
            ccode: str = commune["code"]
            sites += render_site(
                ccode,
                commune["name"],
                "commune",
                dcode,
                spiral(*centroid, i, step_km),
                terrain,
                1,
                commune["full_name"],
            )
            primary, *backup = commune_links(ccode, dcode, terrain, commune["type"] == "xa")
            links.append(primary)
            hub_ifaces.append((primary.id, f"c-{ccode}"))
            cpe_ifaces = [(primary.id, "up0")]
            for b in backup:
                links.append(b)
                dc_ifaces.append((b.id, f"b-{ccode}"))
                cpe_ifaces.append((b.id, "lte0"))
            cpe_devices += render_device(
                f"cpe-{ccode}", ccode, f"198.18.{k}.{10 + i}", cpe_ifaces, primary.thin
            )
        devices += render_device(f"r-{dcode}", dcode, f"198.18.{k}.1", hub_ifaces, False)
        devices += cpe_devices
    devices = render_device("dc-core", PROVINCE_DC, "198.18.0.1", dc_ifaces, False) + devices

    header = f"""\
# Quảng Ngãi province, as of 2022: the provincial data centre, {len(districts)} district-level
# units and {sum(len(d["communes"]) for d in districts)} communes.
# GENERATED by scripts/make_quang_ngai.py from shared/data/quang-ngai-2022.yaml: edit the
# script, not this file (tests/unit/test_sample_inventory.py checks they agree).
#
# REAL: GSO codes, names (with diacritics; the official full name is the comment on each
# site), levels, parents, district centroids and terrain (GSO 2022 lists, gis.chinhphu.vn).
# INVENTED for the sample: every link, medium, capacity, latency, upgrade tier and cost
# (VND per month), every device and address (lab range 198.18.0.0/15), and the commune
# coordinates (a golden-angle spiral around the district centroid, flagged approximate).
#
{STORY}
version: 1
include:
  - ../probes/modules.yaml
  - ../probes/auths.yaml

conference:
  bridge: {q(PROVINCE_DC)}
  topology: mcu
  cascade_at: []
  profile: hd

# The calendar: vcmon exports each upcoming conference and alerts when a site it needs is
# not ready `lead_time` before the start (times with their UTC offset; Vietnam is +07:00).
schedule:
  giao-ban-thang-12:
    description: "Họp giao ban tháng 12 của UBND tỉnh với các huyện, thị xã, thành phố"
    start: 2026-12-07T08:00:00+07:00
    duration: 3h
    profile: hd
    sites: [level:province, level:district]
    lead_time: 2h
  tap-huan-chuyen-doi-so:
    description: "Tập huấn chuyển đổi số cho cán bộ cấp xã, huyện Sơn Tây"
    start: 2026-12-10T14:00:00+07:00
    duration: 2h
    profile: sd
    sites: [level:province, district:530]
    lead_time: 4h

defaults:
  site: {{terrain: plain, rooms: 1}}
  link: {{medium: fibre, role: primary}}
  device: {{modules: [icmp_video, snmp_v2c_ifmib], auth: lab_v2c}}

"""
    body = ["sites:", *sites, "", "links:"]
    for link in links:
        body += render_link(link)
    body += ["", "devices:", *devices]
    return header + "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT), help="'-' for stdout")
    args = parser.parse_args(argv)
    try:
        data = yaml.safe_load(args.data.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"make_quang_ngai: {args.data}: {exc.strerror}", file=sys.stderr)
        return 2
    text = render(data)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
