"""Errors a user can act on. The CLI prints their message without a traceback."""

from __future__ import annotations


class SegflowError(Exception):
    """Base class: the message says what is wrong and, where it can, how to fix it."""


class ConfigError(SegflowError):
    """A YAML file (template, campaign, model, sources) is malformed; names file and line."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class SchemaChangedError(SegflowError):
    """A source no longer matches its contract: a column is missing or retyped."""


class ControlFailed(SegflowError):
    """A governance control failed and blocks publication."""
