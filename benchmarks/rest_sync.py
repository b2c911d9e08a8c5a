"""REST sync: 100,000 Salesforce records through paging, a 429 and a 500, then the next
hourly run fetching only what changed, with a plain-HTTP floor measured in the same run::

    python -m benchmarks.rest_sync --records 100000 --changed 1000 --save

The Salesforce stand-in of the tests (tests/ingest/salesforce_standin.py: OAuth2 client
credentials, SOQL on queryAll, query locators paged by ``nextRecordsUrl``, 2,000 records a
page as Salesforce sends them) runs in its own process on loopback, so its JSON encoding
does not share the connector's interpreter. Library imports happen before the clock
starts (pyarrow's first conversion imports pandas, seconds on a busy host). Measured, in
this order, against the same server:

- floor: httpx GETs of every page with the token, each body JSON-decoded, nothing else
  (no retries, no Arrow, no dedupe): what any client pays for the same bytes;
- full sync: ``fetch(config, since=None)`` through a 429 (``Retry-After: 0``) on the third
  request and a 500 on the tenth; checked: as many distinct ids as records, none missing,
  none twice;
- incremental: ``--changed`` records edited at random, then ``fetch(config, since=<the
  cursor the full sync returned>)``; checked: exactly the edited ids come back;
- ingest: ``segflow ingest`` of the same source into a scratch workspace (the full sync,
  the customers contract, dedupe, quarantine and the canonical Parquet write).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "ingest"


def _serve(conn, records: int, batch: int) -> None:
    """The stand-in's process: serve, and answer the parent's commands over ``conn``."""
    sys.path.insert(0, str(STANDIN))
    from salesforce_standin import SalesforceStandIn

    with SalesforceStandIn(records, batch=batch) as sf:
        conn.send(sf.url)
        while True:
            command, arg = conn.recv()
            if command == "faults":
                sf.faults = {len(sf.requests) + k: v for k, v in arg.items()}
                conn.send(None)
            elif command == "modify":
                chosen = random.Random(7).sample(sf.ids(), arg)
                sf.modify(*chosen)
                conn.send(chosen)
            else:
                conn.send(None)
                return


def _floor(url: str, batch_url: str) -> dict:
    """Every page by plain httpx GETs and json decoding, following nextRecordsUrl."""
    import httpx

    sys.path.insert(0, str(STANDIN))
    from salesforce_standin import CLIENT_ID, CLIENT_SECRET

    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        token = http.post("/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = http.get(batch_url, headers=headers).json()
        records, pages = len(body["records"]), 1
        while not body["done"]:
            body = http.get(body["nextRecordsUrl"], headers=headers).json()
            records, pages = records + len(body["records"]), pages + 1
    return {"seconds": round(time.perf_counter() - start, 2), "records": records,
            "pages": pages}


def run(records: int, batch: int, changed: int) -> dict:
    os.environ.setdefault("SEGFLOW_PROJECT", str(ROOT))
    sys.path.insert(0, str(STANDIN))
    # library imports are not the sync's cost: pyarrow's first conversion imports pandas,
    # seconds on a busy host, so it is imported before any clock starts
    import pandas  # noqa: F401
    from salesforce_standin import CLIENT_SECRET, sources_yaml

    from segflow.ingest.pipeline import run_ingest
    from segflow.ingest.rest.fetch import fetch
    from segflow.ingest.sources import load_sources
    from segflow.settings import get_settings, set_home

    os.environ["SF_BENCH_SECRET"] = CLIENT_SECRET
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, records, batch), daemon=True)
    server.start()
    url = parent.recv()
    figures = {"records": records, "batch": batch, "changed": changed}
    try:
        with tempfile.TemporaryDirectory(prefix="segflow-rest-") as tmp:
            yaml = Path(tmp) / "sources.yaml"
            yaml.write_text(sources_yaml(url, "SF_BENCH_SECRET",
                                         "budget: 1000, backoff: 0.05, max_wait: 5"))
            spec = load_sources(yaml, get_settings().contracts_dir)[0]
            query = (spec.rest.url(spec.rest.endpoint) + "?"
                     + urlencode(spec.rest.params_for(None)))
            figures["floor"] = _floor(url, query)

            parent.send(("faults", {3: (429, {"Retry-After": "0"}), 10: (500, {})}))
            parent.recv()
            start = time.perf_counter()
            full = fetch(spec.rest, label=spec.label)
            seconds = time.perf_counter() - start
            ids = full.table["customer_id"].to_pylist()
            expected = {f"003{i:015d}" for i in range(records)}
            figures["full"] = {
                "seconds": round(seconds, 2), "rows": len(ids), "distinct": len(set(ids)),
                "missing": len(expected - set(ids)), "doubled": len(ids) - len(set(ids)),
                "requests": full.requests, "pages": full.pages, "retried": full.retried,
                "waited_s": round(full.waited, 3)}
            print(json.dumps({"full": figures["full"], "floor": figures["floor"]}), flush=True)

            parent.send(("modify", changed))
            edited = set(parent.recv())
            start = time.perf_counter()
            again = fetch(spec.rest, since=full.cursor, label=spec.label)
            fetched = again.table["customer_id"].to_pylist()
            figures["incremental"] = {
                "seconds": round(time.perf_counter() - start, 2), "fetched": len(fetched),
                "exactly_the_changed": set(fetched) == edited and len(fetched) == len(edited),
                "requests": again.requests, "pages": again.pages}
            print(json.dumps({"incremental": figures["incremental"]}), flush=True)

            set_home(Path(tmp) / "ws")
            start = time.perf_counter()
            report = run_ingest(get_settings().ensure(), yaml)
            table = report.tables["customers"]
            figures["ingest"] = {"seconds": round(time.perf_counter() - start, 2),
                                 "rows_in": table.rows_in, "accepted": table.accepted,
                                 "quarantined": table.quarantined_total}
            print(json.dumps({"ingest": figures["ingest"]}), flush=True)
    finally:
        parent.send(("stop", None))
        server.join(timeout=10)
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000, help="records per page")
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--save", action="store_true", help="keep the figures in "
                        "benchmarks/results/rest/ and re-render RESULTS.md")
    args = parser.parse_args(argv)
    figures = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0],
               **run(args.records, args.batch, args.changed)}
    if args.save:
        from benchmarks.report import save_run

        save_run(figures, "rest")


if __name__ == "__main__":
    main()
