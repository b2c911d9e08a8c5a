"""One webhook request, stored and answered: the same rules for Segment and the survey
tools, so a sender's retries mean the same thing everywhere.

A bad signature: the body quarantined, 401. Otherwise the parsed items committed to the
inbox (the writer's group commit) before the answer: 200 with the counts, or 400 when
nothing in the body was usable (a retry would not make it better), or 503 when the inbox
could not commit (the sender retries).
"""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse

from segflow.ingest.events.segment import Rejected


async def store_and_answer(intake, source: str, body: bytes, problem: str | None, parse,
                           what: str = "events") -> JSONResponse:
    """``problem``: why the signature fails (None: it holds); ``parse(body)`` returns
    (events, rejected)."""
    def durable(events, rejected):
        return asyncio.wrap_future(intake.submit(source, events, rejected))

    try:
        if problem:
            await durable([], [Rejected(problem, body.decode("utf-8", "replace"))])
            return JSONResponse({"error": problem, "quarantined": 1}, status_code=401)
        events, rejected = parse(body)
        accepted, duplicates = await durable(events, rejected)
    except Exception as err:  # the inbox could not commit: the sender retries a 503
        return JSONResponse({"error": f"the inbox cannot store {what}: {err}"},
                            status_code=503)
    if rejected and not events:
        return JSONResponse({"error": rejected[0].reason, "quarantined": len(rejected)},
                            status_code=400)
    return JSONResponse({"accepted": accepted, "duplicates": duplicates,
                         "quarantined": len(rejected)})
