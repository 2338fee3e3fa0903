from vcmon.cli import entry

raise SystemExit(entry())
