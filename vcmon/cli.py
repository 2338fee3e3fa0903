"""The composition root: parse the command line, wire the subsystems, print, exit.

Exit codes (also in `vcmon --help`):
  0  success
  1  internal error (a bug: please report it with the output of --debug)
  2  invalid input: inventory, probe, scenario or measurement file, or command-line usage
  3  probes cannot run (no permission for ICMP sockets, bad module)
  4  the lab cannot be built or torn down
  130 interrupted
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmon import __version__
from vcmon.errors import InventoryError, VcmonError
from vcmon.exporter import DEFAULT_LISTEN
from vcmon.memory import gc_paused
from vcmon.model import ConferenceTopology, Direction, Inventory, Level, RootCause, Verdict
from vcmon.model import select_sites as model_select_sites
from vcmon.units import format_rate

if TYPE_CHECKING:  # imported by the commands that need them: networkx is slow to import
    from vcmon.readiness import SiteReadiness
    from vcmon.topology import LinkLoads, Spof

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130

EPILOG = """exit codes:
  0    success
  1    internal error (a bug: rerun with --debug and report it)
  2    invalid input (inventory/probe/scenario/measurement file, or usage)
  3    probes cannot run (ICMP socket permission, bad module)
  4    the lab cannot be built or torn down
  130  interrupted
"""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("vcmon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except VcmonError as exc:
        if args.debug:
            raise
        return fail(exc)
    except BrokenPipeError:
        # `vcmon ... | head`: the reader left; not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"vcmon: internal error: {type(exc).__name__} (rerun with --debug and report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def entry() -> int:
    """The process entry point: the console script and `python -m vcmon`."""
    code = main()
    # The process ends here: take what is alive out of the cyclic collector's reach, or the
    # interpreter's final collections walk it all again (~0.3 s after a national analyze).
    # Not in main(), which tests call in a process that goes on.
    gc.freeze()
    return code


def fail(exc: VcmonError) -> int:
    """The one place fatal errors become output and an exit code."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    for line in lines:
        print(f"vcmon: {line}", file=sys.stderr)
    if isinstance(exc, InventoryError) and len(exc.problems) > 1:
        print(f"vcmon: {len(exc.problems)} problems", file=sys.stderr)
    return exc.exit_code


def _subcommand(sub: Any, name: str, help_: str) -> argparse.ArgumentParser:
    """A sub-command whose --help ends with the exit codes, like every vcmon command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcmon",
        description="Video-conference rollout planner and network readiness monitor.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vcmon {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug detail on errors"
    )
    parser.set_defaults(handler=lambda _args: _usage(parser))
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    from vcmon.lab.command import add_lab_parser  # lazy: `vcmon lab` only

    add_lab_parser(sub, EPILOG)

    p = _subcommand(
        sub, "validate", "check an inventory and report every mistake with file, line and field"
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    p.set_defaults(handler=cmd_validate)

    p = _subcommand(
        sub,
        "analyze",
        "readiness per site and profile, conference load per link, SPOFs (before probing)",
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    p.add_argument(
        "--profile",
        action="append",
        help="profile(s) to assess (repeatable; default: every profile)",
    )
    p.add_argument(
        "--topology",
        choices=[t.value for t in ConferenceTopology],
        help="conference topology (default: the inventory's conference.topology)",
    )
    p.add_argument(
        "--cascade-at",
        metavar="CODE,...",
        help="district codes hosting a cascaded MCU (default: the inventory's cascade_at)",
    )
    p.add_argument(
        "--sites",
        metavar="SELECTOR,...",
        help="who joins the conference: all (default), district:CODE (a district and its "
        "communes), level:commune, or site codes",
    )
    p.add_argument(
        "--format",
        choices=[f.value for f in OutputFormat],
        default=OutputFormat.TABLE.value,
        help="table (default), json (everything) or csv (one row per site)",
    )
    p.add_argument(
        "--measurements",
        type=Path,
        metavar="FILE",
        help="judge on measured numbers (from `vcmon assess --out FILE`) plus the topology",
    )
    p.set_defaults(handler=cmd_analyze)

    p = _subcommand(
        sub, "run", "the always-on agent: probe every site, judge readiness, serve /metrics"
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="[HOST]:PORT",
        help=f"HTTP listen address (default {DEFAULT_LISTEN}: /metrics, /api/v1/sites, /-/ready)",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="cover only shard K of N (0 <= K < N); the inventory is split by district",
    )
    p.add_argument(
        "--log-format",
        choices=["json", "text"],
        default="json",
        help="structured JSON lines (default) or plain text on stderr",
    )
    p.add_argument(
        "--snmp-port", type=int, default=161, help="UDP port of the SNMP agents (default 161)"
    )
    p.set_defaults(handler=cmd_run)
    _add_probe_parsers(sub)
    _add_plan_parser(sub)
    _add_report_parser(sub)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --- validate ------------------------------------------------------------------------


def _load(path: Path) -> Inventory:
    from vcmon.inventory import load_inventory

    return load_inventory(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from vcmon.inventory import validate_inventory

    s = validate_inventory(args.path)
    print(
        f"{args.path}: ok: {s.sites} sites ({s.provinces} province, "
        f"{s.districts} districts, {s.communes} communes), "
        f"{s.links} links, {s.devices} devices, {s.profiles} profiles"
    )
    return EXIT_OK


# --- analyze -------------------------------------------------------------------------


def select_sites(inv: Inventory, selector: str | None) -> frozenset[str]:
    """Resolve `--sites` to site codes; unknown selectors are usage errors (exit 2)."""
    if not selector:
        return frozenset(inv.sites)
    try:
        return model_select_sites(inv.sites, selector.split(","))
    except ValueError as exc:
        raise _usage_error(f"--sites: {exc}") from None


def _usage_error(message: str) -> InventoryError:
    return InventoryError.single("command line", 0, "", message)


def cmd_analyze(args: argparse.Namespace) -> int:
    # One pass over acyclic data: the cyclic collector would only rescan the national
    # inventory's objects again and again (~15% of the command's time).
    with gc_paused():
        return _analyze(args)


def _analyze(args: argparse.Namespace) -> int:
    from vcmon import readiness, topology

    inv = _load(args.path)
    conf = inv.conference
    topo = ConferenceTopology(args.topology) if args.topology else conf.topology
    cascade_at = (
        frozenset(c.strip() for c in args.cascade_at.split(",") if c.strip())
        if args.cascade_at
        else frozenset(conf.cascade_at)
    )
    for code in sorted(cascade_at):
        if code not in inv.sites or inv.sites[code].level is not Level.DISTRICT:
            raise _usage_error(f"--cascade-at: {code!r} is not a district code")
    profiles = args.profile or list(inv.profiles)
    for name in profiles:
        if name not in inv.profiles:
            raise _usage_error(
                f"--profile: unknown profile {name!r} (known: {', '.join(inv.profiles)})"
            )
    sites = select_sites(inv, args.sites)

    graph = topology.build_graph(inv)
    routes = topology.routes(graph, conf.bridge)
    measurements, now = None, None
    if args.measurements is not None:
        from vcmon.report.measurements import load_measurements

        measurements = load_measurements(args.measurements)
        # judged as of the newest measurement: an assessment file stays readable later
        now = max(
            [m.measured_at for m in measurements.paths.values()]
            + [m.measured_at for m in measurements.links.values()],
            default=0.0,
        )
    scenario = topology.Scenario(sites, inv.profiles[profiles[0]], topo, cascade_at)
    loads_by_profile = topology.conference_loads(
        graph, routes, scenario, [inv.profiles[name] for name in profiles]
    )
    verdicts = readiness.assess(
        inv,
        graph,
        routes,
        sites,
        topo,
        cascade_at=cascade_at,
        profiles=profiles,
        measurements=measurements,
        now=now,
        loads=loads_by_profile,
    )
    load_profile = conf.profile if conf.profile in profiles else profiles[0]
    loads = loads_by_profile[load_profile]
    spofs = topology.spofs(graph, conf.bridge)

    out = sys.stdout
    fmt = OutputFormat(args.format)
    if fmt is OutputFormat.TABLE:  # from the verdicts: most sites need no row at all
        out.write(_analysis_table(inv, verdicts, profiles, topo, load_profile, sites, loads, spofs))
        return EXIT_OK
    analysis = _analysis_dict(inv, verdicts, profiles, topo, load_profile, sites, loads, spofs)
    if fmt is OutputFormat.JSON:
        # One C-encoded write: indent= would switch json to its pure-Python encoder. The
        # analysis is a tree by construction (shared reason forms are leaves), and the
        # circularity check cost 40% of encoding the national 17 MB.
        indent = 2 if out.isatty() else None
        out.write(json.dumps(analysis, ensure_ascii=False, indent=indent, check_circular=False))
        out.write("\n")
    else:
        out.write(_sites_csv(analysis, profiles))
    return EXIT_OK


UP, DOWN = Direction.UP, Direction.DOWN  # looked up once: Enum attributes are slow on 3.11


def _analysis_dict(
    inv: Inventory,
    verdicts: Mapping[str, SiteReadiness],
    profiles: Sequence[str],
    topo: ConferenceTopology,
    load_profile: str,
    joining: frozenset[str],
    loads: LinkLoads,
    spofs: Sequence[Spof],
) -> dict[str, Any]:
    sites_out = []
    counts = {p: {v.value: 0 for v in Verdict} for p in profiles}
    shared: dict[int, dict[str, Any]] = {}  # a reason many sites share is converted once
    # so is a verdict many sites share (readiness hands out one object for them all)
    converted: dict[int, dict[str, Any]] = {}
    for code, site in inv.sites.items():
        sr = verdicts.get(code)
        if sr is None:
            continue
        forms: dict[str, Any] = {}
        for p in profiles:
            pv = sr.verdicts[p]
            counts[p][pv.verdict] += 1  # a StrEnum member finds its value's key
            form = converted.get(id(pv))
            if form is None:
                form = converted[id(pv)] = pv.as_dict(shared)
            forms[p] = form
        sites_out.append(
            {
                "code": code,
                "name": site.name,
                "level": site.level,  # a StrEnum: json writes its value
                "district": site.district,
                "joins": code in joining,
                "best_profile": sr.best_profile,
                "profiles": forms,
            }
        )
    links_out = []
    for link_id, ld in loads.items():
        link = inv.links[link_id]
        links_out.append(
            {
                "link": link_id,
                "site": link.site,
                "to": link.to,
                "medium": link.medium,
                "role": link.role,
                "up_load_bps": ld.up_bps,
                "up_capacity_bps": link.up_bps,
                "up_utilisation_ratio": ld.utilisation(UP),
                "down_load_bps": ld.down_bps,
                "down_capacity_bps": link.down_bps,
                "down_utilisation_ratio": ld.utilisation(DOWN),
            }
        )
    return {
        "topology": topo.value,
        "bridge": inv.conference.bridge,
        "load_profile": load_profile,
        "joining_sites": len(joining),
        "summary": counts,
        "sites": sites_out,
        "links": links_out,
        "spofs": [{"kind": s.kind, "id": s.id, "cut_off": list(s.cut_off)} for s in spofs],
    }


def _sites_csv(analysis: dict[str, Any], profiles: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["code", "name", "level", "district", "best_profile"]
        + [f"{p}_verdict" for p in profiles]
        + [f"{p}_reasons" for p in profiles]
    )
    for s in analysis["sites"]:
        w.writerow(
            [s["code"], s["name"], s["level"], s["district"] or "", s["best_profile"] or ""]
            + [s["profiles"][p]["verdict"] for p in profiles]
            + ["; ".join(r["text"] for r in s["profiles"][p]["reasons"]) for p in profiles]
        )
    return buf.getvalue()


def _first_reason(site: SiteReadiness, profiles: Sequence[str], texts: dict[int, str]) -> str:
    """The reason of the least demanding profile that is not ready, its root's first.

    `texts` keeps each reason's text by id: sites behind one overloaded link share it.
    """
    for p in profiles:
        v = site.verdicts[p]
        if v.verdict is Verdict.READY or not v.reasons:
            continue
        reason, prefix = v.reasons[0], f"{p}: "
        if v.root_cause is RootCause.UPSTREAM:
            reason = next((r for r in v.reasons if r.where == v.root), reason)
            prefix = f"{p}: upstream {v.root}: "
        text = texts.get(id(reason))
        if text is None:
            text = texts[id(reason)] = reason.text()
        return prefix + text
    return ""


def _analysis_table(
    inv: Inventory,
    verdicts: Mapping[str, SiteReadiness],
    profiles: Sequence[str],
    topo: ConferenceTopology,
    load_profile: str,
    joining: frozenset[str],
    loads: LinkLoads,
    spofs: Sequence[Spof],
) -> str:
    out = io.StringIO()
    w = out.write
    w(
        f"Conference: {topo.value} to bridge {inv.conference.bridge}, "
        f"{len(joining)} sites joining\n\n"
    )
    w("Readiness (sites per verdict)\n")
    w(f"  {'profile':<10}" + "".join(f"{v.value:>11}" for v in Verdict) + "\n")
    counts = {p: dict.fromkeys(Verdict, 0) for p in profiles}
    rows: list[str] = []
    texts: dict[int, str] = {}
    verdict_cells = {v: f"{v.value:<10}" for v in Verdict}  # formatted once, not per row
    ready = Verdict.READY
    for code, site in inv.sites.items():
        sr = verdicts.get(code)
        if sr is None:
            continue
        worst = [sr.verdicts[p].verdict for p in profiles]
        for p, v in zip(profiles, worst, strict=True):
            counts[p][v] += 1
        if any(v is not ready for v in worst):
            rows.append(
                f"  {code:<7} {site.name[:22]:<22} {sr.best_profile or '-':<6} "
                + " ".join(verdict_cells[v] for v in worst)
                + f"  {_first_reason(sr, profiles, texts)}\n"
            )
    for p in profiles:
        w(f"  {p:<10}" + "".join(f"{counts[p][v]:>11}" for v in Verdict) + "\n")

    w("\nSites not ready for every profile\n")
    header = f"  {'code':<7} {'name':<22} {'best':<6} " + " ".join(f"{p:<10}" for p in profiles)
    w(header + "  reason\n")
    w("".join(rows) or "  (none)\n")

    w(f"\nConference load per link ({load_profile}), most utilised first\n")
    w(f"  {'link':<18} {'up load/capacity':>28} {'down load/capacity':>28}\n")
    for ld in loads.most_utilised(25):
        cells = []
        for d in (UP, DOWN):
            cells.append(
                f"{format_rate(ld.load_bps(d))}/{format_rate(ld.capacity_bps(d))}"
                f" {ld.utilisation(d):>5.0%}"
            )
        w(f"  {ld.link:<18} {cells[0]:>28} {cells[1]:>28}\n")
    if len(loads) > 25:
        w(f"  ... {len(loads) - 25} more links (--format json for all)\n")

    w("\nSingle points of failure (sites cut off)\n")
    if not spofs:
        w("  (none)\n")
    # Every single-homed site's own link cuts off that one site: thousands of lines that say
    # the same thing nationally, so they are counted, not listed (like links above).
    singles = 0
    for spof in sorted(spofs, key=lambda s: -len(s.cut_off)):
        cut = spof.cut_off
        if len(cut) == 1:
            singles += 1
            continue
        names = ", ".join(cut[:8]) + (f", ... ({len(cut)} sites)" if len(cut) > 8 else "")
        w(f"  {spof.kind:<5} {spof.id:<18} {len(cut):>4}  {names}\n")
    if singles:
        w(f"  ... {singles} more that each cut off one site (--format json for all)\n")
    return out.getvalue()


# --- run -----------------------------------------------------------------------------


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`K/N` -> (K, N).

    >>> parse_shard("1/4"), parse_shard(None)
    ((1, 4), None)
    """
    if text is None:
        return None
    k, _, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        raise _usage_error(f"--shard: {text!r} is not K/N") from None
    if not 0 <= shard[0] < shard[1]:
        raise _usage_error(f"--shard: need 0 <= K < N, got {text!r}")
    return shard


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from vcmon.monitor import Agent, return_big_buffers_to_the_os, setup_logging

    return_big_buffers_to_the_os()
    setup_logging(args.log_format, debug=args.debug)
    shard = parse_shard(args.shard)
    agent = Agent(args.path, listen=args.listen, shard=shard, snmp_port=args.snmp_port)
    agent.load_first()  # an invalid inventory at start is fatal (exit 2); later ones are not
    asyncio.run(agent.run())
    return EXIT_OK


# --- plan and report (vcmon.plan, vcmon.report) ------------------------------------------


def _add_plan_parser(sub: Any) -> None:
    p = _subcommand(
        sub, "plan", "cheapest link upgrades (and cascade MCUs) to a ready province; waves; what-if"
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    _add_scenario_options(p)
    p.add_argument(
        "--target",
        default="all",
        metavar="all|district:CODE,...",
        help="sites that must become ready (default: all but the bridge)",
    )
    p.add_argument(
        "--weight",
        choices=["sites", "rooms"],
        default="sites",
        help="under --budget, maximise ready sites (default) or ready rooms",
    )
    p.add_argument(
        "--what-if",
        action="append",
        metavar="KEY=VALUE,...",
        help="compare with a scenario (repeatable): name=, profile=, topology=, cascade=C+C, "
        "sites=district:CODE+..., link:ID=RATE[/DOWN], down=LINK+LINK (links cut)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(handler=cmd_plan)


def _add_report_parser(sub: Any) -> None:
    p = _subcommand(
        sub,
        "report",
        "HTML (prints on A4), CSV and JSON report: verdicts, map, charts, SPOFs, plan",
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    _add_scenario_options(p)
    p.add_argument(
        "--prometheus", metavar="URL", help="take p95 over --window from this Prometheus"
    )
    p.add_argument("--window", default="7d", help="window for --prometheus (default 7d)")
    p.add_argument("--lang", choices=["vi", "en"], default="vi", help="language (default vi)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(handler=cmd_report)


def _add_scenario_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--measurements", type=Path, metavar="FILE", help="measurements JSON file")
    p.add_argument("--profile", help="profile (default: the inventory's conference.profile)")
    p.add_argument(
        "--topology",
        choices=[t.value for t in ConferenceTopology],
        help="conference topology (default: the inventory's)",
    )
    p.add_argument("--budget", type=float, metavar="AMOUNT", help="monthly budget")
    p.add_argument(
        "--mcu-cost",
        type=float,
        default=0.0,
        metavar="AMOUNT",
        help="monthly cost of a cascaded MCU (topology cascade; default 0)",
    )
    p.add_argument(
        "--mcu-lead-time", default="0s", metavar="DURATION", help="lead time of a cascaded MCU"
    )


def _costs(args: argparse.Namespace) -> Any:
    from vcmon.plan import Costs
    from vcmon.units import parse_duration

    try:
        lead = parse_duration(args.mcu_lead_time)
    except ValueError as exc:
        raise _usage_error(f"--mcu-lead-time: {exc}") from None
    if args.mcu_cost < 0 or (args.budget is not None and args.budget < 0):
        raise _usage_error("--budget and --mcu-cost must not be negative")
    return Costs(args.mcu_cost, lead)


def cmd_plan(args: argparse.Namespace) -> int:
    import time

    from vcmon import plan as planning
    from vcmon import topology
    from vcmon.report import load_measurements
    from vcmon.report.text import dumps, plan_dict, plan_text, what_if_dict, what_if_text

    inv = _load(args.path)
    graph = topology.build_graph(inv)
    routes = topology.routes(graph, inv.conference.bridge)
    measurements = load_measurements(args.measurements) if args.measurements else None
    now = time.time() if measurements is not None else None
    topo = ConferenceTopology(args.topology) if args.topology else None
    costs = _costs(args)
    result = planning.plan(
        inv,
        graph,
        routes,
        profile=args.profile,
        topology=topo,
        target=planning.select_sites(inv, args.target),
        budget=args.budget,
        weight=planning.Weight(args.weight),
        measurements=measurements,
        now=now,
        costs=costs,
    )
    waves = planning.waves(result)
    doc: dict[str, Any] = {"plan": plan_dict(result, waves)}
    text = plan_text(result, waves, inv)
    if args.what_if:
        base = planning.WhatIf("baseline", profile=args.profile, topology=topo)
        scenarios = [base, *(planning.parse_what_if(w, inv) for w in args.what_if)]
        outcomes = planning.what_if(
            inv, graph, routes, scenarios, measurements=measurements, now=now, costs=costs
        )
        diffs = planning.compare(outcomes)
        doc["what_if"] = what_if_dict(outcomes, diffs)
        text += "\n" + what_if_text(outcomes, diffs)
    sys.stdout.write(dumps(doc) if args.format == "json" else text)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import time

    from vcmon import report, topology
    from vcmon.units import parse_duration

    if args.prometheus and args.measurements:
        raise _usage_error("--measurements and --prometheus exclude each other")
    inv = _load(args.path)
    graph = topology.build_graph(inv)
    routes = topology.routes(graph, inv.conference.bridge)
    now = time.time()
    measurements, source = None, ""
    if args.measurements:
        measurements, source = report.load_measurements(args.measurements), str(args.measurements)
    elif args.prometheus:
        try:
            window = parse_duration(args.window)
        except ValueError as exc:
            raise _usage_error(f"--window: {exc}") from None
        measurements = report.prometheus_measurements(args.prometheus, inv, window, now)
        source = f"{args.prometheus} (p95, {args.window})"
    data = report.collect(
        inv,
        graph,
        routes,
        profile=args.profile,
        topology=ConferenceTopology(args.topology) if args.topology else None,
        measurements=measurements,
        now=now,
        budget=args.budget,
        costs=_costs(args),
        source=source,
    )
    for path in report.write_report(data, args.out, args.lang):
        print(path)
    return EXIT_OK


# --- probe / assess --------------------------------------------------------------------


def _add_probe_parsers(sub: Any) -> None:
    p = _subcommand(
        sub, "probe", "probe one site now and show raw results, measurements and metrics"
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    p.add_argument("--site", required=True, metavar="CODE", help="the site to probe")
    p.add_argument("--module", metavar="NAME", help="only this probe module")
    p.add_argument(
        "--snmp-gap",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time between the two SNMP polls a rate needs (default 10)",
    )
    p.add_argument("--snmp-port", type=int, default=161, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_probe)

    p = _subcommand(
        sub, "assess", "probe every site for a while and write measurements for analyze/plan/report"
    )
    p.add_argument("path", type=Path, help="inventory file or directory")
    p.add_argument(
        "--duration", default="5m", help="how long to probe, e.g. 90s, 5m, 1h (default 5m)"
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write measurements JSON here")
    p.add_argument("--snmp-port", type=int, default=161, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_assess)


def cmd_probe(args: argparse.Namespace) -> int:
    import asyncio

    from vcmon.assessment import as_jsonable, probe_site
    from vcmon.exporter.collector import SnapshotCollector
    from vcmon.exporter.view import Evaluator
    from vcmon.store import Store

    inv = _load(args.path)
    report = asyncio.run(
        probe_site(
            inv, args.site, module=args.module, snmp_gap_s=args.snmp_gap, snmp_port=args.snmp_port
        )
    )
    store = Store()
    out = sys.stdout
    for dev, result, pm in report.icmp:
        out.write(f"== {dev.name} ({dev.address}) {result.module}: raw result\n")
        json.dump(as_jsonable(result), out, indent=1)
        out.write("\n-- measurement\n")
        json.dump(as_jsonable(pm), out, indent=1)
        out.write("\n")
        store.record_path(pm)
    for dev, first, second, links in report.snmp:
        out.write(f"== {dev.name} ({dev.address}) SNMP: raw results\n")
        json.dump(as_jsonable([first, second]), out, indent=1)
        out.write("\n-- link measurements\n")
        json.dump(as_jsonable(links), out, indent=1)
        out.write("\n")
        for lm in links:
            store.record_link(lm)
        if first.failure is not None:
            store.record_snmp_error(dev.name, first.failure)
    if not report.icmp and not report.snmp:
        out.write(f"site {args.site} has no device with a matching probe module\n")
        return EXIT_OK
    evaluator = Evaluator()
    evaluator.set_inventory(inv)
    evaluator.evaluate(store.snapshot())
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(evaluator.latest))
    out.write("-- metrics this site would give\n")
    probed_links = {lm.link for _, _, _, lms in report.snmp for lm in lms}
    for line in generate_latest(registry).decode().splitlines():
        if f'site="{args.site}"' in line or any(f'link="{lk}"' in line for lk in probed_links):
            out.write(line + "\n")
    return EXIT_OK


def cmd_assess(args: argparse.Namespace) -> int:
    import asyncio

    from tqdm import tqdm

    from vcmon.assessment import assess, summarise, write_measurements
    from vcmon.units import parse_duration

    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise _usage_error(f"--duration: {exc}") from None
    inv = _load(args.path)
    with tqdm(total=100, unit="%", desc="assessing", file=sys.stderr, leave=False) as bar:

        def progress(done: float) -> None:
            bar.update(round(done * 100) - bar.n)

        measurements = asyncio.run(
            assess(inv, duration, snmp_port=args.snmp_port, progress=progress)
        )
    for line in summarise(measurements, inv):
        print(line)
    if args.out is not None:
        write_measurements(measurements, args.out)
        print(f"measurements written to {args.out}")
    return EXIT_OK
