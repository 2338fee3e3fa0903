"""Probers: code that measures one target and returns a frozen result (never raises for a target failure)."""
