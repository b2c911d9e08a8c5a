"""Segment templates and campaigns: parse, validate, score, evaluate into memberships.

Public entry points: ``scoring.validate.check_paths`` (templates check),
``scoring.clauses.evaluate_clauses`` (used by governance), ``scoring.refresh.refresh_campaign``,
``scoring.preview.preview_campaign`` and ``scoring.explain.explain_entity``.
"""
