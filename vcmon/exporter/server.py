"""HTTP endpoints: /metrics, /-/healthy, /-/ready, /api/v1/sites (read-only JSON).

Runs in threads beside the probing event loop and reads only the latest View.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import gzip_accepted

from vcmon.exporter.collector import SnapshotCollector
from vcmon.exporter.exposition import CONTENT_TYPE, Exposition
from vcmon.exporter.view import View


def sites_json(view: View | None, site: str | None = None) -> dict[str, Any]:
    """The /api/v1/sites document: verdicts with reasons, per site and profile."""
    if view is None:
        return {"status": "starting", "sites": []}
    inv = view.inventory
    out = []
    for code, sr in view.verdicts.items():
        if site is not None and code != site:
            continue
        s = inv.sites[code]
        out.append(
            {
                "code": code,
                "name": s.name,
                "level": s.level.value,
                "district": s.district,
                "best_profile": sr.best_profile,
                "measured_at": (
                    view.observations.paths[code].measured_at
                    if code in view.observations.paths
                    else None
                ),
                "profiles": {p: pv.as_dict() for p, pv in sr.verdicts.items()},
            }
        )
    return {
        "status": "ok",
        "built_at": view.built_at,
        "inventory_ok": view.inventory_status.ok,
        "sites": out,
    }


def make_server(
    listen: str, latest: Callable[[], View | None]
) -> tuple[MetricsServer, CollectorRegistry]:
    host, _, port = listen.rpartition(":")
    # The collector stays the reference (tests, registry users); /metrics is served from the
    # Exposition, which writes the same text once per View instead of once per scrape.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(latest))
    exposition = Exposition(latest)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/metrics":
                self._metrics()
            elif url.path == "/-/healthy":
                self._send(200, "text/plain", b"vcmon is healthy\n")
            elif url.path == "/-/ready":
                ready = latest() is not None
                self._send(
                    200 if ready else 503,
                    "text/plain",
                    b"vcmon is ready\n" if ready else b"vcmon has no evaluation yet\n",
                )
            elif url.path == "/api/v1/sites":
                site = parse_qs(url.query).get("site", [None])[0]
                body = json.dumps(sites_json(latest(), site), ensure_ascii=False).encode()
                self._send(200, "application/json; charset=utf-8", body)
            elif url.path == "/":
                page = (
                    b"<html><head><title>vcmon</title></head><body><h1>vcmon</h1><ul>"
                    b'<li><a href="/metrics">/metrics</a></li>'
                    b'<li><a href="/api/v1/sites">/api/v1/sites</a></li>'
                    b"</ul></body></html>"
                )
                self._send(200, "text/html; charset=utf-8", page)
            else:
                self._send(404, "text/plain", b"not found\n")

        def _metrics(self) -> None:
            # Always text format 0.0.4: Prometheus accepts it whatever it prefers, and one
            # format is one cached body (no OpenMetrics negotiation, no name[] filtering).
            gzipped = gzip_accepted(self.headers.get("Accept-Encoding", ""))
            # a small inventory's render is done in that time; a national one (~1 s)
            # is not, and the scrape gets the last body rather than wait for it
            chunks = exposition.chunks(gzipped=gzipped, wait_s=0.1)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(sum(map(len, chunks))))
            self.end_headers()
            self.wfile.writelines(chunks)

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # access logs would drown the structured log; Prometheus records scrapes

    server = MetricsServer((host or "0.0.0.0", int(port)), Handler)
    server.exposition = exposition
    server.daemon_threads = True
    return server, registry


class MetricsServer(ThreadingHTTPServer):
    """vcmon's HTTP server; `exposition` holds the /metrics body of the latest View."""

    exposition: Exposition

    def service_actions(self) -> None:
        # serve_forever calls this every poll interval (0.5 s): a new View is rendered (and
        # compressed, as Prometheus asks for gzip) in a thread started here, not by the
        # scrape that finds it, and not in this loop, which must keep accepting
        self.exposition.refresh()


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="vcmon-http", daemon=True)
    thread.start()
    return thread
