"""Parsing of as-of times given on the command line or in YAML; all times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import typer


def parse_as_of(value: str | datetime | None, default: datetime | None = None) -> datetime:
    """ISO date or datetime -> aware UTC datetime. A date means midnight UTC of that day."""
    if value is None:
        if default is None:
            return datetime.now(UTC).replace(microsecond=0)
        return default
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise typer.BadParameter(f"not an ISO date or datetime: {value!r}") from err
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_millis(when: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z`` (an API's or SOQL's dateTime literal),
    truncated down: a record stamped within the same millisecond is fetched again by a
    ``> since`` query rather than missed."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
