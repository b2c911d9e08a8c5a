"""Governance: controls, movement with reasons, review, approval, publication, exports, audit.

Every function here works from a run id in the run store (``segflow.runstore``); the heavy
work is DuckDB SQL over the run's Parquet files, so nothing loops over customers in Python.
"""
