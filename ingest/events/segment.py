"""Segment's webhook format: the signature check and the messages of one request.

Segment signs each request with the destination's shared secret: ``X-Signature`` is the
hex HMAC-SHA1 of the raw body. A body is one message (track, identify, page) or
``{"batch": [...]}``. Every message that cannot be applied is kept with one line saying why
(no ``messageId``, no ``userId``, no valid ``timestamp``, a kind we do not take), so the
count of messages in equals accepted plus quarantined plus duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

KINDS = ("track", "identify", "page")


@dataclass(frozen=True)
class Event:
    """One message ready for the inbox: ``name`` is a track call's event, else its kind."""

    event_id: str
    kind: str
    name: str
    user_id: str
    event_ts: float     # epoch seconds (UTC) of the real-world event
    payload: str


@dataclass(frozen=True)
class Rejected:
    reason: str
    raw: str
    ref: str | None = None  # where it came from when that is unique (topic/partition/offset)


def signature_problem(body: bytes, signature: str | None, secret: bytes) -> str | None:
    """Why the request's signature is not Segment's for this body (None: it is)."""
    if not signature:
        return "unsigned request: no X-Signature header (Segment signs with the shared secret)"
    expected = hmac.new(secret, body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "bad signature: X-Signature is not the HMAC-SHA1 of the body with our secret"
    return None


def sign(body: bytes, secret: bytes) -> str:
    """The X-Signature Segment would send (for tests, benchmarks and replay tools)."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def _timestamp(value) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def message(raw) -> Event | Rejected:
    """One Segment message as an inbox event, or why it cannot be one."""
    text = json.dumps(raw, separators=(",", ":"), default=str)
    if not isinstance(raw, dict):
        return Rejected("a message must be a JSON object", text)
    kind = raw.get("type")
    if kind not in KINDS:
        return Rejected(f"message type {kind!r} is not taken (only {', '.join(KINDS)})", text)
    event_id = raw.get("messageId")
    if not isinstance(event_id, str) or not event_id:
        return Rejected("no messageId: it cannot be de-duplicated against Segment's retries",
                        text)
    user = raw.get("userId")
    if not isinstance(user, str) or not user:
        return Rejected("no userId: an anonymous event cannot be matched to a customer", text)
    when = _timestamp(raw.get("timestamp") or raw.get("originalTimestamp"))
    if when is None:
        return Rejected("no valid ISO 8601 timestamp: the event time is needed for freshness "
                        "and time windows", text)
    name = raw.get("event") if kind == "track" else kind
    if not isinstance(name, str) or not name:
        return Rejected("a track call without an event name", text)
    return Event(event_id, kind, name, user, when, text)


def messages(body: bytes) -> tuple[list[Event], list[Rejected]]:
    """The events of a request body and the messages rejected, each with its reason; a
    body that is not JSON is one rejected message."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [], [Rejected(f"body is not JSON ({err})", body.decode("utf-8", "replace"))]
    items = data["batch"] if isinstance(data, dict) and "batch" in data else [data]
    if not isinstance(items, list):
        return [], [Rejected("'batch' must be a list of messages", json.dumps(data))]
    accepted, rejected = [], []
    for item in items:
        parsed = message(item)
        (accepted if isinstance(parsed, Event) else rejected).append(parsed)
    return accepted, rejected
