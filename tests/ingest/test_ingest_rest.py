"""REST sources: the salesforce preset and generic paging, against a local stand-in of the
API (salesforce_standin) that pages, rate-limits, fails and changes records mid-sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from salesforce_standin import CLIENT_SECRET, DROP, SalesforceStandIn, sources_yaml

from segflow import canonical
from segflow.errors import ConfigError, SchemaChangedError
from segflow.ingest.pipeline import run_ingest
from segflow.ingest.rest.client import ApiRefused, ApiUnavailable, RequestBudgetExceeded
from segflow.ingest.rest.fetch import fetch
from segflow.ingest.sources import load_sources
from segflow.settings import get_settings

AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def salesforce(sources, monkeypatch):
    """(stand-in, sources.yaml writer): the YAML points at the running stand-in."""
    monkeypatch.setenv("SF_SECRET", CLIENT_SECRET)

    def start(contacts: int, batch: int):
        standin = SalesforceStandIn(contacts, batch=batch).__enter__()
        started.append(standin)
        return standin

    def yaml(standin, limits="", extra=""):
        return sources(sources_yaml(standin.url, "SF_SECRET", "backoff: 0.001, max_wait: 1"
                                    + limits, extra))

    started: list = []
    yield start, yaml
    for standin in started:
        standin.__exit__(None, None, None)


def _spec(path):
    return load_sources(path, get_settings().contracts_dir)[0]


def test_sync_through_a_429_and_a_500_loses_nothing_and_doubles_nothing(salesforce):
    start, yaml = salesforce
    sf = start(2000, batch=200)
    spec = _spec(yaml(sf))
    ids = sf.ids()
    sf.delete(ids[10], at=AN_HOUR_AGO)
    sf.faults = {3: (429, {"Retry-After": "0.01"}), 6: (500, {})}
    # while page 4 is served: edit a record already served (page 1) and one still to come
    sf.on_page = lambda page: sf.modify(ids[5], ids[1500]) if page == 4 else None
    waits: list[float] = []
    result = fetch(spec.rest, label=spec.label, sleep=waits.append)

    got = result.table["customer_id"].to_pylist()
    assert len(got) == len(set(got)) == 2000 and set(got) == set(ids)
    assert result.deleted_ids == [ids[10]]
    assert result.live.num_rows == 1999 and ids[10] not in result.live["customer_id"].to_pylist()
    assert waits[0] == 0.01 and len(waits) == 2 == result.retried   # Retry-After honoured
    assert result.requests == 1 + 10 + 2   # the token, 10 pages, 2 re-tries
    email = dict(zip(got, result.table["email"].to_pylist(), strict=True))
    assert email[ids[1500]].startswith("changed.")     # served after its edit
    assert not email[ids[5]].startswith("changed.")    # served before it: next run's

    sf.faults, sf.on_page = {}, None
    sf.modify(*ids[100:150])
    sf.delete(ids[200])
    second = fetch(spec.rest, since=result.cursor, label=spec.label)
    assert sorted(second.table["customer_id"].to_pylist()) == sorted(
        [ids[5], ids[1500], *ids[100:150], ids[200]])
    assert second.deleted_ids == [ids[200]]
    # the cursor never moves back; it moves on only past the API's clock less a margin,
    # which a second sync within that margin has not reached yet
    assert second.requests == 2 and second.cursor >= result.cursor


def test_a_dropped_connection_is_retried_and_an_unreachable_api_named(salesforce):
    start, yaml = salesforce
    sf = start(500, batch=100)
    sf.faults = {2: (DROP, {}), 4: (DROP, {})}   # the first query, and a page
    spec = _spec(yaml(sf))
    result = fetch(spec.rest, label=spec.label, sleep=lambda s: None)
    assert result.table.num_rows == 500 and result.retried == 2
    sf.__exit__(None, None, None)   # nothing listens on its port any more
    with pytest.raises(ApiUnavailable, match=r"oauth2/token failed 6 times in a row \(last: "
                       r"ConnectError\)"):
        fetch(spec.rest, label=spec.label, sleep=lambda s: None)


def test_an_expired_token_is_renewed_once_mid_sync(salesforce):
    start, yaml = salesforce
    sf = start(500, batch=100)
    spec = _spec(yaml(sf))
    sf.on_page = lambda page: sf.expire_tokens() if page == 2 else None
    result = fetch(spec.rest, label=spec.label)
    assert result.table.num_rows == 500
    assert [p for _, p, _ in sf.requests].count("/services/oauth2/token") == 2


def test_where_and_include_deleted_false_shape_the_soql(salesforce):
    start, yaml = salesforce
    sf = start(40, batch=100)
    ids = sf.ids()
    for cid in ids[:10]:
        sf.contacts[cid]["MailingCountry"] = "GB"
    sf.delete(ids[20], at=AN_HOUR_AGO)
    spec = _spec(yaml(sf, extra="    where: \"MailingCountry = 'IN'\"\n"
                                "    include_deleted: false\n"))
    result = fetch(spec.rest, label=spec.label)
    assert sorted(result.table["customer_id"].to_pylist()) == ids[10:20] + ids[21:]
    assert result.deleted_ids == []
    assert sf.requests[-1][1] == "/services/data/v60.0/query"
    assert sf.queries[-1]["q"] == ["SELECT Id, SystemModstamp, IsDeleted, Email, Phone, Name, "
                                   "CreatedDate, MailingCity, MailingState, MailingCountry "
                                   "FROM Contact WHERE (MailingCountry = 'IN') ORDER BY "
                                   "SystemModstamp ASC"]


def test_a_field_salesforce_does_not_know_stops_the_sync_with_its_error(salesforce):
    start, yaml = salesforce
    sf = start(20, batch=100)
    for record in sf.contacts.values():
        del record["MailingCity"]   # as if the field were renamed in Salesforce
    spec = _spec(yaml(sf))
    with pytest.raises(ApiRefused, match="answered 400 .INVALID_FIELD: No such column "
                       "'MailingCity' on entity 'Contact'.; nothing was loaded"):
        fetch(spec.rest, label=spec.label)


def test_ingest_reads_a_salesforce_source_through_contracts_and_quarantine(home, salesforce):
    start, yaml = salesforce
    sf = start(300, batch=100)
    ids = sf.ids()
    sf.contacts[ids[7]]["CreatedDate"] = None
    sf.delete(ids[9], at=AN_HOUR_AGO)
    report = run_ingest(home, yaml(sf))
    customers = report.tables["customers"]
    assert (customers.rows_in, customers.accepted) == (299, 298)
    assert customers.quarantined == {"missing_value:signup_ts": 1}
    assert customers.source == f"rest:{sf.url}/services/data/v60.0/queryAll"
    written = pq.read_table(home.canonical_dir / "customers.parquet")["customer_id"].to_pylist()
    assert len(written) == 298 and ids[9] not in written and ids[7] not in written


def test_a_spent_request_budget_stops_the_run_and_commits_nothing(home, salesforce):
    start, yaml = salesforce
    sf = start(300, batch=100)
    with pytest.raises(RequestBudgetExceeded, match=r"request budget \(3 requests\) is spent "
                       r"after 2 pages \(200 records\).*nothing was loaded.*limits: "
                       r"\{budget: N\}") as err:
        run_ingest(home, yaml(sf, limits=", budget: 3"))
    assert err.value.exit_code == 1
    assert not (home.canonical_dir / "customers.parquet").exists()


@pytest.mark.parametrize(("faults", "words"), [
    ({1: (429, {"Retry-After": "3600"})}, r"answered 429 Too Many Requests and asks to "
                                          r"wait 3,600 s \(Retry-After\), longer than "
                                          r"limits.max_wait \(1 s\)"),
    ({1: (503, {"Retry-After": "120"})}, r"answered 503 SERVER_ERROR: stand-in fault and asks "
                                         r"to wait 120 s"),
    ({n: (500, {}) for n in range(2, 9)}, r"failed 6 times in a row \(last: 500 SERVER_ERROR"),
])
def test_an_api_that_stays_unavailable_stops_the_sync(salesforce, faults, words):
    start, yaml = salesforce
    sf = start(50, batch=100)
    spec = _spec(yaml(sf))
    sf.faults = faults
    with pytest.raises(ApiUnavailable, match=words) as err:
        fetch(spec.rest, label=spec.label, sleep=lambda s: None)
    assert err.value.exit_code == 3


GENERIC = """
sources:
  customers:
    kind: rest
    base_url: {url}
    endpoint: /api/contacts
    params: {{updated_after: "{{since}}", limit: 70, api_key: "${{CRM_KEY}}"}}
    records: data
    id: id
    modified: updated_at
    auth: {{type: bearer, token_env: CRM_TOKEN}}
    paging: {paging}
    fields: {{customer_id: id, email: email, city: address.city}}
"""


@pytest.fixture
def generic(sources, monkeypatch):
    """(a running stand-in, read(paging, *replace)): the spec of a sources.yaml reading its
    generic API, with ``replace`` = (old text, new text) edits to the YAML."""
    monkeypatch.setenv("CRM_TOKEN", "generic-token")
    monkeypatch.setenv("CRM_KEY", "k-123")
    with SalesforceStandIn(300) as api:
        def read(paging="{type: next_url, next: next}", *replace):
            text = GENERIC.format(url=api.url, paging=paging)
            for old, new in replace:
                text = text.replace(old, new)
            return _spec(sources(text))

        yield api, read


@pytest.mark.parametrize("paging", [
    "{type: next_url, next: next}",
    "{type: cursor, next: next_cursor, param: cursor}",
    "{type: offset, param: offset, size: 70}",
])
def test_generic_paging_reads_every_record_once_and_then_only_changes(generic, paging):
    api, read = generic
    spec = read(paging)
    result = fetch(spec.rest, label=spec.label)
    assert sorted(result.table["customer_id"].to_pylist()) == api.ids()
    assert set(result.table["city"].to_pylist()) == {"Pune"}   # nested: address.city
    assert result.pages == 5
    api.modify(*api.ids()[40:45])
    again = fetch(spec.rest, since=result.cursor, label=spec.label)
    assert sorted(again.table["customer_id"].to_pylist()) == api.ids()[40:45]
    first, later = api.queries[0], api.queries[-1]
    assert first["api_key"] == ["k-123"] and "updated_after" not in first
    assert later["updated_after"][0].endswith("Z")


def test_a_record_served_twice_is_kept_once_in_its_latest_version(generic):
    api, read = generic
    ids = api.ids()
    # edited while page 2 is served: it moves to the end of the API's order, so offset
    # paging serves it again on the last page (and skips the record that moved up into
    # the slot, the hazard docs/sources.md warns of for offset paging)
    api.on_page = lambda page: api.modify(ids[3]) if page == 2 else None
    spec = read("{type: offset, param: offset, size: 70}")
    result = fetch(spec.rest, label=spec.label)
    got = result.table["customer_id"].to_pylist()
    assert result.served == len(got) + 1 and len(got) == len(set(got))
    email = dict(zip(got, result.table["email"].to_pylist(), strict=True))
    assert email[ids[3]].startswith("changed.")
    assert set(ids) - set(got) == {ids[140]}


@pytest.mark.parametrize(("replace", "error", "words"), [
    (("modified: updated_at", "modified: email"), SchemaChangedError,
     r"modified \('email'\) is not an ISO 8601 time in 300 records \(e.g. 'c\d+@example.com'\)"),
    (("address.city", "address.town"), SchemaChangedError,
     r"no record has 'address.town'.*the records have: address.city, email, id, updated_at"),
    (("token_env: CRM_TOKEN", "token_env: CRM_OLD_TOKEN"), ApiRefused,
     r"refused the token in \$CRM_OLD_TOKEN \(401"),
])
def test_what_the_api_sends_is_checked_against_sources_yaml(generic, monkeypatch, replace,
                                                            error, words):
    monkeypatch.setenv("CRM_OLD_TOKEN", "expired")
    api, read = generic
    spec = read("{type: next_url, next: next}", replace)
    with pytest.raises(error, match=words) as err:
        fetch(spec.rest, label=spec.label)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(("auth", "line", "words"), [
    ("auth: {type: bearer, token: abc123}", 7, "auth.token holds a secret written into "
     "sources.yaml; write token_env: SOME_VARIABLE"),
    ("auth:\n      type: oauth2\n      token_url: /t\n      client_id: x\n"
     "      client_secret: hunter2", 11, "auth.client_secret holds a secret"),
    ("params: {api_key: abc123}", 7, "params.api_key looks like a secret"),
    ("auth: {type: bearer, token_env: NOT_SET_ANYWHERE}", 7,
     "names the environment variable NOT_SET_ANYWHERE, which is not set"),
    ("paging: {type: pages}", 7, "paging type must be one of"),
    ("object: Contact", 7, "'object' belongs to the salesforce preset"),
    ("limits: {timeout: 0}", 7, "timeout must be a number above 0, not 0"),
])
def test_rest_keys_are_checked_and_inline_secrets_refused(sources, auth, line, words):
    text = ("sources:\n  customers:\n    kind: rest\n    base_url: https://api.example.com\n"
            "    endpoint: /v1/contacts\n    records: data\n    " + auth + "\n")
    path = sources(text)
    with pytest.raises(ConfigError) as err:
        load_sources(path, get_settings().contracts_dir)
    assert str(err.value).startswith(f"{path}:{line}:")
    assert words in str(err.value)
    assert "abc123" not in str(err.value) and "hunter2" not in str(err.value)


def test_an_incremental_rest_source_fetches_only_changes_and_equals_a_full_sync(
        home, salesforce):
    """cursor + tombstone on a REST source: the second ingest asks the API only for what
    changed since the committed watermark, applies edits and deletions, and leaves the table
    a full rebuild (--full) would."""
    start, yaml = salesforce
    sf = start(300, batch=100)
    incremental = "    cursor: {column: modified_at}\n    tombstone: gone\n"

    def sources_file():
        path = yaml(sf, extra=incremental)
        path.write_text(path.read_text().replace(
            "country: MailingCountry}", "country: MailingCountry, modified_at: SystemModstamp}"))
        return path

    first = run_ingest(home, sources_file())
    assert first.tables["customers"].accepted == 300
    ids = sf.ids()
    sf.modify(ids[3], ids[4])
    sf.delete(ids[5])
    served = len(sf.requests)
    second = run_ingest(home, sources_file())
    soql = [q for q in sf.queries[-3:] if "q" in q]
    assert soql and "SystemModstamp >" in soql[-1]["q"][0]
    assert len(sf.requests) - served <= 3   # a token and one page: only the three changes
    assert second.tables["customers"].rows_in == 3
    table = read_table(home.canonical_dir / "customers.parquet")   # base and deltas
    emails = dict(zip(table["customer_id"], table["email"], strict=True))
    assert len(emails) == 299 and ids[5] not in emails
    assert emails[ids[3]].startswith("changed.") and emails[ids[4]].startswith("changed.")
    run_ingest(home, sources_file(), full=True)
    rebuilt = read_table(home.canonical_dir / "customers.parquet")
    assert sorted(zip(*rebuilt.values(), strict=True)) == sorted(zip(*table.values(), strict=True))


def read_table(base) -> dict:
    """A canonical table as its readers see it (segflow.canonical), as columns."""
    import duckdb

    return duckdb.sql(canonical.sql(base)).fetch_arrow_table().to_pydict()
