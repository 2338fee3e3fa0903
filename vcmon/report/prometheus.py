"""Measurements over a window from Prometheus's HTTP API (urllib; no client library).

The p95 over the window is computed by Prometheus (`quantile_over_time`), never by vcmon:
a report covers days of history vcmon itself does not keep. One instant query per metric at
the window's end; series are matched to sites and links by their `site` / `link` labels.
The metric names are the exporter's (`vcmon.exporter.names`; a test keeps them in step).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from vcmon.errors import InventoryError
from vcmon.model import Inventory, LinkMeasurement, Measurements, PathMeasurement

RTT_P50 = "vcmon_path_rtt_p50_seconds"
RTT_P95 = "vcmon_path_rtt_p95_seconds"
JITTER = "vcmon_path_jitter_seconds"
LOSS = "vcmon_path_loss_ratio"
LAST = "vcmon_site_last_measurement_timestamp_seconds"
LINK_USED = "vcmon_link_used_bytes_per_second"
METRICS = (RTT_P50, RTT_P95, JITTER, LOSS, LAST, LINK_USED)


def queries(window_s: float) -> dict[str, str]:
    """The PromQL, by what it measures.

    >>> queries(7 * 86400)["rtt_p95_s"]
    'quantile_over_time(0.95, vcmon_path_rtt_p95_seconds[604800s])'
    """
    w = f"[{int(window_s)}s]"
    return {
        "rtt_p50_s": f"quantile_over_time(0.5, {RTT_P50}{w})",
        "rtt_p95_s": f"quantile_over_time(0.95, {RTT_P95}{w})",
        "jitter_s": f'quantile_over_time(0.95, {JITTER}{{method="ipdv"}}{w})',
        "loss_ratio": f"quantile_over_time(0.95, {LOSS}{w})",
        "measured_at": f"max_over_time({LAST}{w})",
        "used_bps": f"quantile_over_time(0.95, {LINK_USED}{w}) * 8",
    }


def prometheus_measurements(
    url: str, inventory: Inventory, window_s: float, now: float, *, timeout_s: float = 10.0
) -> Measurements:
    """p95 path quality and link use over `window_s` ending at `now`, per inventory site/link.

    Sites with no series get no measurement (readiness then says unknown).
    """
    q = queries(window_s)
    per_site = {
        key: _by(url, q[key], now, "site", timeout_s)
        for key in ("rtt_p50_s", "rtt_p95_s", "jitter_s", "loss_ratio", "measured_at")
    }
    used = _by_link(url, q["used_bps"], now, timeout_s)
    paths = {}
    for code in inventory.sites:
        if code not in per_site["measured_at"]:
            continue
        paths[code] = PathMeasurement(
            site=code,
            measured_at=per_site["measured_at"][code],
            rtt_p50_s=per_site["rtt_p50_s"].get(code),
            rtt_p95_s=per_site["rtt_p95_s"].get(code),
            jitter_s=per_site["jitter_s"].get(code),
            loss_ratio=per_site["loss_ratio"].get(code),
        )
    links = {}
    for lid, link in inventory.links.items():
        up, down = used.get((lid, "up")), used.get((lid, "down"))
        if up is None and down is None:
            continue
        links[lid] = LinkMeasurement(lid, now, up, down, link.up_bps, link.down_bps)
    return Measurements(paths=paths, links=links)


def _by(url: str, query: str, now: float, label: str, timeout_s: float) -> dict[str, float]:
    return {m[label]: v for m, v in _query(url, query, now, timeout_s) if label in m}


def _by_link(url: str, query: str, now: float, timeout_s: float) -> dict[tuple[str, str], float]:
    return {
        (m["link"], m["direction"]): v
        for m, v in _query(url, query, now, timeout_s)
        if "link" in m and "direction" in m
    }


def _query(
    url: str, query: str, now: float, timeout_s: float
) -> list[tuple[Mapping[str, str], float]]:
    """One instant query; errors name the option and the URL, never a traceback."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise InventoryError.single("--prometheus", 0, url, "expected an http:// or https:// URL")
    params = urllib.parse.urlencode({"query": query, "time": f"{now:.3f}"})
    endpoint = f"{url.rstrip('/')}/api/v1/query?{params}"
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout_s) as resp:
            doc: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as exc:
        detail = _error_text(exc)
        raise InventoryError.single("--prometheus", 0, url, f"HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InventoryError.single("--prometheus", 0, url, f"cannot query: {reason}") from None
    except ValueError:
        raise InventoryError.single("--prometheus", 0, url, "answer is not JSON") from None
    if doc.get("status") != "success" or doc.get("data", {}).get("resultType") != "vector":
        raise InventoryError.single("--prometheus", 0, url, f"query failed: {doc.get('error')}")
    out = []
    for item in doc["data"]["result"]:
        value = float(item["value"][1])
        if not math.isnan(value):  # NaN: no sample in the window
            out.append((item["metric"], value))
    return out


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("error", exc.reason))
    except ValueError:
        return str(exc.reason)
