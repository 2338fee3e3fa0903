"""Readiness verdicts at every threshold boundary, freshness, root cause and best profile."""

from __future__ import annotations

import pytest

from vcmon.model import (
    Conference,
    ConferenceTopology,
    Inventory,
    Level,
    Link,
    LinkMeasurement,
    LinkRole,
    Measurements,
    Medium,
    Metric,
    PathMeasurement,
    Policy,
    Profile,
    RootCause,
    Site,
    Terrain,
    Threshold,
    Verdict,
)
from vcmon.readiness import Basis, ProfileVerdict, Reason, assess
from vcmon.topology import build_graph, routes

M = 1e6
MCU = ConferenceTopology.MCU
NOW = 1_000_000.0
POLICY = Policy(
    rtt_p95_s=Threshold(0.100, 0.300, "rtt-src"),
    jitter_s=Threshold(0.030, 0.050, "jitter-src"),
    loss_ratio=Threshold(0.01, 0.05, "loss-src"),
    max_age_s=300.0,
)
# demand = stream x 1.25: sd 0.5 M, hd 1.25 M, fhd 2.5 M.
SD = Profile("sd", 0.4 * M, 0.25, "sd-src", POLICY)
HD = Profile("hd", 1.0 * M, 0.25, "hd-src", POLICY)
FHD = Profile("fhd", 2.0 * M, 0.25, "fhd-src", POLICY)

LinkSpec = tuple[str, str, str, float, float, float | None]  # id, site, to, up, down, latency


def inventory(sites: dict[str, str | None], links: list[LinkSpec]) -> Inventory:
    """sites: code -> parent (one room each); the bridge is "P"."""
    return Inventory(
        sites={
            code: Site(
                code,
                code,
                Level.PROVINCE if parent is None else Level.COMMUNE,
                parent,
                None,
                Terrain.PLAIN,
                1,
                None,
            )
            for code, parent in sites.items()
        },
        links={
            lid: Link(lid, a, b, Medium.FIBRE, up, down, lat, LinkRole.PRIMARY)
            for lid, a, b, up, down, lat in links
        },
        devices={},
        profiles={"sd": SD, "hd": HD, "fhd": FHD},
        modules={},
        auths={},
        conference=Conference("P", MCU),
    )


def chain(up: float = 100 * M, down: float = 100 * M, latency: float | None = 0.001) -> Inventory:
    """P <- D <- A; the D-A access link gets the given capacity and latency."""
    return inventory(
        {"P": None, "D": "P", "A": "D"},
        [
            ("P-D", "D", "P", 100 * M, 100 * M, 0.001),
            ("D-A", "A", "D", up, down, latency),
        ],
    )


def judge(
    inv: Inventory,
    joining: str = "A",
    measurements: Measurements | None = None,
    profile: str = "hd",
    site: str = "A",
) -> ProfileVerdict:
    graph = build_graph(inv)
    result = assess(
        inv,
        graph,
        routes(graph, "P"),
        frozenset(joining.split()),
        MCU,
        measurements=measurements,
        now=NOW if measurements is not None else None,
    )
    return result[site].verdicts[profile]


def path(site: str, rtt: float | None = 0.02, jitter: float | None = 0.002, loss=0.0, age=0.0):
    return PathMeasurement(site, NOW - age, rtt / 2 if rtt else None, rtt, jitter, loss)


def measured(*paths: PathMeasurement, links: tuple[LinkMeasurement, ...] = ()) -> Measurements:
    return Measurements({p.site: p for p in paths}, {lm.link: lm for lm in links})


def all_fresh(**overrides: PathMeasurement) -> Measurements:
    return measured(*{"P": path("P"), "D": path("D"), "A": path("A"), **overrides}.values())


# --- path-quality thresholds (measured) ---------------------------------------------------

BOUNDARIES = [
    # metric, field, ready limit, degraded limit
    (Metric.RTT_P95, "rtt", 0.100, 0.300, "rtt-src"),
    (Metric.JITTER, "jitter", 0.030, 0.050, "jitter-src"),
    (Metric.LOSS, "loss", 0.01, 0.05, "loss-src"),
]


@pytest.mark.parametrize(("metric", "field", "ready", "degraded", "source"), BOUNDARIES)
@pytest.mark.parametrize(
    ("where", "expected", "crossed"),
    [
        ("below_ready", Verdict.READY, None),
        ("at_ready", Verdict.READY, None),
        ("above_ready", Verdict.DEGRADED, "ready"),
        ("at_degraded", Verdict.DEGRADED, "ready"),
        ("above_degraded", Verdict.NOT_READY, "degraded"),
    ],
)
def test_path_metric_limits_are_inclusive_at_every_boundary(
    metric: Metric,
    field: str,
    ready: float,
    degraded: float,
    source: str,
    where: str,
    expected: Verdict,
    crossed: str | None,
) -> None:
    eps = 1e-6
    value = {
        "below_ready": ready - eps,
        "at_ready": ready,
        "above_ready": ready + eps,
        "at_degraded": degraded,
        "above_degraded": degraded + eps,
    }[where]
    verdict = judge(chain(), measurements=all_fresh(A=path("A", **{field: value})))
    assert verdict.verdict is expected
    if crossed is None:
        assert verdict.reasons == ()
        assert verdict.root_cause is RootCause.NONE
        assert verdict.root is None
        return
    (reason,) = verdict.reasons
    assert (reason.metric, reason.verdict, reason.value, reason.where) == (
        metric,
        expected,
        value,
        "A",
    )
    assert reason.threshold == (ready if crossed == "ready" else degraded)
    assert reason.source == source
    assert verdict.root_cause is RootCause.LOCAL
    assert verdict.root == "A"


def test_verdict_is_the_worst_of_several_reasons() -> None:
    m = all_fresh(A=path("A", rtt=0.2, jitter=0.06, loss=0.02))
    verdict = judge(chain(), measurements=m)
    assert [(r.metric, r.verdict) for r in verdict.reasons] == [
        (Metric.RTT_P95, Verdict.DEGRADED),
        (Metric.JITTER, Verdict.NOT_READY),
        (Metric.LOSS, Verdict.DEGRADED),
    ]
    assert verdict.verdict is Verdict.NOT_READY
    assert verdict.basis is Basis.MEASURED


# --- freshness: unknown, never ready ------------------------------------------------------


def test_missing_measurement_is_unknown_with_no_data() -> None:
    verdict = judge(chain(), measurements=measured(path("P"), path("D")))
    assert verdict.verdict is Verdict.UNKNOWN
    (reason,) = verdict.reasons
    assert (reason.metric, reason.where) == (Metric.NO_DATA, "A")
    assert reason.source


@pytest.mark.parametrize(
    ("age", "expected"),
    [(299.999, Verdict.READY), (300.0, Verdict.READY), (300.001, Verdict.UNKNOWN)],
)
def test_measurement_older_than_max_age_is_stale_and_unknown(age: float, expected: Verdict) -> None:
    verdict = judge(chain(), measurements=all_fresh(A=path("A", age=age)))
    assert verdict.verdict is expected
    if expected is Verdict.UNKNOWN:
        (reason,) = verdict.reasons
        assert (reason.metric, reason.threshold) == (Metric.STALE, 300.0)
        assert reason.value == pytest.approx(age)


def test_failed_probe_is_unknown_with_its_failure_reason() -> None:
    failed = PathMeasurement("A", NOW, None, None, None, None, failure="timeout")
    verdict = judge(chain(), measurements=all_fresh(A=failed))
    assert verdict.verdict is Verdict.UNKNOWN
    (reason,) = verdict.reasons
    assert (reason.metric, reason.detail) == (Metric.PROBE_FAILED, "timeout")
    assert reason.text().startswith("probe_failed: timeout (")


def test_measurement_without_any_number_is_unknown_not_ready() -> None:
    empty = PathMeasurement("A", NOW, None, None, None, None)
    verdict = judge(chain(), measurements=all_fresh(A=empty))
    assert verdict.verdict is Verdict.UNKNOWN
    assert verdict.reasons[0].metric is Metric.NO_DATA


def test_unknown_outranks_a_capacity_failure_and_is_never_ready() -> None:
    verdict = judge(chain(up=0.5 * M), measurements=measured(path("P"), path("D")))
    assert {r.metric for r in verdict.reasons} == {Metric.NO_DATA, Metric.SPARE_UP}
    assert verdict.verdict is Verdict.UNKNOWN


def test_measurements_require_now() -> None:
    inv = chain()
    graph = build_graph(inv)
    with pytest.raises(ValueError, match="`now` is required"):
        assess(inv, graph, routes(graph, "P"), frozenset({"A"}), MCU, measurements=measured())


# --- capacity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (1.26 * M, Verdict.READY),
        (1.25 * M, Verdict.READY),  # exactly the demand (1 M stream + 25%)
        (1.2499 * M, Verdict.DEGRADED),
        (1.0 * M, Verdict.DEGRADED),  # exactly the bare stream: fits only without overhead
        (0.9999 * M, Verdict.NOT_READY),
    ],
)
def test_capacity_fits_demand_at_every_boundary(capacity: float, expected: Verdict) -> None:
    verdict = judge(chain(up=capacity))
    assert verdict.verdict is expected
    assert verdict.basis is Basis.PLANNED
    if expected is Verdict.READY:
        assert verdict.reasons == ()
        return
    (reason,) = verdict.reasons
    assert (reason.metric, reason.where, reason.value, reason.threshold) == (
        Metric.SPARE_UP,
        "D-A",
        capacity,
        1.25 * M,
    )
    assert reason.source == "hd-src"
    assert (verdict.root_cause, verdict.root) == (RootCause.LOCAL, "D-A")


def test_downlink_shortfall_is_a_spare_down_reason() -> None:
    verdict = judge(chain(down=0.8 * M))
    (reason,) = verdict.reasons
    assert (reason.metric, reason.verdict, reason.value) == (
        Metric.SPARE_DOWN,
        Verdict.NOT_READY,
        0.8 * M,
    )


def test_fresh_measured_use_reduces_spare_and_stale_or_failed_use_is_ignored() -> None:
    busy = LinkMeasurement("D-A", NOW, 0.6 * M, 0.0, 2 * M, 2 * M)
    stale = LinkMeasurement("D-A", NOW - 301, 0.5 * M, 0.0, 2 * M, 2 * M)
    failed = LinkMeasurement("D-A", NOW, 0.5 * M, 0.0, 2 * M, 2 * M, failure="timeout")
    inv = chain(up=1.5 * M)

    verdict = judge(inv, measurements=measured(*all_fresh().paths.values(), links=(busy,)))
    (reason,) = verdict.reasons
    assert (reason.metric, reason.verdict, reason.value) == (
        Metric.SPARE_UP,
        Verdict.NOT_READY,
        0.9 * M,  # 1.5 M contracted - 0.6 M used, below the 1 M bare stream
    )
    for ignored in (stale, failed):
        m = measured(*all_fresh().paths.values(), links=(ignored,))
        assert judge(inv, measurements=m).verdict is Verdict.READY


def test_shared_link_load_counts_every_joining_site() -> None:
    inv = inventory(
        {"P": None, "D": "P", "A": "D", "B": "D"},
        [
            ("P-D", "D", "P", 2 * M, 100 * M, None),
            ("D-A", "A", "D", 100 * M, 100 * M, None),
            ("D-B", "B", "D", 100 * M, 100 * M, None),
        ],
    )
    assert judge(inv, joining="A").verdict is Verdict.READY
    both = judge(inv, joining="A B")  # 2 x 1.25 M on a 2 M uplink; 2 x 1 M bare fits
    assert both.verdict is Verdict.DEGRADED
    assert (both.root_cause, both.root) == (RootCause.UPSTREAM, "P-D")
    assert both.reasons[0].threshold == 2.5 * M


# --- planned RTT --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one_way_access", "expected"),
    [(0.049, Verdict.READY), (0.049 + 1e-9, Verdict.DEGRADED), (0.149, Verdict.DEGRADED)],
)
def test_planned_rtt_is_twice_the_sum_of_expected_one_way_latencies(
    one_way_access: float, expected: Verdict
) -> None:
    # RTT = 2 x (1 ms + access): 100 ms exactly at 49 ms access, 300 ms at 149 ms.
    verdict = judge(chain(latency=one_way_access))
    assert verdict.verdict is expected
    if expected is not Verdict.READY:
        (reason,) = verdict.reasons
        assert reason.metric is Metric.RTT_P95
        assert reason.value == pytest.approx(2 * (0.001 + one_way_access))
        assert reason.source == "rtt-src"


def test_planned_rtt_over_the_degraded_limit_is_not_ready() -> None:
    verdict = judge(chain(latency=0.150))
    assert verdict.verdict is Verdict.NOT_READY
    assert verdict.reasons[0].threshold == 0.300


def test_no_planned_rtt_reason_when_a_link_has_no_expected_latency() -> None:
    assert judge(chain(latency=None)).reasons == ()


# --- reachability and root cause ---------------------------------------------------------


def test_site_with_no_route_to_the_bridge_is_not_ready_unreachable() -> None:
    inv = inventory({"P": None, "X": "P"}, [])
    verdict = judge(inv, joining="X", site="X")
    assert verdict.verdict is Verdict.NOT_READY
    assert [r.metric for r in verdict.reasons] == [Metric.UNREACHABLE]
    measured_verdict = judge(inv, joining="X", site="X", measurements=measured())
    assert measured_verdict.verdict is Verdict.NOT_READY


def deep() -> Inventory:
    """P <- D <- H <- A."""
    return inventory(
        {"P": None, "D": "P", "H": "D", "A": "H"},
        [
            ("P-D", "D", "P", 100 * M, 100 * M, None),
            ("D-H", "H", "D", 100 * M, 100 * M, None),
            ("H-A", "A", "H", 100 * M, 100 * M, None),
        ],
    )


def test_path_metric_failing_upstream_too_is_blamed_on_the_site_nearest_the_bridge() -> None:
    m = measured(path("P"), path("D", rtt=0.15), path("H", rtt=0.2), path("A", rtt=0.25))
    verdict = judge(deep(), measurements=m)
    assert verdict.verdict is Verdict.DEGRADED
    assert (verdict.root_cause, verdict.root) == (RootCause.UPSTREAM, "D")
    h = judge(deep(), measurements=m, site="H", joining="A H")
    assert (h.root_cause, h.root) == (RootCause.UPSTREAM, "D")


def test_path_metric_failing_only_at_the_site_is_local() -> None:
    m = measured(path("P"), path("D"), path("H", jitter=0.04), path("A", rtt=0.25))
    verdict = judge(deep(), measurements=m)
    # H fails jitter, not RTT: A's RTT problem is its own.
    assert (verdict.root_cause, verdict.root) == (RootCause.LOCAL, "A")


def test_probe_failures_behind_a_failed_hub_point_to_the_hub() -> None:
    down = PathMeasurement("H", NOW, None, None, None, None, failure="timeout")
    a_down = PathMeasurement("A", NOW, None, None, None, None, failure="timeout")
    verdict = judge(deep(), measurements=measured(path("P"), path("D"), down, a_down))
    assert verdict.verdict is Verdict.UNKNOWN
    assert (verdict.root_cause, verdict.root) == (RootCause.UPSTREAM, "H")


def test_worst_reason_decides_root_cause_over_a_milder_upstream_one() -> None:
    inv = inventory(
        {"P": None, "D": "P", "A": "D"},
        [
            ("P-D", "D", "P", 1.1 * M, 100 * M, None),  # degraded (1.25 M load)
            ("D-A", "A", "D", 0.5 * M, 100 * M, None),  # not ready
        ],
    )
    verdict = judge(inv)
    assert verdict.verdict is Verdict.NOT_READY
    assert [(r.where, r.verdict) for r in verdict.reasons] == [
        ("D-A", Verdict.NOT_READY),
        ("P-D", Verdict.DEGRADED),
    ]
    assert (verdict.root_cause, verdict.root) == (RootCause.LOCAL, "D-A")


def test_equally_bad_links_blame_the_one_nearest_the_bridge() -> None:
    inv = inventory(
        {"P": None, "D": "P", "A": "D"},
        [("P-D", "D", "P", 0.5 * M, 100 * M, None), ("D-A", "A", "D", 0.5 * M, 100 * M, None)],
    )
    verdict = judge(inv)
    assert (verdict.root_cause, verdict.root) == (RootCause.UPSTREAM, "P-D")


# --- profiles -----------------------------------------------------------------------------


def test_best_profile_is_the_highest_demand_profile_that_is_ready() -> None:
    inv = chain(up=2 * M)  # sd 0.5 M and hd 1.25 M fit; fhd 2.5 M does not (2 M bare fits)
    graph = build_graph(inv)
    result = assess(inv, graph, routes(graph, "P"), frozenset({"A"}), MCU)["A"]
    assert {name: v.verdict for name, v in result.verdicts.items()} == {
        "sd": Verdict.READY,
        "hd": Verdict.READY,
        "fhd": Verdict.DEGRADED,
    }
    assert result.best_profile == "hd"


def test_best_profile_is_none_when_no_profile_is_ready() -> None:
    inv = chain(up=0.1 * M)
    graph = build_graph(inv)
    result = assess(inv, graph, routes(graph, "P"), frozenset({"A"}), MCU)
    assert result["A"].best_profile is None


def test_assess_covers_the_requested_sites_and_profiles_only() -> None:
    inv = chain()
    graph = build_graph(inv)
    result = assess(inv, graph, routes(graph, "P"), frozenset({"A", "P"}), MCU, profiles=["sd"])
    assert list(result) == ["P", "A"]
    assert list(result["A"].verdicts) == ["sd"]
    # The bridge has no links and no planned RTT: nothing can fail.
    assert result["P"].verdicts["sd"].verdict is Verdict.READY


@pytest.mark.parametrize(
    ("sites", "profiles", "message"),
    [({"A"}, ["uhd"], "unknown profile 'uhd'"), ({"Z"}, None, "unknown site 'Z'")],
)
def test_unknown_site_or_profile_is_rejected(sites, profiles, message: str) -> None:
    inv = chain()
    graph = build_graph(inv)
    with pytest.raises(ValueError, match=message):
        assess(inv, graph, routes(graph, "P"), frozenset(sites), MCU, profiles=profiles)


# --- reason text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (
            Reason(Metric.JITTER, Verdict.NOT_READY, 0.062, 0.05, "Cisco", "A"),
            "jitter 62 ms > 50 ms (degraded limit; Cisco)",
        ),
        (
            Reason(Metric.RTT_P95, Verdict.DEGRADED, 0.12, 0.1, "Teams", "A", "estimated"),
            "rtt_p95 120 ms > 100 ms (ready limit; Teams, estimated)",
        ),
        (
            Reason(Metric.SPARE_DOWN, Verdict.NOT_READY, 1.5e6, 2.88e6, "hd", "dc-530"),
            "spare_down 1.5 Mb/s < 2.88 Mb/s demand on dc-530 (does not fit; hd)",
        ),
        (
            Reason(Metric.STALE, Verdict.UNKNOWN, 900.0, 300.0, "policy", "A"),
            "stale: measured 900 s ago, max age 300 s (policy)",
        ),
        (
            Reason(Metric.NO_DATA, Verdict.UNKNOWN, 0.0, 300.0, "policy", "A"),
            "no_data: no measurement for A (policy)",
        ),
        (
            Reason(Metric.UNREACHABLE, Verdict.NOT_READY, 0.0, 0.0, "inventory", "X"),
            "unreachable: no path from X to the bridge (inventory)",
        ),
    ],
)
def test_reason_text_states_value_limit_and_source(reason: Reason, text: str) -> None:
    assert reason.text() == text


@pytest.mark.parametrize("seed", range(3))
def test_batch_verdicts_equal_one_site_at_a_time_on_the_sample_with_random_measurements(
    seed: int,
) -> None:
    """The batch path's shortcuts (shared link-reason tuples) change no verdict, cause or root."""
    import random

    from vcmon.inventory import load_inventory
    from vcmon.readiness import _first_hops, _Judge, _one_way_latency
    from vcmon.topology import Scenario, conference_loads

    inv = load_inventory("inventory/quang-ngai.yaml")
    graph = build_graph(inv)
    r = routes(graph, inv.conference.bridge)
    rnd, now = random.Random(seed), 1000.0
    paths = {
        code: PathMeasurement(
            code,
            now - rnd.choice([5.0, 5.0, 400.0]),
            0.04,
            rnd.choice([0.05, 0.15, 0.4]),
            rnd.choice([None, 0.01, 0.04, 0.06]),
            rnd.choice([0.0, 0.02, 0.1]),
            failure="timeout" if rnd.random() < 0.05 else None,
        )
        for code in inv.sites
        if rnd.random() > 0.05
    }
    links = {
        lid: LinkMeasurement(
            lid,
            now - rnd.choice([5.0, 5.0, 400.0]),
            link.up_bps * rnd.random(),
            link.down_bps * rnd.random(),
            link.up_bps,
            link.down_bps,
            failure="timeout" if rnd.random() < 0.05 else None,
        )
        for lid, link in inv.links.items()
        if rnd.random() > 0.1
    }
    measured = Measurements(paths, links)
    monitored = frozenset(rnd.sample(sorted(inv.links), len(inv.links) // 2))
    scenario = Scenario(frozenset(inv.sites), inv.profiles["hd"], ConferenceTopology.MCU)
    loads = conference_loads(graph, r, scenario, list(inv.profiles.values()))
    one_way, first_hops = _one_way_latency(inv, r), _first_hops(inv, r)
    for basis in (None, measured):
        for name, profile in inv.profiles.items():
            args = (inv, r, profile, loads[name], basis, now, one_way, first_hops, monitored)
            batch = _Judge(*args).verdicts(list(inv.sites))
            assert batch == [_Judge(*args).verdict(code) for code in inv.sites]
            assert any(v.root_cause is RootCause.UPSTREAM for v in batch) or basis is None
