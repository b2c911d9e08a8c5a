"""Monitoring: drift before each campaign (Evidently + DuckDB), the publication gate,
segment trends across runs, campaign feedback and lift, and the bias check."""
