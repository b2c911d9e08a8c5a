"""A local stand-in for Salesforce's REST query API, served on 127.0.0.1 by the test.

The real service is unreachable here, so this one behaves like it where a sync can go
wrong: the OAuth2 client-credentials token endpoint (a wrong secret is refused, an expired
token answers 401 INVALID_SESSION_ID), SOQL on ``/query`` and ``/queryAll`` (queryAll
includes deleted records with ``IsDeleted`` true; an unknown field is 400 INVALID_FIELD),
``SystemModstamp > <dateTime>`` filters and one ``(Field = 'value')`` condition, ``ORDER
BY SystemModstamp``, a query locator that pages with ``nextRecordsUrl`` (the result ids
are fixed when the query runs; each page serves the records as they are when it is
fetched), and scripted faults: any request can be answered with a 429 and a
``Retry-After``, a 500, or a connection closed with no answer (``DROP``). ``on_page`` runs
while a page is served, so a test can modify records in the middle of a sync. A small
generic JSON API (``/api/contacts``) pages by next URL, cursor or offset, for the
connector's generic paging.

Times are real UTC (the ``Date`` header and new ``SystemModstamp`` values come from the
same clock, as on the real service); the initial records are stamped a day earlier.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "v60.0"
SOURCES_YAML = """
sources:
  customers:
    kind: rest
    preset: salesforce
    base_url: {url}
    object: Contact
    auth: {{type: oauth2, token_url: /services/oauth2/token, client_id: {client},
            client_secret_env: {secret_env}}}
    fields: {{customer_id: Id, email: Email, phone: Phone, name: Name, signup_ts: CreatedDate,
              city: MailingCity, region: MailingState, country: MailingCountry}}
    constants: {{preferred_language: english, consent_email: "true", consent_sms: "false",
                 consent_push: "false", consent_ads: "false", onboarding_completed: "true"}}
    limits: {{{limits}}}
{extra}"""
CLIENT_ID, CLIENT_SECRET = "segflow-client", "standin-secret"
DROP = 0   # a fault "status": close the connection without answering
SOQL = re.compile(r"^SELECT (?P<fields>.+?) FROM (?P<object>\w+)"
                  r"(?: WHERE (?:\((?P<field>\w+) = '(?P<value>[^']*)'\))?(?: AND )?"
                  r"(?:SystemModstamp > (?P<since>\S+))?)? ORDER BY SystemModstamp ASC$")
LOCATOR = re.compile(rf"^/services/data/{VERSION}/query/(?P<loc>[0-9A-Za-z]+)-(?P<at>\d+)$")


def sources_yaml(url: str, secret_env: str, limits: str, extra: str = "") -> str:
    """A sources.yaml feeding the customers contract from the stand-in's Contacts through
    the salesforce preset; the client secret is read from ``secret_env``."""
    return SOURCES_YAML.format(url=url, client=CLIENT_ID, secret_env=secret_env,
                               limits=limits, extra=extra)


def stamp(when: datetime) -> str:
    """Salesforce's dateTime format: 2026-01-01T10:00:00.000+0000."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SalesforceStandIn:
    """``with SalesforceStandIn(3000) as sf:`` serves 3,000 Contacts at ``sf.url``."""

    def __init__(self, contacts: int, *, batch: int = 2000):
        self.batch = batch
        self.lock = threading.Lock()
        self._clock = datetime.now(UTC) - timedelta(days=1)
        self.contacts: dict[str, dict] = {}
        for i in range(contacts):
            self._add(i)
        self.faults: dict[int, tuple[int, dict]] = {}   # request number -> status, headers
        self.on_page = None          # called with the page number (1-based) while serving it
        self.requests: list[tuple[str, str, int]] = []  # method, path, status
        self.queries: list[dict[str, list[str]]] = []   # each request's query parameters
        self.tokens: set[str] = set()
        self.locators: dict[str, list[str]] = {}
        self.pages = 0

    def _tick(self) -> datetime:
        """The clock: real time, strictly increasing by at least a millisecond."""
        self._clock = max(datetime.now(UTC), self._clock + timedelta(milliseconds=1))
        return self._clock

    def _add(self, i: int) -> None:
        cid = f"003{i:015d}"
        now = self._clock = self._clock + timedelta(milliseconds=1)
        self.contacts[cid] = {
            "Id": cid, "Email": f"c{i}@example.com", "Name": f"Contact {i}",
            "Phone": None, "CreatedDate": stamp(now - timedelta(days=30)),
            "MailingCity": "Pune", "MailingState": "Maharashtra", "MailingCountry": "IN",
            "SystemModstamp": stamp(now), "IsDeleted": False}

    def ids(self) -> list[str]:
        return list(self.contacts)

    def modify(self, *ids: str, at: datetime | None = None) -> None:
        """Edit records now (or ``at``): a new email and a new SystemModstamp."""
        with self.lock:
            for cid in ids:
                record = self.contacts[cid]
                record["Email"] = "changed." + record["Email"]
                record["SystemModstamp"] = stamp(at or self._tick())

    def delete(self, *ids: str, at: datetime | None = None) -> None:
        """Delete records now (or ``at``); queryAll still serves them, IsDeleted true."""
        with self.lock:
            for cid in ids:
                self.contacts[cid].update(IsDeleted=True,
                                          SystemModstamp=stamp(at or self._tick()))

    # -- serving ------------------------------------------------------------------------

    def __enter__(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):   # quiet
                pass

            def do_GET(self):   # noqa: N802 - http.server's name
                standin._handle(self, "GET")

            def do_POST(self):   # noqa: N802
                standin._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if not self.thread.is_alive():   # stopped already
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _handle(self, handler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        form = parse_qs(handler.rfile.read(length).decode()) if length else {}
        with self.lock:
            number = len(self.requests) + 1
            fault = self.faults.pop(number, None)
            if fault is not None:
                status, body, headers = fault[0], [{"errorCode": "SERVER_ERROR" if fault[0]
                                                    >= 500 else "REQUEST_LIMIT_EXCEEDED",
                                                    "message": "stand-in fault"}], fault[1]
            else:
                status, body, headers = self._route(method, parts, form, handler.headers)
            self.requests.append((method, parts.path, status))
            self.queries.append(parse_qs(parts.query))
        if status == DROP:   # the connection closes with no answer, as when a proxy times out
            handler.close_connection = True
            return
        page = status == 200 and isinstance(body, dict) and ("records" in body or "data" in body)
        hook = self.on_page if page else None
        if hook is not None:
            hook(self.pages)
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(self, method, parts, form, headers):
        path, query = parts.path, parse_qs(parts.query)
        if method == "POST" and path == "/services/oauth2/token":
            return self._token(form)
        if path.startswith("/api/contacts"):
            return self._generic(query, headers)
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, [{"message": "Session expired or invalid",
                          "errorCode": "INVALID_SESSION_ID"}], {}
        if path in (f"/services/data/{VERSION}/query", f"/services/data/{VERSION}/queryAll"):
            return self._query(query.get("q", [""])[0], path.endswith("queryAll"))
        match = LOCATOR.match(path)
        if match and match["loc"] in self.locators:
            return self._page(match["loc"], int(match["at"]))
        return 404, [{"errorCode": "NOT_FOUND", "message": "no such resource"}], {}

    def _token(self, form):
        given = {k: v[0] for k, v in form.items()}
        if given.get("grant_type") != "client_credentials" or \
                given.get("client_id") != CLIENT_ID or given.get("client_secret") != CLIENT_SECRET:
            return 400, {"error": "invalid_client",
                         "error_description": "invalid client credentials"}, {}
        token = f"00Dstandin!{uuid.uuid4().hex}"
        self.tokens.add(token)
        return 200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                     "issued_at": str(int(datetime.now(UTC).timestamp() * 1000))}, {}

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _query(self, soql: str, include_deleted: bool):
        match = SOQL.match(soql)
        if not match or match["object"] != "Contact":
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": soql[:80]}], {}
        fields = [f.strip() for f in match["fields"].split(",")]
        known = set().union(*self.contacts.values())
        unknown = [f for f in fields if f not in known]
        if unknown:
            return 400, [{"errorCode": "INVALID_FIELD", "message": f"No such column "
                          f"'{unknown[0]}' on entity 'Contact'"}], {}
        since = parse_stamp(match["since"]) if match["since"] else None
        chosen = sorted((parse_stamp(r["SystemModstamp"]), cid)
                        for cid, r in self.contacts.items()
                        if (include_deleted or not r["IsDeleted"])
                        and (since is None or parse_stamp(r["SystemModstamp"]) > since)
                        and (match["field"] is None or r.get(match["field"]) == match["value"]))
        loc = f"01g{uuid.uuid4().hex[:15]}"
        self.locators[loc] = [cid for _, cid in chosen]
        self.fields = fields
        return self._page(loc, 0)

    def _page(self, loc: str, at: int):
        ids = self.locators[loc]
        chunk = ids[at: at + self.batch]
        self.pages += 1
        records = [{"attributes": {"type": "Contact",
                                   "url": f"/services/data/{VERSION}/sobjects/Contact/{cid}"},
                    **{f: self.contacts[cid].get(f) for f in self.fields}} for cid in chunk]
        body = {"totalSize": len(ids), "done": at + self.batch >= len(ids), "records": records}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{VERSION}/query/{loc}-{at + self.batch}"
        return 200, body, {}

    def _generic(self, query, headers):
        """A plain JSON API: ``updated_after``, ``limit``, and ``offset`` or ``cursor``;
        answers ``{"data": [...], "next": url, "next_cursor": ...}``; records nest the
        city (``address.city``)."""
        if headers.get("Authorization") != "Bearer generic-token":
            return 401, {"error": "unauthorized"}, {}
        since = query.get("updated_after", [None])[0]
        rows = sorted((r for r in self.contacts.values() if not r["IsDeleted"]),
                      key=lambda r: r["SystemModstamp"])
        if since:
            rows = [r for r in rows if parse_stamp(r["SystemModstamp"]) > parse_stamp(since)]
        limit = int(query.get("limit", ["100"])[0])
        start = int(query.get("offset", query.get("cursor", ["0"]))[0])
        chunk = rows[start: start + limit]
        self.pages += 1
        data = [{"id": r["Id"], "email": r["Email"], "updated_at": r["SystemModstamp"],
                 "address": {"city": r["MailingCity"]}} for r in chunk]
        more = start + limit < len(rows)
        body = {"data": data, "next_cursor": str(start + limit) if more else None,
                "next": (f"/api/contacts?limit={limit}&offset={start + limit}"
                         + (f"&updated_after={since}" if since else "")) if more else None}
        return 200, body, {}
