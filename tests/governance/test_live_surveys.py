"""Survey tools' webhooks on the real receiver: one payload per tool (Typeform,
SurveyMonkey, Zigpoll) in its own format and signature, mapped by realtime.yaml, stored
once, bad ones quarantined with a reason, and read by `segflow feedback` by cohort and arm."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from govworld import copy_world
from liveworld import (
    env_of,
    free_port,
    http,
    published_rows,
    published_world,
    start_receiver,
    until,
)

from segflow.ingest.events.surveys import sign

pytestmark = pytest.mark.integration

SECRETS = {"typeform": "tf-secret", "surveymonkey": "key&sm-secret", "zigpoll": "zp-token"}
SURVEYS = """
surveys:
  typeform:
    secret_env: TEST_TYPEFORM_SECRET
    customer: hidden.customer_id
    nps: nps_ref
    choices: {preferred_offer: offer_ref}
    comment: why_ref
  surveymonkey:
    secret_env: TEST_SURVEYMONKEY_SECRET
    customer: custom_variables.customer_id
    nps: "101"
    choices: {preferred_offer: "102"}
    values: {"9001": "9", "9002": "3", "8001": discount, "8002": bundle}
  zigpoll:
    secret_env: TEST_ZIGPOLL_TOKEN
    customer: metadata.customer_id
    nps: slide-nps
    choices: {preferred_offer: slide-offer}
"""
ENV = {f"TEST_{t.upper()}_{'TOKEN' if t == 'zigpoll' else 'SECRET'}": s
       for t, s in SECRETS.items()}
NOW = datetime.now(UTC).replace(microsecond=0)


def typeform(customer: str, token: str = "tf-1", nps: int = 10) -> dict:
    return {"event_id": "01J0", "event_type": "form_response", "form_response": {
        "form_id": "lT4Z3j", "token": token, "submitted_at": NOW.isoformat().replace(
            "+00:00", "Z"), "hidden": {"customer_id": customer},
        "definition": {"id": "lT4Z3j", "title": "After Holi", "fields": []},
        "answers": [
            {"type": "number", "number": nps, "field": {"id": "f1", "type": "opinion_scale",
                                                       "ref": "nps_ref"}},
            {"type": "choice", "choice": {"label": "discount"},
             "field": {"id": "f2", "type": "multiple_choice", "ref": "offer_ref"}},
            {"type": "text", "text": "quick delivery", "field": {"id": "f3",
                                                                 "type": "long_text",
                                                                 "ref": "why_ref"}}]}}


def surveymonkey(customer: str) -> dict:
    """A response in the API's details format (GET .../responses/{id}/details)."""
    return {"id": "5007154325", "survey_id": "405", "collector_id": "77",
            "response_status": "completed", "date_created": NOW.isoformat(),
            "date_modified": NOW.isoformat(), "custom_variables": {"customer_id": customer},
            "pages": [{"id": "1", "questions": [
                {"id": "101", "answers": [{"choice_id": "9002"}]},
                {"id": "102", "answers": [{"choice_id": "8002"}]}]}]}


def zigpoll(customer: str) -> list[dict]:
    base = {"pollId": "poll-7", "participantId": "part-3", "createdAt": NOW.isoformat(),
            "metadata": {"customer_id": customer}}
    return [base | {"slideId": "slide-nps", "response": "8"},
            base | {"slideId": "slide-offer", "response": "free_shipping"}]


def post(port: int, tool: str, payload, secret: str | None = None):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json",
               **sign(tool, body, (secret or SECRETS[tool]).encode())}
    return http("POST", f"http://127.0.0.1:{port}/v1/surveys/{tool}", body, headers)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    settings = published_world(tmp_path_factory.mktemp("surveys") / "world")
    with open(settings.realtime_path, "a") as f:
        f.write(SURVEYS)
    rows = [r for r in published_rows(settings) if r["status"] == "assigned"]
    for i, r in enumerate(rows):  # the outcomes say who was held out
        r["arm"] = "holdout" if i % 4 == 3 else "treatment"
    n = len(rows)
    start = NOW - timedelta(days=2)
    pq.write_table(pa.table({
        "campaign_id": ["holi_test"] * n, "customer_id": [r["entity_id"] for r in rows],
        "campaign_start": pa.array([start] * n, pa.timestamp("us", tz="UTC")),
        "campaign_end": pa.array([start + timedelta(days=1)] * n, pa.timestamp("us", tz="UTC")),
        "arm": [r["arm"] for r in rows],
        "offer": pa.array([None] * n, pa.string()),
        "sent": [r["arm"] == "treatment" for r in rows], "opened": [False] * n,
        "clicked": [False] * n, "converted": [i % 3 == 0 for i in range(n)],
        "revenue": [100.0 if i % 3 == 0 else 0.0 for i in range(n)]}),
        settings.table_path("outcomes"))
    return settings, rows


@pytest.fixture
def live(prepared, tmp_path, monkeypatch):
    settings = copy_world(prepared[0], tmp_path / "world")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    port = free_port()
    proc = start_receiver(settings, port)
    yield settings, port, prepared[1]
    proc.kill()
    proc.wait()


def test_each_tools_webhook_reaches_feedback_by_cohort_and_arm(live, cli):
    """One response per tool, a retry, forged and unmappable payloads; then the feedback
    report reads the three responses with their customers' cohorts and arms."""
    settings, port, rows = live
    treated, other = [r for r in rows if r["arm"] == "treatment"][:2]
    held = next(r for r in rows if r["arm"] == "holdout")
    ok = {"accepted": 1, "duplicates": 0, "quarantined": 0}
    assert post(port, "typeform", typeform(treated["entity_id"])) == (200, ok)
    assert post(port, "surveymonkey", surveymonkey(held["entity_id"])) == (200, ok)
    assert post(port, "zigpoll", zigpoll(other["entity_id"])) == (200, ok)
    # a tool's retry of the same response is stored once
    assert post(port, "typeform", typeform(treated["entity_id"])) == (
        200, {"accepted": 0, "duplicates": 1, "quarantined": 0})

    _refused_and_quarantined(settings, port, rows[0]["entity_id"])

    folder = settings.events_offline_dir / settings.table_name("surveys")

    def appended() -> list[pd.DataFrame] | None:
        """The responses appended so far, once all three are (the flusher runs every 5 s,
        so they may land in more than one file)."""
        files = sorted(folder.glob("*/*.parquet"))
        got = pd.concat([pd.read_parquet(f) for f in files]) if files else None
        return [got] if got is not None and len(got) == 3 else None

    got = until(appended, what="three survey responses appended")[0].set_index("response_id")
    assert sorted(got.index) == ["surveymonkey:5007154325", "typeform:tf-1",
                                 "zigpoll:poll-7:part-3"]
    assert got.loc["typeform:tf-1", ["customer_id", "nps", "question", "answer", "comment"]
                   ].tolist() == [treated["entity_id"], 10, "preferred_offer", "discount",
                                  "quick delivery"]
    assert got.loc["surveymonkey:5007154325", ["nps", "answer"]].tolist() == [3, "bundle"]
    assert got.loc["zigpoll:poll-7:part-3", ["nps", "answer"]].tolist() == [8, "free_shipping"]
    # a response is no live change: the freshness gate does not count its lag
    from segflow.ingest.events.freshness import freshness

    assert freshness(sqlite3.connect(settings.events_dir / "inbox.sqlite"))[0]["events"] == 0

    shown = cli(settings.home, "feedback", "--campaign", "holi_test", env=env_of(settings))
    assert shown.code == 0, shown.err
    # the command's summary: arms, the funnel and NPS per arm (holdout: one detractor)
    assert "arms: holdout, treatment" in shown.out
    assert "funnel, treatment:" in shown.out and "funnel, holdout:" in shown.out
    assert "NPS, holdout: -100 " in shown.out and "from 1 response(s)" in shown.out
    out = settings.home / "feedback" / "holi_test"
    survey = pd.read_parquet(out / "survey.parquet")
    by_cohort = survey[survey["dimension"] == "cohort"].set_index(["group", "arm"])
    assert by_cohort.loc[(treated["cohort"], "treatment"), "responses"] >= 1
    assert by_cohort.loc[(held["cohort"], "holdout"), "responses"] == 1
    assert by_cohort.loc[(held["cohort"], "holdout"), "nps"] == -100  # one detractor (3)
    overall = survey[survey["dimension"] == "all"].set_index("arm")["responses"]
    assert overall.to_dict() == {"holdout": 1, "treatment": 2}
    choices = pd.read_parquet(out / "survey_choices.parquet")
    assert set(choices["answer"]) == {"discount", "bundle", "free_shipping"}
    page = (out / "feedback.html").read_text()
    assert "NPS" in page and "free_shipping" in page


def _refused_and_quarantined(settings, port: int, customer: str) -> None:
    """A forged signature is 401, a payload that cannot be mapped 400 with its reason; each
    is quarantined and none reaches the surveys table."""
    forged = post(port, "typeform", typeform(customer), secret="wrong")
    assert forged[0] == 401 and "bad signature" in forged[1]["error"]
    no_score = typeform(customer, token="tf-2")
    no_score["form_response"]["answers"] = no_score["form_response"]["answers"][1:]
    missing = post(port, "typeform", no_score)
    assert missing[0] == 400 and "'nps_ref' has no score 0..10" in missing[1]["error"]
    event = {"event_type": "response_completed", "object_id": "5007154325",
             "resources": {"survey_id": "405"}}
    bare = post(port, "surveymonkey", event)
    assert bare[0] == 400 and "carries no answers" in bare[1]["error"]
    anonymous = zigpoll(customer)
    for a in anonymous:
        a["metadata"] = {}
    assert "no customer id at metadata.customer_id" in post(port, "zigpoll", anonymous)[1]["error"]
    assert http("POST", f"http://127.0.0.1:{port}/v1/surveys/qualtrics", b"{}")[0] == 404
    con = sqlite3.connect(settings.events_dir / "inbox.sqlite")
    reasons = [r[0] for r in con.execute("SELECT reason FROM quarantine ORDER BY seq")]
    assert len(reasons) == 4 and reasons[0].startswith("bad signature")
    assert con.execute("SELECT count(*) FROM inbox WHERE kind = 'survey'").fetchone()[0] == 3


@pytest.mark.parametrize(("text", "message", "line"), [
    ("surveys:\n  qualtrics: {secret_env: X, customer: a, nps: b}\n",
     "unknown survey tool 'qualtrics'", 2),
    ("surveys:\n  typeform:\n    secret_env: X\n    customer: a\n    nps: b\n    npss: c\n",
     "unknown key 'npss' in surveys.typeform", 6),
    ("surveys:\n  zigpoll: {secret_env: X, customer: a}\n", "surveys.zigpoll needs nps", 2),
    ("surveys:\n  typeform:\n    secret_env: X\n    customer: a\n    nps: b\n"
     "    choices: {q1: a, q2: b}\n", "one multiple-choice answer per response", 6),
])
def test_survey_mappings_are_parsed_strictly(tmp_path, text, message, line):
    from segflow.errors import ConfigError
    from segflow.ingest.events.survey_config import parse_surveys
    from segflow.yamlio import load_yaml

    path = tmp_path / "realtime.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        parse_surveys(path, load_yaml(path))
    assert message in str(err.value) and f":{line}" in str(err.value)


def test_signatures_are_the_tools_documented_ones():
    """Typeform: "sha256=" + base64 HMAC-SHA256 of the raw body; SurveyMonkey: base64
    HMAC-SHA1 keyed "api_key&api_secret" (computed here from the formulas, not by segflow)."""
    import base64
    import hashlib
    import hmac

    from segflow.ingest.events.surveys import signature_problem

    body, key = b'{"event_type":"form_response"}', b"k&s"
    typeform_sig = "sha256=" + base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()
                                                ).decode()
    monkey_sig = base64.b64encode(hmac.new(key, body, hashlib.sha1).digest()).decode()
    assert signature_problem("typeform", body, {"Typeform-Signature": typeform_sig}, key) is None
    assert signature_problem("surveymonkey", body, {"Sm-Signature": monkey_sig}, key) is None
    assert "bad signature" in signature_problem("typeform", body + b" ",
                                                {"Typeform-Signature": typeform_sig}, key)
    assert "no Sm-Signature" in signature_problem("surveymonkey", body, {}, key)
