"""CRM contacts of the accounts world (canonical table ``customers`` with account_id).

Contacts come as a CRM export would: emails in odd case with stray spaces, phones in local
formats, a few non-emails, and some people entered twice under a new id (found again by
email or, when they changed email, by phone). The duplicates are recorded as truth.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.ingest.synthetic.arrays import choice, ids, pick, rank_within, repeat_index, timestamps
from segflow.ingest.synthetic.config import normalised, to_seconds
from segflow.ingest.synthetic.messy import local_phones, messy_emails

DAY = 86_400


def _phones(rng, cfg: dict, country: np.ndarray, serial: np.ndarray) -> pa.Array:
    """Unique E.164 numbers: the serial spread over the national number space."""
    out = np.empty(len(country), dtype=object)
    for iso, spec in cfg["phones"].items():   # a handful of countries, vectorised within
        mask = country == iso
        k = int(mask.sum())
        if not k:
            continue
        digits = (serial[mask] * 982_451_653 + 12_345) % 10 ** int(spec["digits"])
        lead = np.array(spec["lead"], dtype=object)[rng.integers(0, len(spec["lead"]), k)]
        local = pc.utf8_lpad(pc.cast(pa.array(digits), pa.string()), width=int(spec["digits"]),
                             padding="0")
        out[mask] = pc.binary_join_element_wise(
            "+" + str(spec["code"]), pa.array(lead, pa.string()), local, "").to_numpy(
            zero_copy_only=False)
    return pa.array(out, pa.string())


def _emails(cfg: dict, first: pa.Array, last: pa.Array, rank: np.ndarray, company: pa.Array,
            number: pa.Array) -> pa.Array:
    """first.last[rank]@<company><account number>.example.com, unique per contact."""
    suffix = pc.if_else(pa.array(rank > 0), pc.cast(pa.array(rank), pa.string()), "")
    local = pc.binary_join_element_wise(pc.utf8_lower(first), ".", pc.utf8_lower(last), suffix,
                                        "")
    slug = pc.replace_substring_regex(pc.utf8_lower(company), pattern="[^a-z0-9]", replacement="")
    return pc.binary_join_element_wise(local, "@", slug, number, ".example.com", "")


def _clean_contacts(rng, cfg: dict, acc, median_size: float) -> pa.Table:
    c = cfg["contacts"]
    end = to_seconds(cfg["window"]["end"])
    lam = float(c["per_account_mean"]) * (acc.size / median_size) ** 0.2
    owner = repeat_index(1 + rng.poisson(lam))
    n = len(owner)
    regions = list(cfg["regions"])
    region = acc.region[owner]
    cities = [cfg["regions"][r]["cities"] for r in regions]
    city = np.array([cs[0] for cs in cities], dtype=object)[region]
    second = np.array([cs[-1] for cs in cities], dtype=object)[region]
    city = np.where(rng.random(n) < 0.5, city, second)
    country = np.array([cfg["regions"][r]["country"] for r in regions], dtype=object)[region]
    first = pick(c["first_names"], rng.integers(0, len(c["first_names"]), n))
    last = pick(c["last_names"], rng.integers(0, len(c["last_names"]), n))
    acc_ids = acc.table["account_id"]
    company = pc.list_element(pc.split_pattern(acc.table["name"], " - "), 0).take(pa.array(owner))
    number = pc.utf8_slice_codeunits(acc_ids, 1).take(pa.array(owner))
    created = acc.created[owner]
    languages, p_lang = normalised(c["languages"])
    table = {
        "customer_id": ids("C", np.arange(1, n + 1), 8),
        "account_id": acc_ids.take(pa.array(owner)),
        "parent_account_id": acc.table["parent_account_id"].take(pa.array(owner)),
        "email": _emails(cfg, first, last, rank_within(owner), company, number),
        "phone": _phones(rng, cfg, country, np.arange(n)),
        "name": pc.binary_join_element_wise(first, last, " "),
        "signup_ts": timestamps(created + ((end - created) * rng.random(n) ** 2 // DAY) * DAY),
        "region": pick(regions, region),
        "country": pa.array(country, pa.string()),
        "city": pa.array(city, pa.string()),
        "preferred_language": pick(languages, choice(rng, p_lang, n)),
    }
    for flag in ("consent_email", "consent_sms", "consent_push", "consent_ads",
                 "onboarding_completed"):
        table[flag] = pa.array(rng.random(n) < float(c[flag]))
    return pa.table(table)


def _duplicates(rng, m: dict, clean: pa.Table, end: int) -> tuple[pa.Table, pa.Table]:
    """Second records of some contacts: new id, later signup, messy or new email."""
    n = clean.num_rows
    k = int(round(n * float(m["duplicate_share"])))
    idx = np.sort(rng.choice(n, size=k, replace=False))
    dup = clean.take(pa.array(idx))
    new_ids = ids("C", np.arange(n + 1, n + k + 1), 8)
    signup = pc.cast(dup["signup_ts"], pa.int64()).to_numpy() // 1_000_000
    later = np.minimum(signup + rng.integers(1, 200, k) * DAY, end - DAY)
    new_email = pc.replace_substring_regex(dup["email"], pattern=r"@(.*)\.example\.com$",
                                           replacement=r".\1@personal.example.net")
    email = pc.if_else(pa.array(rng.random(k) < float(m["duplicate_new_email_share"])),
                       new_email, messy_emails(rng, m, dup["email"], force=True))
    dup = dup.set_column(0, "customer_id", new_ids)
    dup = dup.set_column(dup.schema.get_field_index("signup_ts"), "signup_ts", timestamps(later))
    dup = dup.set_column(dup.schema.get_field_index("email"), "email", email)
    truth = pa.table({"customer_id": new_ids, "duplicate_of": clean["customer_id"].take(
        pa.array(idx))})
    return dup, truth


def contacts(rng, cfg: dict, acc, median_size: float) -> tuple[pa.Table, pa.Table]:
    """(messy contacts as the CRM exports them, truth: duplicate customer_id -> original)."""
    m = cfg["messy"]
    clean = _clean_contacts(rng, cfg, acc, median_size)
    dup, truth = _duplicates(rng, m, clean, to_seconds(cfg["window"]["end"]))
    table = pa.concat_tables([clean, dup])
    email = messy_emails(rng, m, table["email"].combine_chunks())
    bad = rng.random(table.num_rows) < float(m["invalid_email_share"])
    junk = pick(m["invalid_emails"], rng.integers(0, len(m["invalid_emails"]),
                                                  table.num_rows))
    email = pc.if_else(pa.array(bad), junk, email)
    phone = local_phones(rng, m, table["phone"].combine_chunks(),
                         table["country"].combine_chunks(), float(m["phone_local_share"]))
    table = table.set_column(table.schema.get_field_index("email"), "email", email)
    table = table.set_column(table.schema.get_field_index("phone"), "phone", phone)
    return table, truth


def email_events(rng, cfg: dict, people: pa.Table) -> pa.Table:
    """Email engagement of the contacts (canonical ``engagement_events``), as a B2B
    marketing-automation export gives it: sends over the last ``days``, opens and clicks
    of some sends, and the contacts who unsubscribed or complained, whose addresses the
    channel exports must leave out (``exports.channel_events`` / ``global_events``)."""
    e = cfg["email_events"]
    end = to_seconds(cfg["window"]["end"])
    owner = repeat_index(rng.poisson(float(e["sends_per_contact"]), people.num_rows))
    n = len(owner)
    sent = end - rng.integers(1, int(e["days"]) * DAY, n)
    opened = rng.random(n) < float(e["open_share"])
    clicked = opened & (rng.random(n) < float(e["click_share_of_opens"]))
    contacts = np.arange(people.num_rows)
    left = {kind: contacts[rng.random(people.num_rows) < float(e[f"{kind}_share"])]
            for kind in ("unsubscribe", "complaint")}
    who = np.concatenate([owner, owner[opened], owner[clicked], *left.values()])
    when = np.concatenate([sent, sent[opened] + 3_600, sent[clicked] + 3_660,
                           *(end - rng.integers(1, int(e["days"]) * DAY, len(v))
                             for v in left.values())])
    kinds = ["send"] * n + ["open"] * int(opened.sum()) + ["click"] * int(clicked.sum()) + [
        k for k, v in left.items() for _ in range(len(v))]
    order = np.lexsort((np.arange(len(who)), when))
    return pa.table({
        "event_id": ids("M", np.arange(1, len(who) + 1), 9),
        "customer_id": people["customer_id"].take(pa.array(who[order])),
        "event_ts": timestamps(np.minimum(when[order], end - 60)),
        "channel": pa.array(["email"] * len(who), pa.string()),
        "event_type": pa.array(kinds, pa.string()).take(pa.array(order)),
    })
