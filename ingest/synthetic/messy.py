"""Turn clean canonical chunks into realistic source files, with the mess recorded as truth.

Planted: emails in odd case and with stray spaces, phones in local formats, duplicate people
under new customer ids (owning part of their orders), and a few bad rows appended to
customers, orders and engagement events. Bad rows are extra copies, so quarantining them
leaves the clean world intact; each one is listed in the ``planted`` table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segflow.ingest.synthetic.arrays import ids
from segflow.ingest.synthetic.config import DAY

PLANTED_SCHEMA = pa.schema([("table", pa.string()), ("source_row", pa.int64()),
                            ("key", pa.string()), ("kind", pa.string())])
BAD_ORDER_KINDS = ["missing_key", "bad_date", "negative_quantity", "unknown_currency"]


def messy_emails(rng, m: dict, email: pa.Array, force: bool = False) -> pa.Array:
    """Upper-case some emails and pad others with spaces; ``force`` messes every one."""
    u = rng.random(len(email))
    upper_cut = 0.5 if force else float(m["email_upper_share"])
    space_cut = 1.0 if force else upper_cut + float(m["email_space_share"])
    spaced = pc.binary_join_element_wise(" ", email, "  ", "")
    out = pc.if_else(pa.array(u < upper_cut), pc.utf8_upper(email), email)
    return pc.if_else(pa.array((u >= upper_cut) & (u < space_cut)), spaced, out)


def local_phones(rng, m: dict, phone: pa.Array, country: pa.Array, share: float) -> pa.Array:
    """Rewrite a share of E.164 phones in a local format of their country (regex in YAML)."""
    u, variant_u = rng.random(len(phone)), rng.random(len(phone))
    chosen = u < share
    iso = country.to_numpy(zero_copy_only=False)
    out = phone
    for code, formats in m["phone_formats"].items():  # a few regex passes, no row loop
        variant = (variant_u * len(formats)).astype(np.int64)
        for k, (pattern, replacement) in enumerate(formats):
            mask = chosen & (iso == code) & (variant == k)
            if mask.any():
                local = pc.replace_substring_regex(phone, pattern=pattern,
                                                   replacement=replacement)
                out = pc.if_else(pa.array(mask), local, out)
    return out


def duplicates(rng, m: dict, customers: pa.Table, first_number: int,
               end: int) -> tuple[pa.Table, pa.Table]:
    """Second records of some people: new id, messy email, local phone, later sign-up."""
    n = customers.num_rows
    k = int(round(n * float(m["duplicate_share"])))
    idx = np.sort(rng.choice(n, size=k, replace=False))
    dup = customers.take(pa.array(idx))
    new_ids = ids("C", np.arange(first_number, first_number + k), 8)
    signup = pc.cast(dup["signup_ts"], pa.int64()).to_numpy() // 1_000_000
    later = np.minimum(signup + ((1 + 200 * rng.random(k)) * DAY).astype(np.int64), end - 1)
    dup = dup.set_column(0, "customer_id", new_ids)
    dup = dup.set_column(dup.schema.get_field_index("email"), "email",
                         messy_emails(rng, m, dup["email"].combine_chunks(), force=True))
    dup = dup.set_column(dup.schema.get_field_index("phone"), "phone",
                         local_phones(rng, m, dup["phone"].combine_chunks(),
                                      dup["country"].combine_chunks(), 1.0))
    dup = dup.set_column(dup.schema.get_field_index("signup_ts"), "signup_ts",
                         pa.array(later * 1_000_000).cast(customers.schema.field("signup_ts").type))
    mapping = pa.table({"duplicate_id": new_ids,
                        "customer_id": customers["customer_id"].take(pa.array(idx))})
    return dup, mapping


def move_orders(rng, m: dict, orders: pa.Table, billing: pa.Table,
                mapping: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Give part of each duplicated person's orders (and their invoices) to the new id.

    Invoices share the order's digits ("O0000000100012" -> "I0000000100012"), which is how
    billing follows the move.
    """
    if mapping.num_rows == 0:
        return orders, billing
    pos = pc.index_in(orders["customer_id"], value_set=mapping["customer_id"])
    move = pc.and_(pc.is_valid(pos), pa.array(rng.random(orders.num_rows)
                                              < float(m["duplicate_orders_share"])))
    new_owner = mapping["duplicate_id"].take(pc.fill_null(pos, 0))
    owner = pc.if_else(move, new_owner, orders["customer_id"])
    orders = orders.set_column(orders.schema.get_field_index("customer_id"), "customer_id", owner)
    moved_digits = pc.utf8_slice_codeunits(pc.filter(orders["order_id"], move), start=1)
    if len(moved_digits) == 0:
        return orders, billing
    inv_pos = pc.index_in(pc.utf8_slice_codeunits(billing["invoice_id"], start=1),
                          value_set=moved_digits)
    new_account = pc.filter(owner, move).take(pc.fill_null(inv_pos, 0))
    account = pc.if_else(pc.is_valid(inv_pos), new_account, billing["account_id"])
    billing = billing.set_column(billing.schema.get_field_index("account_id"), "account_id",
                                 account)
    return orders, billing
