"""Governance: controls, movement with reasons, review, approval, publication, exports, audit.

Every function here works from a run id in the run store (``segflow.runstore``); the heavy
work is DuckDB SQL over the run's Parquet files, so nothing loops over customers in Python.

Importing the package registers the review queue's view on every workspace connection
(``review_sets.define_view``): each reader of the queue is a module of this package, so
none can open the database without it.
"""

from segflow.db import on_open
from segflow.governance.review_sets import define_view

on_open(define_view)
