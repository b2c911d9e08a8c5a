"""Feature services of the customer (B2C) use cases: the named feature sets each model and use
case reads, so a training run records exactly which features it used and scoring asks for
the same ones. The account services are in services_accounts.py."""

from customer_engagement import customer_engagement
from customer_festival_buyer import customer_festival_buyer
from customer_profile import customer_profile
from customer_region_language import customer_region_language
from customer_rfm import customer_rfm
from feast import FeatureService

holi_propensity = FeatureService(
    name="holi_propensity",
    description="Features of the Holi purchase propensity model.",
    owner="data-science@segflow.dev",
    tags={"model": "holi_propensity"},
    features=[
        customer_profile[["is_diaspora", "tenure_days", "consent_email", "consent_sms",
                          "consent_push", "onboarding_completed"]],
        customer_rfm,
        customer_festival_buyer,
        customer_engagement,
        customer_region_language[["region_language_cluster"]],
    ],
)

flash_sale_uplift = FeatureService(
    name="flash_sale_uplift",
    description="Features of the flash-sale uplift (treatment effect) model.",
    owner="data-science@segflow.dev",
    tags={"model": "flash_sale_uplift"},
    features=[
        customer_profile[["is_diaspora", "tenure_days", "onboarding_completed"]],
        customer_rfm,
        customer_festival_buyer[["festival_orders_365d", "festival_spend_365d",
                                 "holi_buyer_last_year", "festival_purchase_score"]],
        customer_engagement,
    ],
)

behaviour_clusters = FeatureService(
    name="behaviour_clusters",
    description="Numeric behaviour features the clustering model groups customers by.",
    owner="data-science@segflow.dev",
    tags={"model": "behaviour_clusters"},
    features=[
        customer_rfm[["recency_days", "frequency_365d", "monetary_365d", "aov"]],
        customer_festival_buyer[["festival_orders_365d", "festival_purchase_score"]],
        customer_engagement[["engagement_score", "app_sessions_30d",
                             "days_since_last_activity"]],
    ],
)

customer_segmentation = FeatureService(
    name="customer_segmentation",
    description="Every customer feature: what segment templates and the scored frame read.",
    owner="crm-analytics@segflow.dev",
    tags={"use": "segmentation"},
    features=[customer_profile, customer_rfm, customer_festival_buyer, customer_engagement,
              customer_region_language],
)
