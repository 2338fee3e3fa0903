"""Probers: code that measures one target and returns a frozen result.

A prober never raises for a target failure: the result carries a FailureReason.
"""
