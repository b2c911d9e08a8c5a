"""Helpers for ingest tests: write tiny source files and a sources.yaml beside them."""

from __future__ import annotations

import textwrap

import pytest

CUSTOMER_HEADER = ("customer_id,email,phone,name,signup_ts,region,country,city,"
                   "preferred_language,consent_email,consent_sms,consent_push,consent_ads,"
                   "onboarding_completed")


def _customer_row(cid, email="", phone="", signup="2025-01-01", country="IN"):
    region = {"IN": "Maharashtra", "GB": "United Kingdom", "US": "United States"}[country]
    return (f"{cid},{email},{phone},Name {cid},{signup},{region},{country},City,english,"
            "true,false,true,false,true")


@pytest.fixture
def customers_csv():
    """customers.csv text from rows of (customer_id, email, phone, signup, country)."""
    def build(*rows) -> str:
        return "\n".join([CUSTOMER_HEADER, *(_customer_row(*r) for r in rows)]) + "\n"

    return build


@pytest.fixture
def sources(tmp_path):
    """Write files (name -> text) and a sources.yaml (YAML text); return the yaml's path."""
    folder = tmp_path / "sources"
    folder.mkdir()

    def write(yaml_text: str, **files: str):
        for name, text in files.items():
            (folder / name.replace("__", ".")).write_text(textwrap.dedent(text).lstrip(),
                                                          encoding="utf-8")
        path = folder / "sources.yaml"
        path.write_text(textwrap.dedent(yaml_text).lstrip(), encoding="utf-8")
        return path

    return write


ORDERS_HEADER = ("order_id,customer_id,order_ts,amount,currency,quantity,category,festival,"
                 "channel,status")
CUSTOMERS_AND_ORDERS = """
sources:
  customers: {kind: csv, path: customers.csv}
  orders: {kind: csv, path: orders.csv}
"""


@pytest.fixture
def orders_sources(sources, customers_csv):
    """Customer C1 (a@x.com) and the given order rows as CSV; returns sources.yaml's path."""
    def write(*rows: str):
        return sources(CUSTOMERS_AND_ORDERS, customers__csv=customers_csv(("C1", "a@x.com")),
                       orders__csv="\n".join([ORDERS_HEADER, *rows]) + "\n")

    return write
