"""Did a campaign change anything? Treatment vs holdout within each campaign's response window
(gold.fct_campaign_sends: one row per assignment, outcomes already windowed).

Per campaign and metric (conversion = ordered at least once in the window; revenue per
customer): treatment and holdout means, their difference with a Welch t confidence interval, the
ratio with a delta-method interval on the log scale, and Welch's two-sided p-value
(scipy.stats.ttest_ind_from_stats). The verdict uses conversion: p-values are adjusted across the
campaigns in the report with Holm's step-down method, which bounds the chance of calling ANY
zero-effect campaign effective by alpha. With dozens of campaigns an unadjusted 5 % test passes
a few zero-effect ones by chance, and Benjamini-Hochberg (false-discovery control) still let one
zero-effect push through in a simulated world with many truly effective campaigns.
effective: adjusted p < alpha and treatment above holdout; harmful: adjusted p < alpha and below;
no_evidence otherwise; too_small: fewer than `min_group` customers in an arm."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

METRICS = {"conversion": "is_converted", "revenue": "revenue_krw"}
VERDICTS = ("effective", "no_evidence", "harmful", "too_small")


def _arm_stats(sends: pl.DataFrame) -> pl.DataFrame:
    aggs = []
    for metric, column in METRICS.items():
        value = pl.col(column).cast(pl.Float64)
        for arm, flag in (("t", pl.col("is_treatment")), ("h", ~pl.col("is_treatment"))):
            aggs += [
                value.filter(flag).mean().alias(f"{metric}_{arm}"),
                value.filter(flag).std().alias(f"{metric}_sd_{arm}"),
            ]
    return sends.group_by("campaign_id").agg(
        pl.col("is_treatment").sum().cast(pl.Int64).alias("n_treatment"),
        (~pl.col("is_treatment")).sum().cast(pl.Int64).alias("n_holdout"),
        *aggs,
    )


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values: the i-th smallest times (m - i), made monotone, capped at 1."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def measure_uplift(
    sends: pl.DataFrame,
    campaigns: pl.DataFrame | None = None,
    alpha: float = 0.05,
    min_group: int = 30,
) -> pl.DataFrame:
    """`sends`: campaign_id, is_treatment, is_converted, revenue_krw (complete windows only;
    the caller filters). `campaigns` (optional): campaign_id plus descriptive columns to carry."""
    s = _arm_stats(sends).sort("campaign_id")
    n_t, n_h = s["n_treatment"].to_numpy(), s["n_holdout"].to_numpy()
    out = s.select("campaign_id", "n_treatment", "n_holdout")
    z = stats.norm.ppf(1 - alpha / 2)
    for metric in METRICS:
        m_t = s[f"{metric}_t"].fill_null(np.nan).to_numpy()
        m_h = s[f"{metric}_h"].fill_null(np.nan).to_numpy()
        sd_t = s[f"{metric}_sd_t"].fill_null(np.nan).to_numpy()
        sd_h = s[f"{metric}_sd_h"].fill_null(np.nan).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            v_t, v_h = sd_t**2 / n_t, sd_h**2 / n_h
            se = np.sqrt(v_t + v_h)
            df = (v_t + v_h) ** 2 / (v_t**2 / (n_t - 1) + v_h**2 / (n_h - 1))
            half = stats.t.ppf(1 - alpha / 2, np.where(np.isfinite(df), df, 1.0)) * se
            diff = m_t - m_h
            pvalue = stats.ttest_ind_from_stats(
                m_t, sd_t, n_t, m_h, sd_h, n_h, equal_var=False
            ).pvalue
            ratio = m_t / m_h
            se_log = np.sqrt(v_t / m_t**2 + v_h / m_h**2)
            ok = (m_t > 0) & (m_h > 0)
        # Both arms without variance (e.g. nobody converted): no difference, p = 1.
        pvalue = np.where(np.isnan(pvalue) & (se == 0), 1.0, pvalue)
        out = out.with_columns(
            pl.Series(f"{metric}_se", se),
            pl.Series(f"{metric}_treatment", m_t),
            pl.Series(f"{metric}_holdout", m_h),
            pl.Series(f"{metric}_diff", diff),
            pl.Series(f"{metric}_diff_low", diff - half),
            pl.Series(f"{metric}_diff_high", diff + half),
            pl.Series(f"{metric}_ratio", np.where(ok, ratio, np.nan)),
            pl.Series(f"{metric}_ratio_low", np.where(ok, ratio * np.exp(-z * se_log), np.nan)),
            pl.Series(f"{metric}_ratio_high", np.where(ok, ratio * np.exp(z * se_log), np.nan)),
            pl.Series(f"{metric}_pvalue", pvalue),
        ).with_columns(pl.col(f"^{metric}_.*$").fill_nan(None))

    small = (n_t < min_group) | (n_h < min_group)
    if out.is_empty():  # no executed campaign yet: the report's columns, no rows
        out = out.with_columns(
            conversion_pvalue_adjusted=pl.lit(None, pl.Float64),
            verdict=pl.lit(None, pl.String),
            incremental_conversions=pl.lit(None, pl.Float64),
            incremental_revenue_krw=pl.lit(None, pl.Float64),
        )
        return campaigns.join(out, on="campaign_id") if campaigns is not None else out
    p = out["conversion_pvalue"].fill_null(1.0).to_numpy()
    adjusted = np.ones_like(p)
    if (~small).any():
        adjusted[~small] = holm(p[~small])
    diff = out["conversion_diff"].fill_null(0.0).to_numpy()
    verdict = np.where(
        small,
        "too_small",
        np.where(
            adjusted < alpha,
            np.where(diff > 0, "effective", np.where(diff < 0, "harmful", "no_evidence")),
            "no_evidence",
        ),
    )
    out = out.with_columns(
        pl.Series("conversion_pvalue_adjusted", adjusted),
        pl.Series("verdict", verdict),
        incremental_conversions=pl.col("conversion_diff") * pl.col("n_treatment"),
        incremental_revenue_krw=pl.col("revenue_diff") * pl.col("n_treatment"),
    )
    if campaigns is not None:
        out = campaigns.join(out, on="campaign_id", how="inner")
    return out.sort("campaign_id")


def campaigns_to_stop(report: pl.DataFrame) -> pl.DataFrame:
    """Campaigns that showed no effect or did harm: the team should stop or rework them."""
    return report.filter(pl.col("verdict").is_in(["harmful", "no_evidence"])).sort(
        pl.col("verdict") != "harmful", "conversion_diff"
    )


def pooled_uplift(report: pl.DataFrame, by: str = "channel", alpha: float = 0.05) -> pl.DataFrame:
    """Campaigns pooled per `by` (e.g. channel): the treated-weighted mean of the campaigns'
    conversion differences (each campaign compares its own arms, so campaigns with different
    holdout shares and base rates do not bias the pool, as one big two-arm table would), its
    normal interval from the campaigns' standard errors, and a verdict with Holm's adjustment
    across the groups. Small campaigns' effects are too small to see one by one; a channel's
    pooled effect often is not."""
    usable = report.filter(
        (pl.col("verdict") != "too_small") & pl.col("conversion_se").is_not_null()
    )
    if usable.is_empty():
        return pl.DataFrame(schema={by: pl.String, "campaigns": pl.UInt32, "verdict": pl.String})
    w = pl.col("n_treatment").cast(pl.Float64)
    pooled = (
        usable.group_by(by)
        .agg(
            campaigns=pl.len(),
            n_treatment=pl.col("n_treatment").sum(),
            n_holdout=pl.col("n_holdout").sum(),
            conversion_diff=(w * pl.col("conversion_diff")).sum() / w.sum(),
            conversion_se=((w * pl.col("conversion_se")) ** 2).sum().sqrt() / w.sum(),
        )
        .sort(by)
    )
    z = stats.norm.ppf(1 - alpha / 2)
    d, se = pooled["conversion_diff"].to_numpy(), pooled["conversion_se"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * stats.norm.sf(np.abs(d / se)), 1.0)
    adjusted = holm(p)
    verdict = np.where(
        adjusted < alpha,
        np.where(d > 0, "effective", np.where(d < 0, "harmful", "no_evidence")),
        "no_evidence",
    )
    return pooled.with_columns(
        conversion_diff_low=pl.col("conversion_diff") - z * pl.col("conversion_se"),
        conversion_diff_high=pl.col("conversion_diff") + z * pl.col("conversion_se"),
        conversion_pvalue=pl.Series(p),
        conversion_pvalue_adjusted=pl.Series(adjusted),
        verdict=pl.Series(verdict),
    )
