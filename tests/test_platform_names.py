"""No Holi in the platform: the platform packages name no column, table or date of the demo
worlds in their code (comments and docstrings may use them as examples). Everything a
business decides lives in its project; the demo generators and demo runners are exempt."""

from __future__ import annotations

import io
import re
import tokenize

from holi_project import ROOT

PLATFORM = ("segflow", "ingest", "training", "scoring", "governance", "monitoring", "flows")
DEMO_CODE = {  # the worked examples themselves: they name their worlds by design
    "ingest/synthetic",          # the synthetic worlds' generators
    "segflow/starters",          # the starter projects (package data)
    "segflow/commands/demo.py",  # `segflow demo holi|accounts`
    "segflow/commands/data.py",  # `segflow demo-data holi|accounts`
    "flows/demo.py",             # the demo plans
}
NAMES = ("holi", "diwali", "festival", "flash_sale", "region_zone", "region_language",
         "language_group", "preferred_language", "is_diaspora", "amount_inr",
         "engagement_score", "monetary_365d", "recency_days", "frequency_365d",
         "lifetime_spend", "revenue_4q", "margin_pct", "revenue_growth_yoy",
         "campaign_outcomes", "engagement_events", "survey_responses", "support_tickets",
         "product_usage", "account_notes", "billing")
PATTERN = re.compile(r"\b(?:" + "|".join(NAMES) + r")\b|\b202[5-7]-\d\d(?:-\d\d)?\b", re.I)


def _code_tokens(text: str):
    """(line, text) of every name and string token that is not a comment or docstring."""
    previous = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        docstring = tok.type == tokenize.STRING and previous in (
            tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)
        if tok.type in (tokenize.NAME, tokenize.STRING) and not docstring:
            yield tok.start[0], tok.string
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            previous = tok.type


def offenders() -> list[str]:
    found = []
    for package in PLATFORM:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel == d or rel.startswith(d + "/") for d in DEMO_CODE):
                continue
            for line, text in _code_tokens(path.read_text(encoding="utf-8")):
                for match in PATTERN.finditer(text):
                    found.append(f"{rel}:{line}: {match.group(0)}")
    return found


def test_the_platform_names_no_demo_column_table_or_date():
    found = offenders()
    assert found == [], "platform code names a demo column, table or date:\n" + "\n".join(found)


def test_the_scan_finds_a_demo_name_in_code_but_not_in_a_comment():
    text = '"""Docstring: holi_propensity."""\n# region_zone\nx = "amount_inr"\n'
    assert [t for _, t in _code_tokens(text) if PATTERN.search(t)] == ['"amount_inr"']
