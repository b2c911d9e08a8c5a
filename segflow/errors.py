"""Errors a user can act on, and the exit code each one means.

The CLI prints their message as one line (no traceback without ``--verbose``) and exits with
the class's ``exit_code``, so a scheduler or CI step can tell the outcomes apart:

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success
1     a check ran and found problems, or a gate blocked (``CheckFailed``)
2     a usage or input error: bad flags, a bad file, bad configuration (``SegflowError``)
3     the environment stopped the command: the workspace is busy, the disk is full, a
      permission is missing (``EnvironmentFailure``); trying again later may succeed
70    an internal error (a bug in segflow): run again with ``--verbose`` and report the
      traceback
130   interrupted (Ctrl-C)
====  =====================================================================================

Library errors a user causes or meets (a truncated Parquet file, a CSV the reader cannot
parse, a full disk) are turned into these classes by ``segflow.failures`` at the CLI edge.
"""

from __future__ import annotations

EXIT_OK, EXIT_CHECK, EXIT_INPUT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: an exception segflow did not expect


class SegflowError(Exception):
    """Base class: the message says what is wrong and, where it can, how to fix it."""

    exit_code = EXIT_INPUT


class ConfigError(SegflowError):
    """A YAML file (template, campaign, model, sources) is malformed; names file and line."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class SchemaChangedError(SegflowError):
    """A source no longer matches its contract: a column is missing or retyped."""


class CheckFailed(SegflowError):
    """A check ran and found problems, or a gate refused: exit code 1, not an input error."""

    exit_code = EXIT_CHECK


class ControlFailed(CheckFailed):
    """A governance control or gate blocks publication or export."""


class EnvironmentFailure(SegflowError):
    """The machine, not the input, stopped the command (disk full, permissions, a busy
    workspace); the message names the path or process and what to do."""

    exit_code = EXIT_ENVIRONMENT


class WorkspaceBusy(EnvironmentFailure):
    """Another segflow command holds the workspace lock (``segflow.lock``)."""


class DiskFull(EnvironmentFailure):
    """A write failed because the filesystem is full; names the path and the free space."""


class PermissionDenied(EnvironmentFailure):
    """The operating system refused to read or write a path; names it."""
