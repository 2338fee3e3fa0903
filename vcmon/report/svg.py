"""Inline SVG: the province map (no tile server: sites at their coordinates) and charts.

Every piece of text is escaped here, since the markup is inserted into the page as is.
Colours come from CSS classes (`v-ready`, ...) defined once in the template.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

from vcmon.model import Level, Verdict
from vcmon.report.data import LinkRow, SiteRow

_RADIUS = {Level.PROVINCE: 7.0, Level.DISTRICT: 5.0, Level.COMMUNE: 3.0}


def map_svg(
    sites: Sequence[SiteRow],
    links: Sequence[LinkRow],
    profile: str,
    labels: Mapping[Verdict, str],
    *,
    width: int = 720,
    height: int = 540,
    empty: str = "",
) -> Markup:
    """Sites as dots coloured by their verdict for `profile`, links as lines between them.

    An equirectangular projection scaled by cos(latitude) is exact enough for a province.

    >>> from vcmon.model import Level, Verdict
    >>> a = SiteRow("1", "Sơn Tây", Level.DISTRICT, "1", 15.0, 108.0, 1, {"hd": Verdict.READY})
    >>> b = SiteRow("2", "<Lý>", Level.COMMUNE, "1", 15.2, 108.3, 1, {"hd": Verdict.UNKNOWN})
    >>> svg = map_svg([a, b], [], "hd", {v: v.value for v in Verdict})
    >>> svg.count("<circle"), "&lt;Lý&gt;" in svg, 'class="v-unknown"' in svg
    (6, True, True)
    """
    placed = [s for s in sites if s.lat is not None and s.lon is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    ]
    if not placed:
        parts.append(f'<text x="20" y="40">{escape(empty)}</text></svg>')
        return Markup("".join(parts))
    lats = [s.lat for s in placed if s.lat is not None]
    lons = [s.lon for s in placed if s.lon is not None]
    kx = math.cos(math.radians(sum(lats) / len(lats)))
    lat0, lon0 = min(lats), min(lons)
    margin, legend = 24.0, 110.0
    span_x = max((max(lons) - lon0) * kx, 1e-6)
    span_y = max(max(lats) - lat0, 1e-6)
    scale = min((width - 2 * margin - legend) / span_x, (height - 2 * margin) / span_y)

    def xy(s: SiteRow) -> tuple[float, float]:
        assert s.lat is not None and s.lon is not None
        return (
            margin + (s.lon - lon0) * kx * scale,
            height - margin - (s.lat - lat0) * scale,
        )

    where = {s.code: xy(s) for s in placed}
    parts.append('<g class="links">')
    for link in links:
        if link.site in where and link.to in where:
            (x1, y1), (x2, y2) = where[link.site], where[link.to]
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'class="{escape(link.role)}"/>'
            )
    parts.append("</g>")
    small = len(placed) > 1500
    for s in sorted(placed, key=lambda s: -_RADIUS[s.level]):  # big dots under small ones
        x, y = where[s.code]
        verdict = s.verdicts.get(profile, Verdict.UNKNOWN)
        r = _RADIUS[s.level] / (2 if small else 1)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" class="v-{verdict.value}">'
            f"<title>{escape(s.name)} ({escape(s.code)}): {escape(labels[verdict])}</title>"
            "</circle>"
        )
    if len(placed) <= 400:
        for s in placed:
            if s.level is Level.DISTRICT:
                x, y = where[s.code]
                parts.append(f'<text x="{x + 7:.1f}" y="{y + 4:.1f}">{escape(s.name)}</text>')
    lx = width - legend + 8
    for i, verdict in enumerate(Verdict):
        y = margin + 20 * i
        parts.append(
            f'<circle cx="{lx}" cy="{y}" r="5" class="v-{verdict.value}"/>'
            f'<text x="{lx + 10}" y="{y + 4}">{escape(labels[verdict])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_svg(
    values: Sequence[float],
    edges: Sequence[float],
    label: Callable[[float], str],
    *,
    title: str,
    empty: str,
    width: int = 340,
    height: int = 200,
) -> Markup:
    """Counts of `values` in [edges[i], edges[i+1]) bins, the last bin open-ended.

    >>> svg = histogram_svg([0.01, 0.02, 0.2], [0, 0.05, 0.1], str, title="RTT", empty="-")
    >>> svg.count("<rect"), ">2<" in svg, ">1<" in svg
    (3, True, True)
    """
    counts = [0] * len(edges)
    for v in values:
        i = max(j for j, e in enumerate(edges) if v >= e) if v >= edges[0] else 0
        counts[i] += 1
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<text x="4" y="14" class="title">{escape(title)}</text>'
    )
    if not values:
        return Markup(f'{head}<text x="4" y="60">{escape(empty)}</text></svg>')
    top, bottom, gap = 30.0, height - 34.0, 4.0
    bar_w = (width - 8) / len(edges) - gap
    most = max(counts)
    parts = [head]
    for i, n in enumerate(counts):
        h = (bottom - top) * n / most if most else 0.0
        x = 4 + i * (bar_w + gap)
        name = f"≥ {label(edges[i])}" if i == len(edges) - 1 else label(edges[i])
        cx = x + bar_w / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}"/>'
            f'<text x="{cx:.1f}" y="{bottom - h - 3:.1f}" class="n">{n}</text>'
            f'<text x="{cx:.1f}" y="{bottom + 12:.1f}" class="tick">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def load_svg(
    links: Sequence[LinkRow],
    describe: Callable[[LinkRow], str],
    *,
    title: str,
    empty: str,
    limit: int = 25,
    width: int = 720,
) -> Markup:
    """The `limit` busiest links: conference load as a share of capacity, 100% marked.

    >>> rows = [LinkRow("a", "1", "0", "fibre", 10e6, 10e6, 15e6, 5e6)]
    >>> svg = load_svg(rows, lambda r: r.id, title="Load", empty="-")
    >>> 'class="over"' in svg, svg.count("<rect")
    (True, 1)
    """
    busy = sorted(
        (r for r in links if r.load_up_bps or r.load_down_bps),
        key=lambda r: (-min(r.utilisation, 1e9), r.id),
    )[:limit]
    row_h, left, top = 18, 230, 24
    height = top + row_h * max(len(busy), 1) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<text x="4" y="14" class="title">{escape(title)}</text>'
    ]
    if not busy:
        parts.append(f'<text x="4" y="40">{escape(empty)}</text></svg>')
        return Markup("".join(parts))
    full = (width - left - 20) / 2  # the bar for 100%; bars stop at 200%
    for i, r in enumerate(busy):
        y = top + i * row_h
        u = min(r.utilisation, 2.0)
        cls = "over" if r.utilisation > 1 else "ok"
        parts.append(
            f'<text x="{left - 6}" y="{y + 12}" class="label">{escape(describe(r))}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{u * full:.1f}" height="{row_h - 5}" '
            f'class="{cls}"/>'
        )
    parts.append(
        f'<line x1="{left + full:.1f}" y1="{top - 4}" x2="{left + full:.1f}" '
        f'y2="{height - 16}" class="limit"/>'
        f'<text x="{left + full + 3:.1f}" y="{height - 4}" class="tick">100%</text></svg>'
    )
    return Markup("".join(parts))
