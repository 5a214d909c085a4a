"""Benchmark scripts: each writes JSON (and plots) under reports/."""
