"""``POST /v1/surveys/{tool}``: survey tools' webhooks on the real-time receiver.

One route per tool mapped in realtime.yaml's ``surveys:`` (Typeform, SurveyMonkey,
Zigpoll; ``segflow.ingest.events.surveys`` knows their payloads and signatures). Like the
Segment webhook: a bad or missing signature is 401 and the body quarantined; a response
is answered 200 only once committed to the inbox (the writer's group commit); a tool's
retry of the same response is a duplicate; a payload that cannot be mapped (no customer,
no NPS score) is quarantined with its reason and answered 400.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from segflow.errors import SegflowError
from segflow.governance.webhook_reply import store_and_answer
from segflow.ingest.events.surveys import responses, signature_problem


def secrets(config) -> dict[str, bytes]:
    """{tool: secret} from the variables realtime.yaml names; a mapped tool without its
    secret would accept anybody's answers, so the receiver refuses to start."""
    out = {}
    for tool, mapping in config.surveys.items():
        value = os.environ.get(mapping.secret_env, "")
        if not value:
            raise SegflowError(f"no {tool} secret: set {mapping.secret_env} to the secret "
                               f"configured in {tool} ({config.path} surveys.{tool} names it)")
        out[tool] = value.encode()
    return out


def add_survey_routes(app: FastAPI, config, intake) -> None:
    """Register the survey webhooks on ``app``; ``intake`` is the receiver's writer."""
    keys = secrets(config)

    async def survey(request: Request):
        tool = request.path_params["tool"]
        if tool not in keys:
            return JSONResponse({"error": f"no survey mapping for {tool!r} in "
                                          f"{config.path} (mapped: {sorted(keys) or 'none'})"},
                                status_code=404)
        body = await request.body()
        problem = signature_problem(tool, body, request.headers, keys[tool])
        return await store_and_answer(intake, f"survey:{tool}", body, problem,
                                      lambda raw: responses(config.surveys[tool], raw),
                                      "responses")

    app.add_route("/v1/surveys/{tool}", survey, methods=["POST"])
