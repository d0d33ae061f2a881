"""Category preference per customer, by one of two methods (PreferenceConfig.method):

- `bayes` (default): each customer's category shares have a Dirichlet prior centred on their
  demographic cell's shares (age band x gender, itself shrunk towards the population), with a
  strength estimated from the data by Dirichlet-multinomial maximum likelihood; the customer's
  purchased lines (and product views, at a lower weight) update it. The index is the posterior
  mean share in percent, with a credible interval from the Dirichlet's Beta marginals.
- `seed`: the retail-data competition's method: P(category | customer) proportional to the
  customer's own purchases (add-one smoothed) times P(age band | category) x P(gender |
  category) from everyone's purchases; then log, shifted so the table's minimum is 1 and scaled
  so its maximum is 100.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.optimize import minimize_scalar
from scipy.special import gammaln
from scipy.stats import beta

from dagster_project.lib.segments.config import PreferenceConfig

UNKNOWN = "unknown"
METHODS = ("bayes", "seed")
PRIORS = ("cell", "population")
COLUMNS = (
    "customer_id",
    "category_l1",
    "purchases",
    "views",
    "posterior",
    "posterior_low",
    "posterior_high",
    "preference_index",
    "rank",
)
# Dirichlet strengths are searched in [STRENGTH_MIN, STRENGTH_MAX] (pseudo purchases).
STRENGTH_MIN, STRENGTH_MAX = 1e-2, 1e5


def preference_index(
    purchases: pl.DataFrame,
    customers: pl.DataFrame,
    categories: list[str] | None = None,
    cfg: PreferenceConfig | None = None,
    views: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`purchases`: one row per purchased order line (customer_id, category_l1); `customers`:
    customer_id, age_band, gender (nulls count as 'unknown'); `views`: optional, one row per
    product view (customer_id, category_l1), used by the bayes method. Returns one row per
    customer and category: purchases, views, posterior (the customer's preference share, sums
    to 1 per customer), posterior_low / posterior_high (credible interval; bayes only),
    preference_index (0-100) and rank (1 = the customer's top category)."""
    cfg = cfg or PreferenceConfig()
    if cfg.method not in METHODS:
        raise ValueError(f"preference.method must be one of {METHODS}, got {cfg.method!r}")
    lines = purchases.filter(pl.col("category_l1").is_not_null())
    cats = sorted(categories or lines["category_l1"].unique().to_list())
    if not cats:
        raise ValueError("no categories: the preference index needs products with category_l1")
    people = customers.select(
        "customer_id",
        pl.col("age_band").fill_null(UNKNOWN),
        pl.col("gender").fill_null(UNKNOWN),
    ).sort("customer_id")
    seen = (views if views is not None else lines.clear()).filter(
        pl.col("category_l1").is_not_null()
    )
    counts = _counts(people, lines, cats, "purchases").join(
        _counts(people, seen, cats, "views"), on=["customer_id", "category_l1"]
    )
    if cfg.method == "seed":
        scored = _seed(counts, lines, people, cats, cfg)
    else:
        scored = _bayes(counts, people, cats, cfg)
    return (
        scored.with_columns(
            rank=pl.col("posterior")
            .rank("ordinal", descending=True)
            .over("customer_id")
            .cast(pl.Int32)
        )
        .select(COLUMNS)
        .sort("customer_id", "rank")
    )


def _counts(people: pl.DataFrame, rows: pl.DataFrame, cats: list[str], name: str):
    """Every customer x category (customers sorted, then categories), with the count of rows."""
    own = rows.group_by("customer_id", "category_l1").agg(pl.len().cast(pl.Int64).alias(name))
    return (
        people.select("customer_id")
        .join(pl.DataFrame({"category_l1": cats}), how="cross")
        .join(own, on=["customer_id", "category_l1"], how="left")
        .with_columns(pl.col(name).fill_null(0))
    )


def _matrix(grid: pl.DataFrame, column: str, k: int) -> np.ndarray:
    """A customers x categories matrix from a grid in customer-then-category order."""
    return grid[column].to_numpy().astype(np.float64).reshape(-1, k)


# ---- bayes --------------------------------------------------------------------------------


def _bayes(counts: pl.DataFrame, people: pl.DataFrame, cats: list[str], cfg: PreferenceConfig):
    if cfg.prior not in PRIORS:
        raise ValueError(f"preference.prior must be one of {PRIORS}, got {cfg.prior!r}")
    if not 0 < cfg.credible_level < 1 or cfg.view_weight < 0:
        raise ValueError(
            "preference.credible_level must be in (0, 1) and preference.view_weight >= 0, got"
            f" {cfg.credible_level} and {cfg.view_weight}"
        )
    k = len(cats)
    bought = _matrix(counts, "purchases", k)
    viewed = _matrix(counts, "views", k)
    if cfg.prior == "cell":
        cell = (
            people.select(pl.concat_str("age_band", "gender", separator="|").rank("dense"))
            .to_series()
            .to_numpy()
            .astype(np.int64)
            - 1
        )
    else:
        cell = np.zeros(people.height, dtype=np.int64)
    means = cell_means(bought, cell)
    strength = dirichlet_multinomial_strength(bought, means[cell])
    alpha = strength * means[cell] + bought + cfg.view_weight * viewed
    total = alpha.sum(axis=1, keepdims=True)
    tail = (1.0 - cfg.credible_level) / 2.0
    rest = total - alpha
    return counts.with_columns(
        posterior=(alpha / total).ravel(),
        posterior_low=beta.ppf(tail, alpha, rest).ravel(),
        posterior_high=beta.ppf(1.0 - tail, alpha, rest).ravel(),
    ).with_columns(preference_index=100.0 * pl.col("posterior"))


def cell_means(bought: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """cells x categories: each cell's purchase shares, shrunk towards the population's (add-one
    smoothed) with a strength estimated by Dirichlet-multinomial maximum likelihood over the
    cells' pooled purchases, so a small cell leans on the population."""
    k = bought.shape[1]
    pooled = np.zeros((cell.max() + 1, k))
    np.add.at(pooled, cell, bought)
    population = (pooled.sum(axis=0) + 1.0) / (pooled.sum() + k)
    b = dirichlet_multinomial_strength(pooled, np.broadcast_to(population, pooled.shape))
    return (pooled + b * population) / (pooled.sum(axis=1, keepdims=True) + b)


def dirichlet_multinomial_strength(counts: np.ndarray, means: np.ndarray) -> float:
    """Maximum-likelihood strength A of Dirichlet(A x means) priors, row by row, given each
    row's multinomial counts (the Dirichlet-multinomial likelihood; rows without counts carry
    no information). Large A: everyone near their mean; small A: strong own preferences."""
    rows = counts.sum(axis=1) > 0
    x, m = counts[rows], means[rows]
    n = x.sum(axis=1)
    if rows.sum() < 2:
        return float(counts.shape[1])  # nothing to estimate from: as strong as one line each

    def minus_log_likelihood(log_a: float) -> float:
        a = np.exp(log_a)
        per_row = gammaln(a) - gammaln(a + n) + (gammaln(a * m + x) - gammaln(a * m)).sum(axis=1)
        return -float(per_row.sum())

    found = minimize_scalar(
        minus_log_likelihood,
        bounds=(np.log(STRENGTH_MIN), np.log(STRENGTH_MAX)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


# ---- seed ---------------------------------------------------------------------------------


def _seed(
    counts: pl.DataFrame,
    lines: pl.DataFrame,
    people: pl.DataFrame,
    cats: list[str],
    cfg: PreferenceConfig,
) -> pl.DataFrame:
    a, s = cfg.prior_smoothing, cfg.likelihood_smoothing
    cat_frame = pl.DataFrame({"category_l1": cats})
    # P(attribute value | category), add-one smoothed over the attribute's observed levels.
    bought = lines.join(people, on="customer_id", how="left").with_columns(
        pl.col("age_band", "gender").fill_null(UNKNOWN)
    )
    likelihood = cat_frame
    for attr in ("age_band", "gender"):
        levels = people.select(attr).unique()
        per_level = bought.group_by("category_l1", attr).agg(n=pl.len())
        per_cat = bought.group_by("category_l1").agg(total=pl.len())
        table = (
            cat_frame.join(levels, how="cross")
            .join(per_level, on=["category_l1", attr], how="left")
            .join(per_cat, on="category_l1", how="left")
            .with_columns(pl.col("n", "total").fill_null(0))
            .with_columns(
                ((pl.col("n") + s) / (pl.col("total") + s * levels.height)).alias(f"p_{attr}")
            )
            .select("category_l1", attr, f"p_{attr}")
        )
        likelihood = likelihood.join(table, on="category_l1")

    grid = (
        counts.join(people, on="customer_id")
        .join(likelihood, on=["category_l1", "age_band", "gender"], how="left")
        .with_columns(
            prior=(pl.col("purchases") + a)
            / (pl.col("purchases").sum().over("customer_id") + a * len(cats)),
            likelihood=pl.col("p_age_band") * pl.col("p_gender"),
        )
        .with_columns(joint=pl.col("prior") * pl.col("likelihood"))
        .with_columns(posterior=pl.col("joint") / pl.col("joint").sum().over("customer_id"))
        .with_columns(log_posterior=pl.col("posterior").log())
    )
    shifted = pl.col("log_posterior") - pl.col("log_posterior").min() + 1.0
    return grid.with_columns(
        preference_index=100.0 * shifted / shifted.max(),
        posterior_low=pl.lit(None, pl.Float64),
        posterior_high=pl.lit(None, pl.Float64),
    )


# ---- reading and checking -----------------------------------------------------------------


def product_views(events: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """One row per product view (customer_id, category_l1) from events (event_type 'view')."""
    return (
        events.filter(pl.col("event_type") == "view")
        .join(products.select("product_id", "category_l1"), on="product_id")
        .select("customer_id", "category_l1")
        .drop_nulls()
    )


def top_categories(index: pl.DataFrame) -> pl.DataFrame:
    """Each customer's top category and its index."""
    return index.filter(pl.col("rank") == 1).select(
        "customer_id",
        top_category=pl.col("category_l1"),
        top_category_index=pl.col("preference_index"),
    )


def popularity_ranking(index: pl.DataFrame) -> pl.DataFrame:
    """The naive baseline over the same customers: everyone ranks the categories by how many
    lines were bought in each overall (customer_id, category_l1, purchases, rank)."""
    popular = (
        index.group_by("category_l1")
        .agg(pl.col("purchases").sum())
        .sort(pl.col("purchases"), pl.col("category_l1"), descending=[True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32))
    )
    return index.select("customer_id", "category_l1", "purchases").join(
        popular.select("category_l1", "rank"), on="category_l1"
    )


def top_k_accuracy(index: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Against each customer's true preferred category (truth: customer_id,
    preferred_category): the share whose true category is ranked first (top 1) and within the
    first three (top 3), for buyers (at least one purchased line), non-buyers and all."""
    scored = (
        index.join(truth.select("customer_id", "preferred_category"), on="customer_id")
        .group_by("customer_id")
        .agg(
            buyer=pl.col("purchases").sum() > 0,
            true_rank=pl.col("rank").filter(pl.col("category_l1") == pl.col("preferred_category")),
        )
        .with_columns(pl.col("true_rank").list.first())
    )
    per_group = scored.with_columns(
        group=pl.when("buyer").then(pl.lit("buyers")).otherwise(pl.lit("non_buyers"))
    )
    parts = pl.concat([per_group, scored.with_columns(group=pl.lit("all"))])
    return (
        parts.group_by("group")
        .agg(
            customers=pl.len(),
            # A true category the table does not rank counts as a miss.
            top1=(pl.col("true_rank") == 1).fill_null(False).mean(),
            top3=(pl.col("true_rank") <= 3).fill_null(False).mean(),
        )
        .sort(pl.col("group").replace_strict({"buyers": 0, "non_buyers": 1, "all": 2}))
    )
