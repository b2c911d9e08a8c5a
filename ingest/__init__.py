"""Ingest: sources -> contract-checked canonical tables (normalised, de-duplicated, rolled up).

Entry point: ``segflow.ingest.pipeline.run_ingest(settings)``; the CLI is ``segflow ingest``.
"""
