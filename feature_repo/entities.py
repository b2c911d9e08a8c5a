"""Entities of the segflow feature repo: who features describe."""

from feast import Entity
from feast.value_type import ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A B2C customer (canonical customers.customer_id, after dedupe).",
    owner="crm-analytics@segflow.dev",
    tags={"domain": "b2c"},
)

account = Entity(
    name="account",
    join_keys=["account_id"],
    value_type=ValueType.STRING,
    description="A B2B top (parent) account; child accounts are rolled up into it.",
    owner="finance-analytics@segflow.dev",
    tags={"domain": "b2b"},
)
