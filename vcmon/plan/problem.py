"""The planning problem as plain numbers, and the one judge of a set of purchases.

A `Problem` is what the solver sees: per link its capacity, its background use and the
conference load on it; per site the links of its path; what money can buy (a link's upgrade
tier, a cascaded MCU at a district). `ready_sites` is the single definition of "ready by
capacity" that the ILP, the waves, the what-if comparison and the tests all share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# Relative slack when comparing bits/s: loads are sums of floats (1.44e6 * n).
_REL_TOL = 1e-9


class PurchaseKind(StrEnum):
    UPGRADE = "upgrade"
    MCU = "mcu"


class Weight(StrEnum):
    """What a budget-limited plan maximises."""

    SITES = "sites"
    ROOMS = "rooms"


@dataclass(frozen=True, slots=True, order=True)
class Purchase:
    """One thing money can buy: an upgrade tier of a link, or a cascaded MCU at a site.

    `target` is the link id (upgrade) or the site code (MCU); for an upgrade `up_bps` and
    `down_bps` replace the link's capacity.
    """

    kind: PurchaseKind
    target: str
    name: str
    monthly_cost: float
    lead_time_s: float
    up_bps: float = 0.0
    down_bps: float = 0.0

    @property
    def key(self) -> str:
        """Stable identity, e.g. `upgrade:dc-530:fibre-30M` or `mcu:530`."""
        if self.kind is PurchaseKind.MCU:
            return f"mcu:{self.target}"
        return f"upgrade:{self.target}:{self.name}"


@dataclass(frozen=True, slots=True)
class LinkNeed:
    """A link as the planner sees it; loads are the conference's, without any cascade."""

    link: str
    capacity_up_bps: float
    capacity_down_bps: float
    load_up_bps: float
    load_down_bps: float
    used_up_bps: float = 0.0
    used_down_bps: float = 0.0
    tiers: tuple[Purchase, ...] = ()


@dataclass(frozen=True, slots=True)
class McuOption:
    """A cascaded MCU at `purchase.target`: the links in `above` carry less by the reductions."""

    purchase: Purchase
    above: tuple[str, ...]
    reduction_up_bps: float
    reduction_down_bps: float


@dataclass(frozen=True, slots=True)
class Problem:
    links: Mapping[str, LinkNeed]
    paths: Mapping[str, tuple[str, ...]]
    """Site -> ids of the links from the site to the bridge, site end first."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Site -> what it is worth when ready (1 for sites, rooms for rooms); default 1."""
    blocked: frozenset[str] = frozenset()
    """Sites whose measured path quality fails: no purchase of bandwidth makes them ready."""
    mcus: Mapping[str, McuOption] = field(default_factory=dict)

    def weight(self, site: str) -> float:
        return self.weights.get(site, 1.0)

    def options(self) -> list[Purchase]:
        """Everything that can be bought, in a stable order."""
        tiers = [t for need in self.links.values() for t in need.tiers]
        return sorted([*tiers, *(m.purchase for m in self.mcus.values())])


def link_ok(problem: Problem, purchases: Iterable[Purchase]) -> dict[str, bool]:
    """Whether each link has room for the conference after the purchases.

    >>> need = LinkNeed("l1", 10e6, 10e6, 12e6, 12e6)
    >>> tier = Purchase(PurchaseKind.UPGRADE, "l1", "30M", 100.0, 0.0, 30e6, 30e6)
    >>> p = Problem({"l1": need}, {"a": ("l1",)})
    >>> link_ok(p, []), link_ok(p, [tier])
    ({'l1': False}, {'l1': True})
    """
    bought = list(purchases)
    caps = {p.target: (p.up_bps, p.down_bps) for p in bought if p.kind is PurchaseKind.UPGRADE}
    relief: dict[str, list[float]] = {}
    for p in bought:
        if p.kind is PurchaseKind.MCU:
            option = problem.mcus[p.target]
            for link in option.above:
                r = relief.setdefault(link, [0.0, 0.0])
                r[0] += option.reduction_up_bps
                r[1] += option.reduction_down_bps
    result = {}
    for lid, need in problem.links.items():
        cap_up, cap_down = caps.get(lid, (need.capacity_up_bps, need.capacity_down_bps))
        r_up, r_down = relief.get(lid, (0.0, 0.0))
        want_up = need.load_up_bps - r_up + need.used_up_bps
        want_down = need.load_down_bps - r_down + need.used_down_bps
        result[lid] = fits(want_up, cap_up) and fits(want_down, cap_down)
    return result


def fits(want_bps: float, capacity_bps: float) -> bool:
    """`want <= capacity`, forgiving float noise only."""
    return want_bps <= capacity_bps * (1.0 + _REL_TOL) + 1e-6


def ready_sites(problem: Problem, purchases: Iterable[Purchase] = ()) -> frozenset[str]:
    """Sites with room on every link of their path, and no failing path quality.

    >>> need = LinkNeed("l1", 10e6, 10e6, 12e6, 12e6)
    >>> ready_sites(Problem({"l1": need}, {"a": ("l1",), "b": ()}))
    frozenset({'b'})
    """
    ok = link_ok(problem, purchases)
    return frozenset(
        site
        for site, path in problem.paths.items()
        if site not in problem.blocked and all(ok.get(lid, True) for lid in path)
    )


def cost(purchases: Iterable[Purchase]) -> float:
    return sum(p.monthly_cost for p in purchases)


def lead_time(purchases: Iterable[Purchase]) -> float:
    """Purchases are ordered together, so the slowest one sets the date."""
    return max((p.lead_time_s for p in purchases), default=0.0)


def valid(problem: Problem, purchases: Iterable[Purchase]) -> bool:
    """At most one tier per link, each purchase offered by the problem."""
    seen: set[tuple[PurchaseKind, str]] = set()
    offered = set(problem.options())
    for p in purchases:
        if p not in offered or (p.kind, p.target) in seen:
            return False
        seen.add((p.kind, p.target))
    return True
