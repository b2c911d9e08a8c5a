"""Feature services of the account (B2B) use cases: the quarterly account-tier refresh."""

from account_flags import account_flags
from account_growth import account_growth
from account_product_mix import account_product_mix
from account_revenue import account_revenue
from account_tenure import account_tenure
from feast import FeatureService

account_tiering = FeatureService(
    name="account_tiering",
    description="Every account feature: the quarterly account-tier refresh.",
    owner="finance-analytics@segflow.dev",
    tags={"use": "tiering"},
    features=[account_revenue, account_product_mix, account_tenure, account_growth,
              account_flags],
)
