"""Prometheus exposition: metric names (names.py), the snapshot collector, the HTTP server.

DEFAULT_PORT is vcmon's port (docs/deploy.md); it lives here so the CLI can show it without
importing the server.
"""

DEFAULT_PORT = 9874
DEFAULT_LISTEN = f":{DEFAULT_PORT}"
