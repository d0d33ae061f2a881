"""Category preference index per customer (the retail-data competition's method):
P(category | customer) proportional to the prior from the customer's own purchases (add-one
smoothed, so a customer without purchases still gets an answer) times P(age band | category) x
P(gender | category) estimated from everyone's purchases; then log, shifted so the minimum over
the table is 1 and scaled so the maximum is 100."""

from __future__ import annotations

import polars as pl

from dagster_project.lib.segments.config import PreferenceConfig

UNKNOWN = "unknown"


def preference_index(
    purchases: pl.DataFrame,
    customers: pl.DataFrame,
    categories: list[str] | None = None,
    cfg: PreferenceConfig | None = None,
) -> pl.DataFrame:
    """`purchases`: one row per purchased order line (customer_id, category_l1); `customers`:
    customer_id, age_band, gender (nulls count as 'unknown'). Returns one row per customer and
    category: purchases, prior, likelihood, posterior (sums to 1 per customer), preference_index
    (0-100) and rank (1 = the customer's top category)."""
    cfg = cfg or PreferenceConfig()
    a, s = cfg.prior_smoothing, cfg.likelihood_smoothing
    lines = purchases.filter(pl.col("category_l1").is_not_null())
    cats = sorted(categories or lines["category_l1"].unique().to_list())
    if not cats:
        raise ValueError("no categories: the preference index needs products with category_l1")
    people = customers.select(
        "customer_id",
        pl.col("age_band").fill_null(UNKNOWN),
        pl.col("gender").fill_null(UNKNOWN),
    )
    cat_frame = pl.DataFrame({"category_l1": cats})

    # P(attribute value | category), add-one smoothed over the attribute's observed levels.
    bought = lines.join(people, on="customer_id", how="left").with_columns(
        pl.col("age_band", "gender").fill_null(UNKNOWN)
    )
    likelihood = cat_frame
    for attr in ("age_band", "gender"):
        levels = people.select(attr).unique()
        counts = bought.group_by("category_l1", attr).agg(n=pl.len())
        per_cat = bought.group_by("category_l1").agg(total=pl.len())
        table = (
            cat_frame.join(levels, how="cross")
            .join(counts, on=["category_l1", attr], how="left")
            .join(per_cat, on="category_l1", how="left")
            .with_columns(pl.col("n", "total").fill_null(0))
            .with_columns(
                ((pl.col("n") + s) / (pl.col("total") + s * levels.height)).alias(f"p_{attr}")
            )
            .select("category_l1", attr, f"p_{attr}")
        )
        likelihood = likelihood.join(table, on="category_l1")

    own = lines.group_by("customer_id", "category_l1").agg(purchases=pl.len().cast(pl.Int64))
    grid = (
        people.join(cat_frame, how="cross")
        .join(own, on=["customer_id", "category_l1"], how="left")
        .with_columns(pl.col("purchases").fill_null(0))
        .join(likelihood, on=["category_l1", "age_band", "gender"], how="left")
        .with_columns(
            prior=(pl.col("purchases") + a)
            / (pl.col("purchases").sum().over("customer_id") + a * len(cats)),
            likelihood=pl.col("p_age_band") * pl.col("p_gender"),
        )
        .with_columns(joint=pl.col("prior") * pl.col("likelihood"))
        .with_columns(posterior=pl.col("joint") / pl.col("joint").sum().over("customer_id"))
        .with_columns(log_posterior=pl.col("posterior").log())
        .sort("customer_id", "category_l1")
    )
    shifted = pl.col("log_posterior") - pl.col("log_posterior").min() + 1.0
    return (
        grid.with_columns(preference_index=100.0 * shifted / shifted.max())
        .with_columns(
            rank=pl.col("posterior")
            .rank("ordinal", descending=True)
            .over("customer_id")
            .cast(pl.Int32)
        )
        .select(
            "customer_id",
            "category_l1",
            "purchases",
            "prior",
            "likelihood",
            "posterior",
            "preference_index",
            "rank",
        )
        .sort("customer_id", "rank")
    )


def top_categories(index: pl.DataFrame) -> pl.DataFrame:
    """Each customer's top category and its index."""
    return index.filter(pl.col("rank") == 1).select(
        "customer_id",
        top_category=pl.col("category_l1"),
        top_category_index=pl.col("preference_index"),
    )
