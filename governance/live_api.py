"""The real-time HTTP service (``segflow events serve``): Segment's webhook in, live
memberships out.

- ``POST /v1/segment``: a Segment webhook (one message or a batch), signed with the shared
  secret. 200 only once the events are committed to the inbox (on disk); a bad signature
  401, a body with nothing usable 400, each with the reason, and the body kept in
  quarantine. A batch with some bad messages answers 200 with the counts: the good ones are
  stored, the bad ones quarantined, and a retry would not make them better.
- ``GET /v1/customers/{id}/segments`` and ``POST /v1/customers/segments`` (``{"ids":
  [...]}``, at most 1,000): published-plus-live memberships and streaming features, for a
  consumer holding an API key (``X-API-Key``; keys per consumer in realtime.yaml's
  ``lookup.keys_env`` variable). Without keys configured every lookup is refused.
- ``GET /v1/events/status``: counts and freshness (API key too).
- ``POST /v1/surveys/{tool}``: survey tools' webhooks (``survey_api``).
"""

from __future__ import annotations

import asyncio
import threading
import time

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from segflow.governance.live import LiveMemberships, customer_segments
from segflow.governance.survey_api import add_survey_routes
from segflow.governance.webhook_reply import store_and_answer
from segflow.ingest.events.freshness import freshness
from segflow.ingest.events.inbox import connect_inbox, counts, identity_map
from segflow.ingest.events.segment import messages, signature_problem
from segflow.settings import Settings

MAX_IDS = 1000


def create_app(settings: Settings, config, intake) -> FastAPI:
    """The app over a started ``Intake`` (the single writer of the inbox)."""
    app = FastAPI(title="segflow live", docs_url=None, redoc_url=None)
    secret = config.secret()
    keys = config.api_keys()
    live = LiveMemberships(settings, config)
    local = threading.local()

    def reader():
        if getattr(local, "con", None) is None:
            local.con = connect_inbox(settings)
        return local.con

    def consumer(key: str | None) -> str:
        if not keys:
            raise HTTPException(401, f"lookups are closed: no API keys configured "
                                     f"(set {config.keys_env})")
        if not key or key not in keys:
            raise HTTPException(401, "missing or unknown X-API-Key")
        return keys[key]

    async def segment(request: Request):
        """A plain Starlette endpoint: the webhook is the hot path, and FastAPI's parameter
        machinery cost about a third of its CPU per request."""
        body = await request.body()
        problem = signature_problem(body, request.headers.get("x-signature"), secret)
        return await store_and_answer(intake, "webhook", body, problem, messages)

    app.add_route("/v1/segment", segment, methods=["POST"])
    add_survey_routes(app, config, intake)  # POST /v1/surveys/{tool}

    def answer(ids: list[str], at: float | None) -> list[dict]:
        return customer_segments(live, reader(), config, identity_map(settings), ids,
                                 time.time() if at is None else at)

    @app.get("/v1/customers/{customer_id}/segments")
    def one(customer_id: str, at: float | None = None,
            x_api_key: str | None = Header(default=None)):
        consumer(x_api_key)
        return answer([customer_id], at)[0]

    @app.post("/v1/customers/segments")
    async def many(request: Request, x_api_key: str | None = Header(default=None)):
        consumer(x_api_key)
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(400, 'body must be JSON: {"ids": ["C1", ...]}') from None
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise HTTPException(400, 'body must be {"ids": ["C1", ...]} (strings)')
        if len(ids) > MAX_IDS:
            raise HTTPException(400, f"at most {MAX_IDS} ids per request, got {len(ids)}")
        return {"customers": await asyncio.to_thread(answer, ids, data.get("at"))}

    @app.get("/v1/events/status")
    def status(x_api_key: str | None = Header(default=None)):
        consumer(x_api_key)
        con = reader()
        return {"counts": counts(con), "freshness": freshness(con),
                "p95_limit_seconds": config.p95_limit_seconds}

    @app.get("/healthz")
    def health():
        """200 while the inbox writer runs; 503 with its error once it has stopped."""
        if intake.error is not None:
            return JSONResponse({"ok": False, "error": str(intake.error)}, status_code=503)
        return {"ok": True}

    return app
