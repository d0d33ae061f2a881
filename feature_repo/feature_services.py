"""One feature service per consumer and version: training and scoring ask for a service by name,
never for a hand-written list of features. A changed feature set is a new version (`_v2`), so a
trained model keeps the exact features it was trained on."""

from feast import FeatureService
from feature_views import (
    customer_behaviour,
    customer_candidates,
    customer_profile,
    customer_scores,
)

OWNER = "marketing-data"

purchase_probability_v1 = FeatureService(
    name="purchase_probability_v1",
    features=[customer_profile, customer_behaviour],
    description="Purchase-probability model v1: every customer profile and behaviour feature.",
    owner=OWNER,
    tags={"model": "purchase_probability", "version": "1"},
)

ltv_v1 = FeatureService(
    name="ltv_v1",
    features=[
        customer_profile[["gender", "age_band", "region", "tenure_days", "acquisition_channel"]],
        customer_behaviour[
            [
                "sessions_30d",
                "sessions_90d",
                "product_views_90d",
                "add_to_carts_90d",
                "orders_30d",
                "orders_90d",
                "orders_to_date",
                "revenue_30d_krw",
                "revenue_90d_krw",
                "revenue_to_date_krw",
                "avg_order_value_krw",
                "days_since_last_visit",
                "days_since_last_order",
                "coupon_order_share",
                "app_session_share_90d",
                "favourite_category_share",
                "preferred_price_band",
            ]
        ],
    ],
    description="ZILN lifetime-value model v1: tenure, frequency, monetary value and recency.",
    owner=OWNER,
    tags={"model": "ltv", "version": "1"},
)

campaign_targeting_v1 = FeatureService(
    name="campaign_targeting_v1",
    features=[
        customer_profile,
        customer_behaviour[
            [
                "days_since_last_visit",
                "days_since_last_order",
                "days_since_last_touch",
                "sessions_30d",
                "orders_30d",
                "orders_90d",
                "revenue_90d_krw",
                "avg_order_value_krw",
                "coupon_order_share",
                "app_session_share_90d",
                "favourite_category_l1",
                "preferred_price_band",
            ]
        ],
    ],
    description=(
        "Campaign audiences v1: consent flags (who may be contacted, and at night), demographics, "
        "recency of visit/order/touch, value, coupon affinity, device, category and price band."
    ),
    owner=OWNER,
    tags={"consumer": "campaign_targeting", "version": "1"},
)

customer_scores_v1 = FeatureService(
    name="customer_scores_v1",
    features=[customer_scores],
    description="Model scores for segments and campaigns: p_buy, expected value and quantiles.",
    owner=OWNER,
    tags={"consumer": "segments", "version": "1"},
)

campaign_products_v1 = FeatureService(
    name="campaign_products_v1",
    features=[customer_candidates],
    description="Campaign exports: each customer's candidate product lists.",
    owner=OWNER,
    tags={"consumer": "campaigns", "version": "1"},
)
