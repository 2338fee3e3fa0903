"""Plain-text and JSON views of a plan and a what-if comparison, for `vcmon plan`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vcmon.model import Inventory
from vcmon.plan import Difference, Outcome, Plan, Wave
from vcmon.units import format_duration, format_rate


def _money(amount: float) -> str:
    return f"{amount:,.0f}"


def plan_text(plan: Plan, waves: Sequence[Wave], inventory: Inventory) -> str:
    """What to buy, what it costs, who becomes ready when; names keep their diacritics."""
    name = {c: s.name for c, s in inventory.sites.items()}
    lines = [
        f"profile {plan.profile}, topology {plan.topology.value}, "
        f"{len(plan.target)} target sites"
        + (f", budget {_money(plan.budget)}/month" if plan.budget is not None else ""),
        f"ready now: {len(plan.ready_now)}; after the plan: {len(plan.ready)}; "
        f"cannot be made ready by bandwidth: {len(plan.unreachable)}",
        f"monthly cost: {_money(plan.monthly_cost)}; lead time: "
        f"{format_duration(plan.lead_time_s)}"
        + ("" if plan.optimal else " (solver time limit: best plan found, not proven optimal)"),
        "",
        "purchases:" if plan.purchases else "purchases: none",
    ]
    for p in plan.purchases:
        what = (
            f"{p.name} ({format_rate(p.up_bps)}/{format_rate(p.down_bps)})"
            if p.kind == "upgrade"
            else "cascaded MCU"
        )
        where = p.target if p.kind == "upgrade" else f"{name.get(p.target, p.target)} ({p.target})"
        lines.append(
            f"  {where:<24} {what:<36} {_money(p.monthly_cost):>14}/month  "
            f"{format_duration(p.lead_time_s)}"
        )
    lines += ["", "waves:"]
    for w in waves:
        shown = ", ".join(name.get(s, s) for s in w.sites[:6])
        more = f" … +{len(w.sites) - 6}" if len(w.sites) > 6 else ""
        buys = ", ".join(p.key for p in w.purchases) or "nothing to buy"
        lines.append(
            f"  wave {w.number}: {len(w.sites)} site{'' if len(w.sites) == 1 else 's'}, "
            f"{_money(w.monthly_cost)}/month, "
            f"{format_duration(w.lead_time_s) if w.lead_time_s else 'now'} [{buys}]: {shown}{more}"
        )
    if plan.unreachable:
        lines += [
            "",
            "not fixable by bandwidth (path quality or no fast enough tier): "
            + ", ".join(f"{name.get(s, s)} ({s})" for s in sorted(plan.unreachable)),
        ]
    return "\n".join(lines) + "\n"


def plan_dict(plan: Plan, waves: Sequence[Wave]) -> dict[str, Any]:
    def purchase(p: Any) -> dict[str, Any]:
        return {
            "kind": p.kind.value,
            "target": p.target,
            "name": p.name,
            "monthly_cost": p.monthly_cost,
            "lead_time_s": p.lead_time_s,
            "up_bps": p.up_bps,
            "down_bps": p.down_bps,
        }

    return {
        "profile": plan.profile,
        "topology": plan.topology.value,
        "budget": plan.budget,
        "weight": plan.weight.value,
        "target": sorted(plan.target),
        "monthly_cost": plan.monthly_cost,
        "lead_time_s": plan.lead_time_s,
        "optimal": plan.optimal,
        "ready_now": sorted(plan.ready_now),
        "ready": sorted(plan.ready),
        "unreachable": sorted(plan.unreachable),
        "purchases": [purchase(p) for p in plan.purchases],
        "waves": [
            {
                "wave": w.number,
                "sites": list(w.sites),
                "purchases": [p.key for p in w.purchases],
                "monthly_cost": w.monthly_cost,
                "lead_time_s": w.lead_time_s,
            }
            for w in waves
        ],
    }


def what_if_text(outcomes: Sequence[Outcome], diffs: Sequence[Difference]) -> str:
    """One line per scenario, then what changed against the first."""
    lines = ["scenario                ready/joining   plan cost/month"]
    for o in outcomes:
        lines.append(
            f"  {o.scenario.name:<22} {len(o.ready):>5}/{len(o.joining):<7} "
            f"{_money(o.plan_cost):>16}"
        )
    base = outcomes[0].scenario.name if outcomes else ""
    for d in diffs:
        lines += ["", f"{d.name} vs {base}: cost {d.cost_delta:+,.0f}/month"]
        if d.ready_gained:
            lines.append(f"  ready gained ({len(d.ready_gained)}): {' '.join(d.ready_gained)}")
        if d.ready_lost:
            lines.append(f"  ready lost ({len(d.ready_lost)}): {' '.join(d.ready_lost)}")
        for c in d.loads[:20]:
            lines.append(
                f"  {c.link:<20} up {format_rate(c.before_up_bps)} -> {format_rate(c.after_up_bps)}"
                f", down {format_rate(c.before_down_bps)} -> {format_rate(c.after_down_bps)}"
            )
        if len(d.loads) > 20:
            lines.append(f"  … {len(d.loads) - 20} more links changed load")
    return "\n".join(lines) + "\n"


def what_if_dict(outcomes: Sequence[Outcome], diffs: Sequence[Difference]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "name": o.scenario.name,
                "joining": len(o.joining),
                "ready": sorted(o.ready),
                "plan_cost": o.plan_cost,
                "plan_purchases": list(o.plan_purchases),
            }
            for o in outcomes
        ],
        "differences": [
            {
                "name": d.name,
                "ready_gained": list(d.ready_gained),
                "ready_lost": list(d.ready_lost),
                "cost_delta": d.cost_delta,
                "loads": [
                    {
                        "link": c.link,
                        "before_up_bps": c.before_up_bps,
                        "after_up_bps": c.after_up_bps,
                        "before_down_bps": c.before_down_bps,
                        "after_down_bps": c.after_down_bps,
                    }
                    for c in d.loads
                ],
            }
            for d in diffs
        ],
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
