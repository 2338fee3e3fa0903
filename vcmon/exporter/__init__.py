"""Prometheus exposition: metric names (names.py), the snapshot collector, the HTTP server."""
