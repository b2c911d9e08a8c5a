"""Survey tools' webhooks: each tool's signature and payload, mapped by realtime.yaml's
``surveys:`` section (``survey_config``) to rows of the project's surveys table.

A response becomes an inbox event (kind ``survey``, id ``<tool>:<response id>``), so it
shares the receiver's durability (200 only after the commit), de-duplication (a tool's
retry of the same response is a duplicate) and quarantine (a payload that cannot be mapped
is kept with its reason); the applier maps its customer to the survivor of an identity
merge, and ``survey_offline`` appends it to the surveys table's live folder, which the
feedback report reads with the table.

The tools:
- **Typeform** posts ``{"event_type": "form_response", "form_response": {"token",
  "submitted_at", "hidden": {...}, "answers": [{"field": {"id", "ref"}, "type", <type>:
  value}]}}`` and signs it: ``Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>``.
  Questions are matched by field ``ref`` (or ``id``); a choice answer is its label.
- **SurveyMonkey** posts an *event* (``{"event_type": "response_completed", "object_id",
  "resources": {...}}``, ``Sm-Signature``: base64 HMAC-SHA1 of the body keyed with
  ``api_key&api_secret``) that carries no answers: the response must be fetched from its API
  (``GET /v3/surveys/{survey_id}/responses/{id}/details``). segflow does not call
  SurveyMonkey; the endpoint takes the fetched response details (the API's format:
  ``{"id", "date_modified", "response_status", "custom_variables", "pages": [{"questions":
  [{"id", "answers": [{"choice_id"} | {"text"}]}]}]}``), posted with the same signature by
  whatever fetched it. A bare event is quarantined with that reason. Choice answers are
  choice ids; ``values:`` maps them to answers and NPS scores.
- **Zigpoll**: its webhook format could not be checked against Zigpoll's documentation
  here. Modelled as one participant's answers: an object or a list of objects
  ``{"pollId", "participantId", "slideId", "response", "createdAt", "metadata": {...}}``,
  grouped by poll and participant into one response; Zigpoll is not known to sign, so the
  request carries the shared secret as ``X-Segflow-Token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from segflow.ingest.events.segment import Event, Rejected

KIND = "survey"


@dataclass(frozen=True)
class Response:
    """One survey response as the tool sent it: its id, time, the answers by the tool's
    question id, and the object the customer path is read from."""

    response_id: str
    submitted: str
    answers: dict[str, object]
    root: dict


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def sign(tool: str, body: bytes, secret: bytes) -> dict[str, str]:
    """The header a tool would send with ``body`` (tests, replay tools)."""
    if tool == "typeform":
        return {"Typeform-Signature": "sha256=" + _b64(hmac.new(secret, body,
                                                                hashlib.sha256).digest())}
    if tool == "surveymonkey":
        return {"Sm-Signature": _b64(hmac.new(secret, body, hashlib.sha1).digest())}
    return {"X-Segflow-Token": secret.decode()}


def signature_problem(tool: str, body: bytes, headers, secret: bytes) -> str | None:
    """Why the request is not the tool's for this body (None: it is). ``headers`` is
    case-insensitive (Starlette's)."""
    name = next(iter(sign(tool, b"", b"x")))
    got = headers.get(name)
    if not got:
        return f"unsigned request: no {name} header ({tool} signs with the shared secret)"
    if not hmac.compare_digest(sign(tool, body, secret)[name].encode(), got.strip().encode()):
        return f"bad signature: {name} does not match the body and our {tool} secret"
    return None


def _typeform(data) -> list[Response] | str:
    if not isinstance(data, dict) or data.get("event_type") != "form_response":
        return "not a Typeform form_response event"
    form = data.get("form_response")
    if not isinstance(form, dict) or not isinstance(form.get("answers"), list):
        return "form_response has no answers list"
    answers: dict[str, object] = {}
    for a in form["answers"]:
        if not isinstance(a, dict) or not isinstance(a.get("field"), dict):
            return "an answer without its field"
        kind = a.get("type")
        value = a.get(kind) if isinstance(kind, str) else None
        if kind == "choices" and isinstance(value, dict):  # several: {"labels": [...]}
            value = "; ".join(map(str, value.get("labels") or []))
        elif isinstance(value, dict):                      # choice: {"label": ...}
            value = value.get("label")
        for key in ("ref", "id"):
            if a["field"].get(key):
                answers[str(a["field"][key])] = value
    return [Response(str(form.get("token") or ""), str(form.get("submitted_at") or ""),
                     answers, form)]


def _surveymonkey(data) -> list[Response] | str:
    if isinstance(data, dict) and "event_type" in data and "pages" not in data:
        return (f"a SurveyMonkey {data.get('event_type')} event carries no answers: post the "
                f"response details (GET /v3/surveys/{{survey_id}}/responses/"
                f"{data.get('object_id')}/details); segflow does not call SurveyMonkey's API")
    if not isinstance(data, dict) or not isinstance(data.get("pages"), list):
        return "not a SurveyMonkey response (no pages)"
    if data.get("response_status", "completed") != "completed":
        return f"response status {data.get('response_status')!r}: only completed responses count"
    answers: dict[str, object] = {}
    for page in data["pages"]:
        for q in (page or {}).get("questions") or []:
            given = (q.get("answers") or [{}])[0]
            answers[str(q.get("id"))] = given.get("choice_id", given.get("text"))
    return [Response(str(data.get("id") or ""), str(data.get("date_modified")
                                                   or data.get("date_created") or ""),
                     answers, data)]


def _zigpoll(data) -> list[Response] | str:
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        return "a Zigpoll payload is an answer object or a list of them"
    grouped: dict[tuple, list[dict]] = {}
    for item in items:
        grouped.setdefault((item.get("pollId"), item.get("participantId")), []).append(item)
    out = []
    for (poll, participant), answers in grouped.items():
        if not poll or not participant:
            return "a Zigpoll answer without pollId or participantId"
        out.append(Response(f"{poll}:{participant}",
                            str(max(str(a.get("createdAt") or "") for a in answers)),
                            {str(a.get("slideId")): a.get("response") for a in answers},
                            answers[0]))
    return out


PARSERS = {"typeform": _typeform, "surveymonkey": _surveymonkey, "zigpoll": _zigpoll}


def _time(value: str) -> float | None:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def _customer(root: dict, path: tuple[str, ...]):
    value = root
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def row(mapping, r: Response) -> dict | str:
    """The surveys-table row of a response, or why it cannot be one (the rules of the
    survey_responses contract: an id, a customer, a time, an NPS score 0..10)."""
    if not r.response_id:
        return "no response id: it cannot be de-duplicated against the tool's retries"
    customer = _customer(r.root, mapping.customer)
    if customer in (None, ""):
        return f"no customer id at {'.'.join(mapping.customer)}"
    when = _time(r.submitted)
    if when is None:
        return f"no valid ISO 8601 submission time ({r.submitted!r})"
    raw = r.answers.get(mapping.nps)
    raw = mapping.values.get(str(raw), raw)
    try:
        nps = int(raw) if not isinstance(raw, bool) and float(raw) == int(float(raw)) else None
    except (TypeError, ValueError):
        nps = None
    if nps is None or not 0 <= nps <= 10:
        return f"the NPS question {mapping.nps!r} has no score 0..10 (got {raw!r})"
    question, answer = None, None
    for name, tool_id in mapping.choices.items():
        given = r.answers.get(tool_id)
        if given is not None:
            question, answer = name, str(mapping.values.get(str(given), given))
    comment = r.answers.get(mapping.comment) if mapping.comment else None
    return {"response_id": f"{mapping.tool}:{r.response_id}", "customer_id": str(customer),
            "response_ts": when, "nps": nps,
            "comment": None if comment is None else str(comment),
            "question": question, "answer": answer}


def responses(mapping, body: bytes) -> tuple[list[Event], list[Rejected]]:
    """The inbox events of a tool's request body and what was rejected, with reasons."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [], [Rejected(f"body is not JSON ({err})", text)]
    parsed = PARSERS[mapping.tool](data)
    if isinstance(parsed, str):
        return [], [Rejected(parsed, text)]
    events, rejected = [], []
    for r in parsed:
        mapped = row(mapping, r)
        if isinstance(mapped, str):
            rejected.append(Rejected(mapped, text))
            continue
        events.append(Event(mapped["response_id"], KIND, f"survey {mapping.tool}",
                            mapped["customer_id"], mapped["response_ts"],
                            json.dumps(mapped, separators=(",", ":"))))
    return events, rejected
