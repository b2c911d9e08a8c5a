"""Segment templates and campaigns: parse, validate, score, evaluate into memberships.

Public entry points: ``segflow.scoring.validate.check_paths`` (templates check),
``segflow.scoring.clauses.evaluate_clauses`` (used by governance),
``segflow.scoring.refresh.refresh_campaign``, ``segflow.scoring.preview.preview_campaign``
and ``segflow.scoring.explain.explain_entity``.
"""
