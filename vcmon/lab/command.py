"""`vcmon lab up|down|status|exec`: the lab's command-line surface, added to vcmon's parser
by `vcmon.cli` (the composition root). Handlers return an exit code; errors are raised as
VcmonError for `vcmon.cli.main` to print."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(os.environ.get("VCMON_LAB_DIR", "/run/vcmon-lab"))


def add_lab_parser(sub: Any, epilog: str) -> None:
    p = sub.add_parser(
        "lab",
        help="the simulated province network: namespaces, shaped links, agents, impairments",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"where the lab records what it made (default {DEFAULT_STATE_DIR}, or $VCMON_LAB_DIR)",
    )
    p.set_defaults(handler=lambda _a: (p.print_help(), 2)[1])
    lab_sub = p.add_subparsers(title="lab commands", metavar="LAB_COMMAND")

    up = lab_sub.add_parser("up", help="build the lab from an inventory (idempotent)")
    up.add_argument("inventory", type=Path, help="inventory file or directory")
    up.add_argument("--scenario", type=Path, help="impairments and timed events (YAML)")
    up.add_argument("--prefix", default="vl-", help="namespace name prefix (default vl-)")
    up.set_defaults(handler=cmd_up)

    down = lab_sub.add_parser("down", help="remove everything the lab made")
    down.set_defaults(handler=cmd_down)

    st = lab_sub.add_parser("status", help="what is up, against what was recorded")
    st.add_argument("--format", choices=["table", "json"], default="table")
    st.set_defaults(handler=cmd_status)

    fw = lab_sub.add_parser(
        "forward", help="relay a host loopback port to a TCP service in the NOC (e.g. /metrics)"
    )
    fw.add_argument("--listen", default="127.0.0.1:9874", help="host address (loopback only)")
    fw.add_argument("--to", default="127.0.0.1:9874", help="address inside the NOC namespace")
    fw.set_defaults(handler=cmd_forward)

    ex = lab_sub.add_parser("exec", help="run a command in the NOC namespace: lab exec -- CMD")
    ex.add_argument("argv", nargs=argparse.REMAINDER, help="the command (after --)")
    ex.set_defaults(handler=cmd_exec)


def cmd_up(args: argparse.Namespace) -> int:
    from vcmon import lab
    from vcmon.inventory import load_inventory

    inv = load_inventory(args.inventory)
    state = lab.up(inv, args.scenario, state_dir=args.state_dir, prefix=args.prefix)
    truth = json.loads(state.truth.read_text())
    agents = sum(1 for s in truth["sites"].values() if s["agent"]) + 1
    print(
        f"lab up: {len(state.namespaces)} namespaces, {len(truth['links'])} links, "
        f"{agents} SNMP agents; NOC {state.noc} ({truth['noc']['address']})\n"
        f"ground truth: {state.truth}\n"
        f"try: vcmon lab exec -- traceroute -n {_far_address(truth)}"
    )
    return 0


def _far_address(truth: dict[str, Any]) -> str:
    sites = [s for s in truth["sites"].values() if s["addresses"]]
    return str(sites[-1]["addresses"][0]) if sites else truth["bridge"]["address"]


def cmd_down(args: argparse.Namespace) -> int:
    from vcmon import lab

    lab.down(args.state_dir)
    print(f"lab down: nothing of the lab recorded in {args.state_dir} remains")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from vcmon import lab

    st = lab.status(args.state_dir)
    if st is None:
        print(f"no lab recorded in {args.state_dir}")
        return 1
    if args.format == "json":
        print(json.dumps(asdict(st), indent=1))
    else:
        print(
            f"lab {st.prefix}: {'up' if st.up else 'DEGRADED'}; namespaces "
            f"{st.namespaces_present}/{st.namespaces_present + len(st.namespaces_missing)}; "
            f"daemon {'alive' if st.daemon_alive else 'DEAD'}; agents "
            f"{st.agents_alive}/{st.agents_expected}; events {st.events_done}/"
            f"{st.events_planned}; up {st.uptime_s:.0f} s"
            + (f"; links down: {', '.join(st.links_down)}" if st.links_down else "")
        )
    return 0 if st.up else 1


def cmd_exec(args: argparse.Namespace) -> int:
    from vcmon import lab

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return lab.exec_in_noc(args.state_dir, argv)


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def cmd_forward(args: argparse.Namespace) -> int:
    import asyncio

    from vcmon.lab.forward import relay

    listen, to = _hostport(args.listen), _hostport(args.to)
    print(f"forwarding http://{listen[0]}:{listen[1]} to {to[0]}:{to[1]} in the lab's NOC")
    asyncio.run(relay(args.state_dir, listen, to))
    return 0
