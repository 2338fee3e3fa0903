"""`vcmon report --prometheus`: p95 over a window from a real Prometheus (Debian's), on loopback.

Seven days of samples cannot be scraped in a test, so they are backfilled with
`promtool tsdb create-blocks-from openmetrics` into a fresh data directory, and a real
`prometheus` serves them on 127.0.0.1. The expected p95 is computed here the way
Prometheus defines quantile_over_time (linear interpolation between closest ranks).
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.inventory import load_inventory
from vcmon.report import prometheus_measurements

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None, reason="Debian prometheus is not installed"
)
STEP = 300  # one sample every 5 minutes
END = (int(time.time()) // STEP - 2) * STEP  # recent, so retention keeps it
START = END - 7 * 86400


def _rtt(i: int) -> float:
    """A deterministic RTT series with a weekly tail: mostly 30-40 ms, every 13th 150 ms."""
    return 0.150 if i % 13 == 0 else 0.030 + (i % 7) * 0.0015


def _quantile(q: float, values: list[float]) -> float:
    """Prometheus's quantile_over_time: rank q*(n-1), linear interpolation."""
    v = sorted(values)
    rank = q * (len(v) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


def _openmetrics() -> str:
    times = list(range(START, END + 1, STEP))
    lines = ["# TYPE vcmon_path_rtt_p95_seconds gauge"]
    lines += [
        f'vcmon_path_rtt_p95_seconds{{site="21340"}} {_rtt(i)} {t}' for i, t in enumerate(times)
    ]
    lines += ["# TYPE vcmon_path_rtt_p50_seconds gauge"]
    lines += [f'vcmon_path_rtt_p50_seconds{{site="21340"}} 0.02 {t}' for t in times]
    lines += ["# TYPE vcmon_path_jitter_seconds gauge"]
    lines += [f'vcmon_path_jitter_seconds{{method="ipdv",site="21340"}} 0.004 {t}' for t in times]
    lines += ["# TYPE vcmon_path_loss_ratio gauge"]
    lines += [
        f'vcmon_path_loss_ratio{{site="21340"}} {0.05 if i % 10 == 0 else 0.0} {t}'
        for i, t in enumerate(times)
    ]
    lines += ["# TYPE vcmon_site_last_measurement_timestamp_seconds gauge"]
    lines += [
        f'vcmon_site_last_measurement_timestamp_seconds{{site="21340"}} {t} {t}' for t in times
    ]
    lines += ["# TYPE vcmon_link_used_bytes_per_second gauge"]
    for direction, bytes_per_s in (("down", 250_000), ("up", 125_000)):
        lines += [
            f'vcmon_link_used_bytes_per_second{{direction="{direction}",link="530-21340"}} '
            f"{bytes_per_s} {t}"
            for t in times
        ]
    return "\n".join([*lines, "# EOF", ""])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert PROMETHEUS is not None and PROMTOOL is not None
    work = tmp_path_factory.mktemp("prom")
    (work / "data.om").write_text(_openmetrics(), encoding="utf-8")
    subprocess.run(
        [
            PROMTOOL,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(work / "data.om"),
            str(work / "data"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (work / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n", encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("prometheus did not become ready")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_p95_over_the_window_comes_from_prometheus(prometheus: str) -> None:
    inv = load_inventory(ROOT / "inventory" / "example.yaml")
    m = prometheus_measurements(prometheus, inv, 7 * 86400, END + 1)
    times = range(START, END + 1, STEP)
    # The 7-day range ending at END+1 holds every sample but the first (left-open range).
    rtts = [_rtt(i) for i, t in enumerate(times) if t > END + 1 - 7 * 86400]
    losses = [0.05 if i % 10 == 0 else 0.0 for i, t in enumerate(times) if t > END + 1 - 7 * 86400]
    path = m.paths["21340"]
    assert path.rtt_p95_s == pytest.approx(_quantile(0.95, rtts))
    assert path.rtt_p95_s > max(r for r in rtts if r < 0.1)  # the tail shows, a mean would not
    assert path.loss_ratio == pytest.approx(_quantile(0.95, losses))
    assert path.rtt_p50_s == pytest.approx(0.02) and path.jitter_s == pytest.approx(0.004)
    assert path.measured_at == END
    assert set(m.paths) == {"21340"}  # other sites have no series: unknown, not invented
    link = m.links["530-21340"]
    assert (link.used_up_bps, link.used_down_bps) == (1_000_000, 2_000_000)
    assert link.capacity_up_bps == inv.links["530-21340"].up_bps


def test_a_shorter_window_sees_only_its_own_samples(prometheus: str) -> None:
    inv = load_inventory(ROOT / "inventory" / "example.yaml")
    m = prometheus_measurements(prometheus, inv, 3600, END + 1)
    times = list(range(START, END + 1, STEP))
    recent = [_rtt(i) for i, t in enumerate(times) if t > END + 1 - 3600]
    assert m.paths["21340"].rtt_p95_s == pytest.approx(_quantile(0.95, recent))


def test_bad_query_answer_is_an_error_naming_the_option(prometheus: str) -> None:
    inv = load_inventory(ROOT / "inventory" / "example.yaml")
    with pytest.raises(InventoryError, match=r"^--prometheus: .*: HTTP 400: "):
        prometheus_measurements(prometheus, inv, 0, END)  # a [0s] range is invalid PromQL
