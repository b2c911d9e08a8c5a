"""CSRF tokens: one random token per session, required on every state-changing request as
the form field ``csrf_token`` or the header ``X-CSRF-Token`` (HTMX sends it from the page's
``hx-headers``). The session cookie is signed and SameSite=strict besides; the token is what
stops another site's form from acting with a logged-in reviewer's cookie."""

from __future__ import annotations

import hmac
import secrets

FIELD, HEADER = "csrf_token", "x-csrf-token"


def token(session: dict) -> str:
    """The session's token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def valid(session: dict, sent: str | None) -> bool:
    """Whether ``sent`` is the session's token (constant-time comparison)."""
    want = session.get("csrf")
    return bool(want and sent) and hmac.compare_digest(str(want), str(sent))
