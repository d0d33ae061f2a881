"""Did a campaign change anything? Treatment vs holdout within each campaign's response window
(gold.fct_campaign_sends: one row per assignment, outcomes already windowed).

Per campaign and metric (conversion = ordered at least once in the window; revenue per
customer): treatment and holdout means, their difference with a confidence interval, the ratio
with a delta-method interval on the log scale, and a two-sided p-value. Revenue's interval and
p-value are Welch's t (scipy.stats.ttest_ind_from_stats). Conversion's interval is Newcombe's
hybrid score interval for a difference of proportions (statsmodels), and its p-value the one that
interval implies (the level at which it touches zero), so the two always agree. Welch's interval
on a proportion takes each arm's variance from its own observed rate: a holdout that by chance
converts 4 of 79 (against 19 % planted) looks precise and a campaign with no effect looked
effective; the score interval does not shrink with the unlucky rate.

The verdict uses conversion and one interval: the simultaneous (Bonferroni) interval at level
1 - alpha / m over the m campaigns in the report, so the chance that ANY campaign's interval
misses its true effect is at most alpha, and the interval shown is the one the verdict reads:
- effective: the interval lies above zero; harmful: below zero;
- no_effect: the interval lies inside the practical-equivalence band [-band, +band] (an effect
  that small is not worth a message);
- inconclusive: anything else (too few customers, or fewer than `min_group` in an arm): the
  report gives the minimum detectable
  effect (MDE) at this size and the holdout size that would detect the observed effect.
Only harmful and no_effect campaigns are candidates to stop. An unadjusted per-campaign 95 %
interval is kept beside it, labelled as such, for anyone reading one campaign on its own.

Pooling (`pooled_uplift`): campaigns of the same channel and objective are combined by
empirical Bayes (a normal random-effects model, DerSimonian-Laird between-campaign variance):
the group's mean effect with its interval, and each campaign's shrunken estimate, pulled towards
the group mean the more, the noisier its own estimate is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats
from scipy.optimize import elementwise
from statsmodels.stats.proportion import confint_proportions_2indep

METRICS = {"conversion": "is_converted", "revenue": "revenue_krw"}
VERDICTS = ("effective", "harmful", "no_effect", "inconclusive")
STOP_VERDICTS = ("harmful", "no_effect")
SHRUNK_COLUMNS = ("conversion_diff_shrunk", "conversion_shrunk_low", "conversion_shrunk_high")
# The report's columns as shown (asset metadata and the HTML report); the conversion columns are
# rates (shares of customers), the rest counts.
REPORT_COLUMNS = (
    "campaign_id",
    "channel",
    "objective",
    "n_treatment",
    "n_holdout",
    "conversion_treatment",
    "conversion_holdout",
    "conversion_diff",
    "conversion_sim_low",
    "conversion_sim_high",
    "verdict",
    "mde",
    "holdout_needed",
    "conversion_diff_shrunk",
)
RATE_COLUMNS = (
    "conversion_treatment",
    "conversion_holdout",
    "conversion_diff",
    "conversion_sim_low",
    "conversion_sim_high",
    "mde",
    "conversion_diff_shrunk",
)


@dataclass(frozen=True)
class VerdictRule:
    alpha: float = 0.05
    """Chance of any wrong effective / harmful / no-effect call across the report."""
    band: float = 0.01
    """Practical-equivalence band on conversion (absolute, 0.01 = one percentage point)."""
    power: float = 0.8
    """Power of the MDE and of the holdout size needed."""
    min_group: int = 30
    """Fewer customers in an arm: inconclusive whatever the interval (it is not reliable)."""


def _arm_stats(sends: pl.DataFrame) -> pl.DataFrame:
    aggs = []
    for metric, column in METRICS.items():
        value = pl.col(column).cast(pl.Float64)
        for arm, flag in (("t", pl.col("is_treatment")), ("h", ~pl.col("is_treatment"))):
            aggs += [
                value.filter(flag).mean().alias(f"{metric}_{arm}"),
                value.filter(flag).std().alias(f"{metric}_sd_{arm}"),
            ]
    converted = pl.col("is_converted").cast(pl.Int64)
    return sends.group_by("campaign_id").agg(
        pl.col("is_treatment").sum().cast(pl.Int64).alias("n_treatment"),
        (~pl.col("is_treatment")).sum().cast(pl.Int64).alias("n_holdout"),
        converted.filter(pl.col("is_treatment")).sum().alias("converted_treatment"),
        converted.filter(~pl.col("is_treatment")).sum().alias("converted_holdout"),
        *aggs,
    )


def _conversion_counts(s: pl.DataFrame) -> tuple[np.ndarray, ...]:
    """(converted treatment, n treatment, converted holdout, n holdout) per campaign."""
    return tuple(
        s[c].cast(pl.Float64).to_numpy()
        for c in ("converted_treatment", "n_treatment", "converted_holdout", "n_holdout")
    )


def newcombe_interval(counts: tuple[np.ndarray, ...], alpha) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for treatment - holdout conversion (statsmodels)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return confint_proportions_2indep(*counts, method="newcomb", compare="diff", alpha=alpha)


def newcombe_pvalue(counts: tuple[np.ndarray, ...]) -> np.ndarray:
    """The two-sided p-value the interval implies: the alpha at which its bound nearer zero
    reaches zero (1 for no difference, NaN for an empty arm), a root in the normal quantile z
    found for every campaign at once."""
    c_t, n_t, c_h, n_h = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        up = c_t / n_t >= c_h / n_h

    def bound_nearer_zero(z, c_t, n_t, c_h, n_h, up):
        low, high = newcombe_interval((c_t, n_t, c_h, n_h), 2 * stats.norm.sf(z))
        return np.where(up, low, -high)

    ok = (n_t > 0) & (n_h > 0)
    z = np.full(n_t.shape, np.nan)
    if ok.any():
        zeros = np.zeros(int(ok.sum()))
        args = tuple(a[ok] for a in (c_t, n_t, c_h, n_h, up))
        z[ok] = elementwise.find_root(bound_nearer_zero, (zeros, zeros + 40.0), args=args).x
    return 2 * stats.norm.sf(z)


def verdicts(low: np.ndarray, high: np.ndarray, band: float) -> np.ndarray:
    """The verdict of each interval [low, high] (NaN: inconclusive)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(
            low > 0,
            "effective",
            np.where(
                high < 0,
                "harmful",
                np.where((low >= -band) & (high <= band), "no_effect", "inconclusive"),
            ),
        )


def measure_uplift(
    sends: pl.DataFrame, campaigns: pl.DataFrame | None = None, rule: VerdictRule | None = None
) -> pl.DataFrame:
    """`sends`: campaign_id, is_treatment, is_converted, revenue_krw (complete windows only;
    the caller filters). `campaigns` (optional): campaign_id plus descriptive columns to carry."""
    rule = rule or VerdictRule()
    alpha = rule.alpha
    s = _arm_stats(sends).sort("campaign_id")
    n_t, n_h = s["n_treatment"].to_numpy(), s["n_holdout"].to_numpy()
    out = s.select("campaign_id", "n_treatment", "n_holdout")
    conversions = _conversion_counts(s)
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
            half = stats.t.ppf(1 - alpha / 2, np.where(np.isfinite(df), df, 1)) * se
            diff = m_t - m_h
            pvalue = stats.ttest_ind_from_stats(
                m_t, sd_t, n_t, m_h, sd_h, n_h, equal_var=False
            ).pvalue
            ratio = m_t / m_h
            se_log = np.sqrt(v_t / m_t**2 + v_h / m_h**2)
            ok = (m_t > 0) & (m_h > 0)
        if metric == "conversion":
            low, high = newcombe_interval(conversions, alpha)
            pvalue = newcombe_pvalue(conversions)
        else:
            low, high = diff - half, diff + half
            # Both arms without variance: no difference, p = 1.
            pvalue = np.where(np.isnan(pvalue) & (se == 0), 1.0, pvalue)
        out = out.with_columns(
            pl.Series(f"{metric}_se", se),
            pl.Series(f"{metric}_treatment", m_t),
            pl.Series(f"{metric}_holdout", m_h),
            pl.Series(f"{metric}_diff", diff),
            pl.Series(f"{metric}_diff_low", low),
            pl.Series(f"{metric}_diff_high", high),
            pl.Series(f"{metric}_ratio", np.where(ok, ratio, np.nan)),
            pl.Series(f"{metric}_ratio_low", np.where(ok, ratio * np.exp(-z * se_log), np.nan)),
            pl.Series(f"{metric}_ratio_high", np.where(ok, ratio * np.exp(z * se_log), np.nan)),
            pl.Series(f"{metric}_pvalue", pvalue),
        ).with_columns(pl.col(f"^{metric}_.*$").fill_nan(None))
    out = _conversion_verdicts(out, conversions, n_t, n_h, rule)
    if campaigns is not None:
        out = campaigns.join(out, on="campaign_id", how="inner")
    return out.sort("campaign_id")


def _conversion_verdicts(
    out: pl.DataFrame,
    conversions: tuple[np.ndarray, ...],
    n_t: np.ndarray,
    n_h: np.ndarray,
    rule: VerdictRule,
) -> pl.DataFrame:
    """Simultaneous intervals, verdicts, MDE and the holdout size needed, on conversion."""
    diff = out["conversion_diff"].fill_null(np.nan).to_numpy()
    se = out["conversion_se"].fill_null(np.nan).to_numpy()
    p = out["conversion_pvalue"].fill_null(np.nan).to_numpy()
    big_enough = (n_t >= rule.min_group) & (n_h >= rule.min_group)
    has_interval = (n_t > 0) & (n_h > 0)
    m = max(int(has_interval.sum()), 1)
    level = rule.alpha / m  # Bonferroni: two-sided alpha / m per campaign
    low, high = newcombe_interval(conversions, level)
    # The MDE and the holdout needed are the usual normal-approximation planning figures.
    crit = stats.norm.ppf(1 - level / 2)
    z_power = stats.norm.ppf(rule.power)
    with np.errstate(divide="ignore", invalid="ignore"):
        mde = np.where(se > 0, (crit + z_power) * se, np.nan)
        # Holdout customers that make the observed difference detectable at this treated count:
        # (crit + z_power)^2 * (v_t + v_h / n) = d^2; none suffices when v_t alone is too big.
        var_t = (out["conversion_treatment"] * (1 - out["conversion_treatment"])).to_numpy()
        var_h = (out["conversion_holdout"] * (1 - out["conversion_holdout"])).to_numpy()
        room = (diff / (crit + z_power)) ** 2 - var_t / n_t
        holdout_needed = np.where(room > 0, np.ceil(var_h / room), np.nan)
    verdict = np.where(has_interval & big_enough, verdicts(low, high, rule.band), "inconclusive")
    return out.with_columns(
        pl.Series("conversion_sim_low", low),
        pl.Series("conversion_sim_high", high),
        pl.Series("conversion_pvalue_adjusted", np.minimum(p * m, 1.0)),
        pl.Series("verdict", verdict),
        pl.Series("mde", mde),
        pl.Series("holdout_needed", holdout_needed),
        verdict_alpha=pl.lit(rule.alpha),
        equivalence_band=pl.lit(rule.band),
        incremental_conversions=pl.col("conversion_diff") * pl.col("n_treatment"),
        incremental_revenue_krw=pl.col("revenue_diff") * pl.col("n_treatment"),
    ).with_columns(
        pl.col("conversion_sim_low", "conversion_sim_high", "mde", "holdout_needed").fill_nan(None)
    )


def rule_of(report: pl.DataFrame) -> VerdictRule:
    """The verdict rule a stored report was made with."""
    if report.is_empty() or "equivalence_band" not in report.columns:
        return VerdictRule()
    return VerdictRule(alpha=report["verdict_alpha"][0], band=report["equivalence_band"][0])


def campaigns_to_stop(report: pl.DataFrame) -> pl.DataFrame:
    """Campaigns shown to do harm or to do nothing worth a message: stop or rework them.
    Inconclusive ones are not on the list: they need more customers, not a stop."""
    return report.filter(pl.col("verdict").is_in(STOP_VERDICTS)).sort(
        pl.col("verdict") != "harmful", "conversion_diff"
    )


def random_effects(diff: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """DerSimonian-Laird random-effects pool of estimates `diff` with standard errors `se`:
    (mean, its standard error, tau = the between-campaign standard deviation)."""
    w = 1 / se**2
    fixed = np.sum(w * diff) / np.sum(w)
    q = np.sum(w * (diff - fixed) ** 2)
    spread = np.sum(w) - np.sum(w**2) / np.sum(w)  # 0 for one campaign: no spread to see
    tau2 = max(0.0, (q - (diff.size - 1)) / spread) if spread > 0 else 0.0
    w_re = 1 / (se**2 + tau2)
    return float(np.sum(w_re * diff) / np.sum(w_re)), float(np.sqrt(1 / np.sum(w_re))), tau2**0.5


def pooled_uplift(
    report: pl.DataFrame,
    by: tuple[str, ...] = ("channel", "objective"),
    rule: VerdictRule | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Empirical Bayes across campaigns of the same `by` group. Each campaign is compared with
    its own holdout (one big two-arm table would be biased when campaigns differ in holdout
    share and base rate). Returns (groups, campaigns):
    - one row per group: campaigns, pooled conversion difference with its simultaneous interval
      (Bonferroni over the groups) and verdict, and tau, how much campaigns truly differ;
    - the report with `conversion_diff_shrunk` and its interval: the campaign's estimate pulled
      towards its group's mean by tau^2 / (tau^2 + se^2) (a small campaign borrows strength)."""
    rule = rule or VerdictRule()
    by = list(by)
    report = report.drop(SHRUNK_COLUMNS, strict=False)
    usable = report.filter(pl.col("conversion_se").is_not_null() & (pl.col("conversion_se") > 0))
    rows, shrunk = [], []
    for key, part in usable.group_by(by, maintain_order=True):
        d, se = part["conversion_diff"].to_numpy(), part["conversion_se"].to_numpy()
        mean, mean_se, tau = random_effects(d, se)
        rows.append(
            dict(zip(by, key, strict=True))
            | {
                "campaigns": part.height,
                "n_treatment": int(part["n_treatment"].sum()),
                "n_holdout": int(part["n_holdout"].sum()),
                "conversion_diff": mean,
                "conversion_se": mean_se,
                "tau": tau,
            }
        )
        # Posterior of each campaign's effect under N(mean, tau^2) and its own N(d, se^2).
        keep = tau**2 / (tau**2 + se**2)
        post_sd = np.sqrt(keep * se**2 + (1 - keep) ** 2 * mean_se**2)
        shrunk.append(
            part.select("campaign_id").with_columns(
                conversion_diff_shrunk=pl.Series(keep * d + (1 - keep) * mean),
                conversion_shrunk_sd=pl.Series(post_sd),
            )
        )
    schema = {c: report.schema[c] for c in by} | {
        "campaigns": pl.Int64,
        "n_treatment": pl.Int64,
        "n_holdout": pl.Int64,
        "conversion_diff": pl.Float64,
        "conversion_se": pl.Float64,
        "tau": pl.Float64,
    }
    groups = pl.DataFrame(rows, schema=schema).sort(by)
    crit = stats.norm.ppf(1 - rule.alpha / (2 * max(groups.height, 1)))
    groups = groups.with_columns(
        conversion_sim_low=pl.col("conversion_diff") - crit * pl.col("conversion_se"),
        conversion_sim_high=pl.col("conversion_diff") + crit * pl.col("conversion_se"),
    )
    groups = groups.with_columns(
        verdict=pl.Series(
            verdicts(groups["conversion_sim_low"], groups["conversion_sim_high"], rule.band),
            dtype=pl.String,
        )
    )
    z = stats.norm.ppf(1 - rule.alpha / 2)
    shrunk_frame = (
        pl.concat(shrunk)
        if shrunk
        else pl.DataFrame(
            schema={
                "campaign_id": pl.String,
                "conversion_diff_shrunk": pl.Float64,
                "conversion_shrunk_sd": pl.Float64,
            }
        )
    )
    campaigns = report.join(shrunk_frame, on="campaign_id", how="left").with_columns(
        conversion_shrunk_low=pl.col("conversion_diff_shrunk") - z * pl.col("conversion_shrunk_sd"),
        conversion_shrunk_high=pl.col("conversion_diff_shrunk")
        + z * pl.col("conversion_shrunk_sd"),
    )
    return groups, campaigns.drop("conversion_shrunk_sd")
