"""Benchmarks: they print figures and ratios to their ceilings, and never fail a test run."""
