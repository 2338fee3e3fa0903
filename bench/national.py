#!/usr/bin/env python3
"""Generate a synthetic national inventory for the core benchmark (deterministic).

Vietnam-sized: 63 provinces, ~700 district-level units, ~11,000 communes (the 2022 GSO
counts were 63 / 705 / 10,599), one device per site, every site a link toward a national
bridge. Names, codes, links and addresses are all invented; only the shape is realistic:
hub and spoke (bridge <- province data centre <- district hub <- communes), mountain
communes thin, some on 4G with a backup link, islands over microwave.

Written as a directory: `national.yaml` (version, includes, conference, defaults and the
bridge site) plus one file per province, `p01.yaml` .. `p63.yaml`.

    python bench/national.py [-o bench/out/national] [--provinces 63] [--seed national-2022]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH / "out" / "national"
BRIDGE = "00"
LAB_BASE = (198 << 24) | (18 << 16)  # 198.18.0.0/15 holds 131,072 addresses
LAB_SIZE = 1 << 17

# Districts per province and communes per district: uniform ranges whose means give the
# national totals (63 x 11 = 693 districts; 693 x ~16 = ~11,000 communes).
DISTRICTS_PER_PROVINCE = (6, 16)
COMMUNES_PER_DISTRICT = (8, 24)


@dataclass
class Counter:
    """Running numbering shared by all provinces, so codes and addresses stay unique."""

    district: int = 0
    commune: int = 0
    address: int = 0

    def next_address(self) -> str:
        self.address += 1
        if self.address >= LAB_SIZE - 1:
            raise ValueError("more devices than 198.18.0.0/15 has addresses")
        n = LAB_BASE + self.address
        return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def _site(
    code: str,
    name: str,
    level: str,
    parent: str | None,
    terrain: str,
    rooms: int,
    lat: float,
    lon: float,
) -> str:
    parent_line = f'    parent: "{parent}"\n' if parent else ""
    rooms_line = f"    rooms: {rooms}\n" if rooms != 1 else ""
    return (
        f'  "{code}":\n    name: "{name}"\n    level: {level}\n{parent_line}'
        f"    coordinates: {{lat: {lat:.4f}, lon: {lon:.4f}, approximate: true}}\n"
        f"    terrain: {terrain}\n{rooms_line}"
    )


def _link(
    link_id: str,
    site: str,
    to: str,
    medium: str,
    up: str,
    down: str,
    latency_ms: int,
    role: str = "primary",
    upgrade: bool = False,
) -> str:
    cap = up if up == down else f"{{up: {up}, down: {down}}}"
    out = f'  {link_id}:\n    site: "{site}"\n    to: "{to}"\n'
    if medium != "fibre":
        out += f"    medium: {medium}\n"
    if role != "primary":
        out += f"    role: {role}\n"
    out += f"    capacity: {cap}\n    latency: {latency_ms}ms\n"
    if upgrade:
        out += (
            "    upgrades:\n      - {name: fibre-10M, medium: fibre, capacity: 10M, "
            "monthly_cost: 1500000, lead_time: 45d}\n"
        )
    return out


def _device(name: str, site: str, address: str, interfaces: list[tuple[str, str]]) -> str:
    out = f'  {name}:\n    site: "{site}"\n    address: {address}\n'
    if interfaces:
        out += "    interfaces:\n" + "".join(
            f"      - {{link: {link}, ifName: {ifname}}}\n" for link, ifname in interfaces
        )
    return out


def province_file(index: int, rng: random.Random, counter: Counter) -> tuple[str, int, int]:
    """One province's sites, links and devices; returns (yaml, districts, communes)."""
    pcode = f"{index:02d}"
    lat0 = 8.6 + (23.4 - 8.6) * (index - 1) / 62  # spread south to north, for maps only
    lon0 = 104.0 + rng.uniform(0.0, 5.0)
    sites = [
        _site(
            pcode, f"Trung tâm Dữ liệu tỉnh {index:02d}", "province", None, "urban", 1, lat0, lon0
        )
    ]
    links = [_link(f"n-{pcode}", pcode, BRIDGE, "fibre", "1G", "1G", rng.randint(2, 15))]
    devices: list[str] = []
    dc_ifaces: list[tuple[str, str]] = []
    hubs: list[str] = []
    n_districts = rng.randint(*DISTRICTS_PER_PROVINCE)
    n_communes_total = 0
    dc_address = counter.next_address()
    for _ in range(n_districts):
        counter.district += 1
        dcode = f"{counter.district:03d}"
        terrain = rng.choice(["plain", "plain", "coastal", "mountain", "urban"])
        if rng.random() < 0.01:
            terrain = "island"
        dlat, dlon = lat0 + rng.uniform(-0.5, 0.5), lon0 + rng.uniform(-0.5, 0.5)
        sites.append(_site(dcode, f"Huyện {dcode}", "district", pcode, terrain, 2, dlat, dlon))
        n_communes = 0 if terrain == "island" else rng.randint(*COMMUNES_PER_DISTRICT)
        n_communes_total += n_communes
        if terrain == "island":
            links.append(_link(f"dc-{dcode}", dcode, pcode, "microwave", "8M", "16M", 60))
        else:
            cap = rng.choice(["20M", "30M", "50M", "100M"])
            links.append(_link(f"dc-{dcode}", dcode, pcode, "fibre", cap, cap, rng.randint(1, 6)))
        dc_ifaces.append((f"dc-{dcode}", f"d-{dcode}"))
        hub_ifaces: list[tuple[str, str]] = []
        cpes: list[str] = []
        hub_address = counter.next_address()
        for _ in range(n_communes):
            counter.commune += 1
            ccode = f"{counter.commune:05d}"
            clat, clon = dlat + rng.uniform(-0.05, 0.05), dlon + rng.uniform(-0.05, 0.05)
            sites.append(_site(ccode, f"Xã {ccode}", "commune", dcode, terrain, 1, clat, clon))
            lid = f"{dcode}-{ccode}"
            if terrain == "mountain" and rng.random() < 0.25:
                links.append(_link(lid, ccode, dcode, "4g", "1M", "6M", 35, upgrade=True))
            elif terrain == "mountain":
                cap = rng.choice(["2M", "4M", "8M"])
                links.append(_link(lid, ccode, dcode, "vpn", cap, cap, 8, upgrade=cap != "8M"))
            else:
                cap = rng.choice(["8M", "10M", "20M"])
                links.append(_link(lid, ccode, dcode, "fibre", cap, cap, 2))
            cpe_ifaces = [(lid, "up0")]
            if rng.random() < 0.05:
                bid = f"dc-{ccode}-backup"
                links.append(_link(bid, ccode, pcode, "4g", "2M", "8M", 40, role="backup"))
                dc_ifaces.append((bid, f"b-{ccode}"))
                cpe_ifaces.append((bid, "lte0"))
            hub_ifaces.append((lid, f"c-{ccode}"))
            cpes.append(_device(f"cpe-{ccode}", ccode, counter.next_address(), cpe_ifaces))
        hubs.append(_device(f"r-{dcode}", dcode, hub_address, hub_ifaces))
        hubs.extend(cpes)
    devices.append(_device(f"dc-{pcode}", pcode, dc_address, dc_ifaces))
    devices.extend(hubs)
    text = (
        f"# Province {pcode} of the synthetic national benchmark inventory (all invented).\n"
        "sites:\n"
        + "".join(sites)
        + "\nlinks:\n"
        + "".join(links)
        + "\ndevices:\n"
        + "".join(devices)
    )
    return text, n_districts, n_communes_total


def national_file(out: Path, province_files: list[str]) -> str:
    probes = Path(os.path.relpath(BENCH.parent / "probes", out))
    includes = "".join(f"  - {name}\n" for name in province_files)
    core_ifaces = "".join(
        f"      - {{link: n-{i:02d}, ifName: n-{i:02d}}}\n"
        for i in range(1, len(province_files) + 1)
    )
    return f"""\
# Synthetic national inventory for bench/bench_core.py, generated by bench/national.py.
# Everything in it is invented; only the size and shape are realistic.
version: 1
include:
  - {probes / "modules.yaml"}
  - {probes / "auths.yaml"}
{includes}
conference:
  bridge: "{BRIDGE}"
  topology: mcu
  cascade_at: []
  profile: hd

defaults:
  site: {{terrain: plain, rooms: 1}}
  link: {{medium: fibre, role: primary}}
  device: {{modules: [icmp_video, snmp_v2c_ifmib], auth: lab_v2c}}

sites:
  "{BRIDGE}":
    name: "Trung tâm Hội nghị truyền hình quốc gia"
    level: province
    coordinates: {{lat: 21.0285, lon: 105.8542}}
    terrain: urban

devices:
  national-core:
    site: "{BRIDGE}"
    address: 198.18.0.1
    interfaces:
{core_ifaces}"""


def generate(out: Path, provinces: int = 63, seed: str = "national-2022") -> dict[str, int]:
    """Write the directory; return the counts of what it holds."""
    rng = random.Random(seed)
    counter = Counter()
    counter.next_address()  # 198.18.0.1 is the national core
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        stale.unlink()
    names: list[str] = []
    totals = {"provinces": provinces, "districts": 0, "communes": 0}
    for index in range(1, provinces + 1):
        text, n_districts, n_communes = province_file(index, rng, counter)
        name = f"p{index:02d}.yaml"
        (out / name).write_text(text, encoding="utf-8")
        names.append(name)
        totals["districts"] += n_districts
        totals["communes"] += n_communes
    (out / "national.yaml").write_text(national_file(out, names), encoding="utf-8")
    totals["devices"] = counter.address
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--provinces", type=int, default=63)
    parser.add_argument("--seed", default="national-2022")
    args = parser.parse_args(argv)
    totals = generate(args.out, args.provinces, args.seed)
    print(f"{args.out}: " + ", ".join(f"{v} {k}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
