"""Reports for planners: a self-contained HTML page (prints on A4), CSV tables and JSON.

Public API:

    collect(inventory, graph, routes, *, profile, topology, measurements, now, budget,
            costs, source) -> ReportData
    write_report(data, out_dir, lang="vi") -> list[Path]     # report.html, report.json, *.csv
    load_measurements(path) -> Measurements                   # the JSON measurements file
    prometheus_measurements(url, inventory, window_s, now) -> Measurements   (p95 over window)

Languages: `LANGUAGES` ("vi", "en"); texts in `locale/<lang>/LC_MESSAGES/vcmon.po`.
"""

from vcmon.report.collect import collect
from vcmon.report.data import ReportData
from vcmon.report.measurements import load_measurements
from vcmon.report.prometheus import prometheus_measurements
from vcmon.report.render import LANGUAGES, render_html, tables, to_json, write_report

__all__ = [
    "LANGUAGES",
    "ReportData",
    "collect",
    "load_measurements",
    "prometheus_measurements",
    "render_html",
    "tables",
    "to_json",
    "write_report",
]
