"""Who the features describe: one entity per kind of thing a segment is made of.

CHANGE: rename the owner; add an entity if you segment something other than customers."""

from feast import Entity
from feast.value_type import ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A customer (canonical customers.customer_id, after duplicates are merged).",
    owner="analytics@example.com",
)
