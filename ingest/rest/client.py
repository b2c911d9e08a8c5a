"""Requests to a REST API, paced and bounded: auth, rate limits, retries and the budget.

- Every request sent counts against the run's budget (``limits.budget``): pages, retries and
  token requests alike. The request that would exceed it is not sent; the run stops with
  ``RequestBudgetExceeded`` and nothing is loaded.
- A 429 (or a 5xx such as 503 that says when to come back) waits what ``Retry-After`` says
  (seconds or an HTTP date), up to ``limits.max_wait``; an API asking for longer stops the
  run rather than stall an hourly sync. A 5xx without it, a timeout or a dropped connection
  waits an exponential back-off with full jitter (a random wait up
  to ``backoff * 2**attempt``, capped at ``max_wait``), so many clients hit by one outage do
  not return in step. Either is re-tried at most ``limits.retries`` times per request.
- Bearer tokens and OAuth2 client credentials come from the environment at the moment they
  are used; a 401 fetches a fresh OAuth2 token once (it may have expired mid-run), a second
  401 stops the run naming the variables to check. Messages show URL paths, never query
  strings (which may carry a key) or secrets.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from segflow.errors import CheckFailed, EnvironmentFailure, SegflowError
from segflow.ingest.rest.config import RestConfig

ERROR_EXCERPT = 200   # characters of an error body quoted in a message


class RequestBudgetExceeded(CheckFailed):
    """A run needed more requests than ``limits.budget`` allows; nothing was loaded."""


class ApiRefused(SegflowError):
    """The API answered with a 4xx that re-trying cannot mend (credentials, a bad query)."""


class ApiUnavailable(EnvironmentFailure):
    """The API kept failing (5xx, timeouts) past ``limits.retries``, or asked to wait longer
    than ``limits.max_wait``."""


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def _credentials(auth) -> str:
    """Where the OAuth2 client credentials come from, for a message (never their values)."""
    client = f"client id in ${auth.client_id_env}" if auth.client_id_env else \
        f"client id {auth.client_id}"
    return f"{client}, secret in ${auth.client_secret_env}"


def describe(response) -> str:
    """An API's error in one line: Salesforce's ``[{errorCode, message}]``, OAuth's
    ``{error, error_description}``, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().replace("\n", " ")[:ERROR_EXCERPT]
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        code = first.get("errorCode") or first.get("error") or ""
        text = first.get("message") or first.get("error_description") or ""
        if code or text:
            return f"{code}: {text}".strip(": ")[:ERROR_EXCERPT]
    return str(body)[:ERROR_EXCERPT]


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number, or an HTTP date); None if absent
    or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Client:
    """One run's connection to one API: counts its requests and keeps its token."""

    def __init__(self, config: RestConfig, label: str, *, transport=None,
                 sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.config, self.label, self.sleep = config, label, sleep
        self.requests = 0           # sent, including retries and token requests
        self.retried = 0            # of which re-tries after a 429, 5xx or timeout
        self.waited = 0.0           # seconds spent waiting before re-tries
        self.api_start: datetime | None = None   # the API's clock when the run's query began
        self._token: str | None = None
        self._http = httpx.Client(timeout=config.limits.timeout, transport=transport,
                                  headers={"Accept": "application/json",
                                           "User-Agent": "segflow"})

    def close(self) -> None:
        self._http.close()

    def get_json(self, url: str, params: dict | None = None):
        """The decoded JSON of one GET, after whatever waiting and re-trying it took."""
        response = self._authorised("GET", url, params=params)
        if self.api_start is None and response.headers.get("date"):
            # the first answer's Date (whole seconds, so not later than when it was sent)
            # less the time the request took: not later than when the API began the query
            try:
                self.api_start = (parsedate_to_datetime(response.headers["date"])
                                  - response.elapsed)
            except (TypeError, ValueError):
                pass
        try:
            return response.json()
        except ValueError:
            raise ApiRefused(f"{self.label}: {_where(url)} answered {response.status_code} "
                             f"with something other than JSON: "
                             f"{response.text[:ERROR_EXCERPT]!r}") from None

    def _authorised(self, method: str, url: str, **kw):
        auth = self.config.auth
        for fresh in (False, True):
            headers = self._auth_headers(refresh=fresh)
            response = self._send(method, url, headers=headers, **kw)
            if response.status_code != 401 or auth.kind != "oauth2" or fresh:
                break
        if response.status_code == 401:
            where = {"bearer": f"the token in ${auth.token_env}",
                     "oauth2": f"a fresh token from the client credentials "
                               f"({_credentials(auth)})",
                     "none": "no credentials (the source has no auth:)"}[auth.kind]
            raise ApiRefused(f"{self.label}: {_where(url)} refused {where} (401 "
                             f"{describe(response)}); check the credentials are current")
        if response.status_code >= 400:
            raise ApiRefused(f"{self.label}: {_where(url)} answered {response.status_code} "
                             f"({describe(response)}); nothing was loaded")
        return response

    def _auth_headers(self, refresh: bool) -> dict[str, str]:
        auth = self.config.auth
        if auth.kind == "bearer":
            return {"Authorization": f"Bearer {os.environ.get(auth.token_env, '')}"}
        if auth.kind == "oauth2":
            if self._token is None or refresh:
                self._token = self._client_credentials()
            return {"Authorization": f"Bearer {self._token}"}
        return {}

    def _client_credentials(self) -> str:
        """An access token from the OAuth2 token endpoint (client credentials grant)."""
        auth = self.config.auth
        form = {"grant_type": "client_credentials",
                "client_id": os.environ.get(auth.client_id_env, "") if auth.client_id_env
                else auth.client_id,
                "client_secret": os.environ.get(auth.client_secret_env, "")}
        if auth.scope:
            form["scope"] = auth.scope
        url = self.config.url(auth.token_url)
        response = self._send("POST", url, data=form)
        token = None
        if response.status_code == 200:
            try:
                token = response.json().get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not token:
            raise ApiRefused(f"{self.label}: the token endpoint {_where(url)} refused the "
                             f"client credentials ({_credentials(auth)}): "
                             f"{response.status_code} {describe(response)}")
        return token

    def _spend(self, url: str) -> None:
        budget = self.config.limits.budget
        if self.requests >= budget:
            raise RequestBudgetExceeded(
                f"{self.label}: the run's request budget ({budget:,} requests) is spent with "
                f"{_where(url)} still to ask; nothing was loaded. Raise limits: "
                "{budget: N} for this source if the API really needs more (re-tries and "
                "token requests count too)")
        self.requests += 1

    def _send(self, method: str, url: str, **kw):
        """One request, re-tried after a 429, a 5xx, a timeout or a dropped connection."""
        import httpx

        limits = self.config.limits
        for attempt in range(limits.retries + 1):
            self._spend(url)
            try:
                response = self._http.request(method, url, **kw)
            except httpx.TransportError as err:   # timeouts, refused and dropped connections
                failure, wait = f"{err.__class__.__name__}", self._backoff(attempt)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                failure = (f"{response.status_code} {describe(response)}"
                           if response.status_code >= 500 else "429 Too Many Requests")
                wait = retry_after(response.headers.get("retry-after"))
                if wait is None:
                    wait = self._backoff(attempt)
                elif wait > limits.max_wait:
                    raise ApiUnavailable(
                        f"{self.label}: {_where(url)} answered {failure} and asks to wait "
                        f"{wait:,.0f} s (Retry-After), longer than limits.max_wait "
                        f"({limits.max_wait:g} s); nothing was loaded. Run again later")
            if attempt == limits.retries:
                break
            self.retried += 1
            self.waited += wait
            self.sleep(wait)
        raise ApiUnavailable(f"{self.label}: {_where(url)} failed {limits.retries + 1} times "
                             f"in a row (last: {failure}); nothing was loaded. The API may be "
                             "down: run again later, or raise limits.retries")

    def _backoff(self, attempt: int) -> float:
        limits = self.config.limits
        return random.uniform(0, min(limits.max_wait, limits.backoff * 2 ** attempt))
