"""Feature views over the daily snapshots. Every row describes a business date D from data up to
the end of D and carries `event_timestamp` = the moment D is complete, so a point-in-time join at
time t sees the last day that had ended by t.

TTLs: customer and seller snapshots are dense (one row every day), so 2 days is enough for any
as-of time inside the data and turns a stalled pipeline into nulls instead of stale values. Product
rows exist only on days with activity in the last 30 days (gold.feat_product__daily): a missing
day means "no recent activity", so the product TTL is 1 day and yesterday's row is never reused.
"""

from datetime import timedelta

from data_sources import (
    customer_candidates_source,
    customer_daily_source,
    customer_embedding_source,
    customer_scores_source,
    product_daily_source,
    product_embedding_source,
    seller_daily_source,
    seller_embedding_source,
)
from entities import customer, product, seller
from feast import FeatureView, Field
from feast.types import Array, Bool, Float32, Float64, Int32, String

OWNER = "marketing-data"
DENSE_TTL = timedelta(days=2)


def _counts(names: list[str], window: str) -> list[Field]:
    return [Field(name=f"{n}_{window}", dtype=Int32) for n in names]


def _view(
    name: str,
    entity,
    source,
    ttl: timedelta,
    schema: list[Field],
    description: str,
    tags: dict[str, str],
) -> FeatureView:
    """An online feature view of one entity, owned by the marketing data team."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=ttl,
        source=source,
        schema=schema,
        online=True,
        description=description,
        owner=OWNER,
        tags=tags,
    )


customer_profile = _view(
    "customer_profile",
    customer,
    customer_daily_source,
    DENSE_TTL,
    [
        Field(name="gender", dtype=String, description="F, M or U."),
        Field(name="age_band", dtype=String, description="under_20, 20s, 30s, 40s, 50_plus."),
        Field(name="region", dtype=String, description="Home region."),
        Field(name="tenure_days", dtype=Int32, description="Days since sign-up."),
        Field(name="has_marketing_consent", dtype=Bool, description="Marketing opt-in."),
        Field(name="has_night_consent", dtype=Bool, description="Night-time (21-08h) opt-in."),
        Field(name="acquisition_channel", dtype=String, description="Acquiring channel."),
    ],
    "Who the customer is: demographics, tenure, consent and acquisition channel.",
    {"entity": "customer", "theme": "profile", "dbt_model": "feat_customer__daily"},
)

_BEHAVIOUR_COUNTS = [
    "sessions",
    "page_views",
    "searches",
    "product_views",
    "bookmarks",
    "add_to_carts",
    "orders",
]

customer_behaviour = _view(
    "customer_behaviour",
    customer,
    customer_daily_source,
    DENSE_TTL,
    [
        field
        for window in ("7d", "30d", "90d")
        for field in [
            *_counts(_BEHAVIOUR_COUNTS, window),
            Field(name=f"session_minutes_{window}", dtype=Float64),
            Field(name=f"revenue_{window}_krw", dtype=Float64),
        ]
    ]
    + [
        Field(name="days_since_last_visit", dtype=Int32, description="Null: never visited."),
        Field(name="days_since_last_order", dtype=Int32, description="Null: never ordered."),
        Field(name="days_since_last_touch", dtype=Int32, description="Null: never touched."),
        Field(name="orders_to_date", dtype=Int32),
        Field(name="revenue_to_date_krw", dtype=Float64),
        Field(name="avg_order_value_krw", dtype=Float64),
        Field(name="coupon_order_share", dtype=Float64),
        Field(name="app_session_share_90d", dtype=Float64, description="Device mix: app share."),
        Field(name="favourite_category_l1", dtype=String),
        Field(name="favourite_category_share", dtype=Float64),
        Field(name="preferred_price_band", dtype=String),
    ],
    (
        "What the customer does: sessions, browsing, carts, orders and revenue over 7/30/90 days, "
        "recency, coupon use, device mix, category affinity, price band, average order value."
    ),
    {"entity": "customer", "theme": "behaviour", "dbt_model": "feat_customer__daily"},
)

_PRODUCT_COUNTS = ["views", "bookmarks", "add_to_carts", "orders", "units"]

product_performance = _view(
    "product_performance",
    product,
    product_daily_source,
    timedelta(days=1),
    [
        Field(name="seller_id", dtype=String),
        Field(name="category_l1", dtype=String),
        Field(name="category_l2", dtype=String),
        Field(name="style", dtype=String),
        Field(name="price_krw", dtype=Float64),
        Field(name="price_band", dtype=String),
        Field(name="age_days", dtype=Int32, description="Days since listing."),
        *_counts(_PRODUCT_COUNTS, "7d"),
        Field(name="revenue_7d_krw", dtype=Float64),
        *_counts(_PRODUCT_COUNTS, "30d"),
        Field(name="revenue_30d_krw", dtype=Float64),
        Field(name="conversion_rate_30d", dtype=Float64, description="orders / views, 30 days."),
        Field(name="popularity_rank_in_category", dtype=Int32, description="1 = most popular."),
    ],
    (
        "A product's listing (price, category, seller, age) and demand over 7/30 days: views, "
        "bookmarks, carts, orders, conversion and popularity rank in its category."
    ),
    {"entity": "product", "theme": "performance", "dbt_model": "feat_product__daily"},
)

seller_performance = _view(
    "seller_performance",
    seller,
    seller_daily_source,
    DENSE_TTL,
    [
        Field(name="style", dtype=String),
        Field(name="tenure_days", dtype=Int32),
        Field(name="live_products", dtype=Int32),
        Field(name="new_products_30d", dtype=Int32),
        Field(name="avg_price_krw", dtype=Float64),
        Field(name="views_7d", dtype=Int32),
        Field(name="views_30d", dtype=Int32),
        Field(name="bookmarks_30d", dtype=Int32),
        Field(name="orders_7d", dtype=Int32),
        Field(name="orders_30d", dtype=Int32),
        Field(name="units_30d", dtype=Int32),
        Field(name="gmv_7d_krw", dtype=Float64),
        Field(name="gmv_30d_krw", dtype=Float64),
        Field(name="conversion_rate_30d", dtype=Float64),
    ],
    (
        "A seller's catalogue (live and new products, average price) and sales over 7/30 days: "
        "views, bookmarks, orders, units, GMV and conversion."
    ),
    {"entity": "seller", "theme": "performance", "dbt_model": "feat_seller__daily"},
)

customer_scores = _view(
    # Scores are rewritten daily by the refresh and the models retrained weekly: 8 days covers a
    # missed week without serving scores older than the model's own retraining cycle.
    "customer_scores",
    customer,
    customer_scores_source,
    timedelta(days=8),
    [
        Field(name="p_buy", dtype=Float64, description="P(order within horizon_days)."),
        Field(name="expected_value_krw", dtype=Float64, description="ZILN expected spend."),
        Field(name="value_p10_krw", dtype=Float64),
        Field(name="value_p50_krw", dtype=Float64),
        Field(name="value_p90_krw", dtype=Float64),
        Field(name="horizon_days", dtype=Int32),
        Field(name="model_version", dtype=String),
        Field(
            name="p_buy_source",
            dtype=String,
            description="model, or baseline (RFM) while no purchase model has passed its check.",
        ),
        Field(
            name="value_source",
            dtype=String,
            description="model, or baseline (RFM) while no ZILN model has passed its check.",
        ),
    ],
    (
        "Model scores: purchase probability and ZILN expected spend with quantiles over the "
        "horizon, from the champion models, or the labelled RFM baseline while a model has not "
        "passed its check (gold.customer_scores)."
    ),
    {"entity": "customer", "theme": "scores", "asset": "gold/customer_scores"},
)


# The product axis (docs/products.md): rebuilt daily by gold/product_candidates, so 8 days of TTL
# covers a missed week without serving lists older than that.
PRODUCT_AXIS_TTL = timedelta(days=8)

customer_candidates = _view(
    "customer_candidates",
    customer,
    customer_candidates_source,
    PRODUCT_AXIS_TTL,
    [
        Field(name=f"{name}_product_ids", dtype=Array(String), description=what)
        for name, what in (
            ("rule_a", "Rule a: last product's category and style, the customer's sellers."),
            ("rule_b", "Rule b: the same from sellers similar to that product's seller."),
            ("rule_c", "Rule c: rule b in the customer's preferred price band."),
            ("affinity", "P(category) x P(seller | category) x P(product | seller): the best."),
            ("embedding", "Nearest products to the customer's embedding, x sqrt(popularity)."),
            ("popular", "Most popular in the customer's preferred category (baseline)."),
        )
    ],
    "Ten candidate product ids per customer and list, best first, topped up from "
    "the fallback (popular in category, then segment).",
    {"entity": "customer", "theme": "candidates", "asset": "gold/product_candidates"},
)


def _embedding_view(name: str, entity, source, what: str) -> FeatureView:
    schema = [Field(name="embedding", dtype=Array(Float32), description=what)]
    return _view(
        name,
        entity,
        source,
        PRODUCT_AXIS_TTL,
        schema,
        what,
        {"theme": "embedding", "asset": "gold/product_candidates"},
    )


customer_embedding = _embedding_view(
    "customer_embedding", customer, customer_embedding_source, "32-d customer embedding."
)
product_embedding = _embedding_view(
    "product_embedding", product, product_embedding_source, "32-d product embedding."
)
seller_embedding = _embedding_view(
    "seller_embedding", seller, seller_embedding_source, "32-d seller embedding."
)
