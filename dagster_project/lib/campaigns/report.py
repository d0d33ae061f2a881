"""Plain-text summaries for the demo and the CLI: planned audiences and the uplift report."""

from __future__ import annotations

import duckdb
import polars as pl

from dagster_project.lib.warehouse import has_table


def audience_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not has_table(con, "gold.campaign_assignments"):
        return ["campaign audiences: none planned (no campaigns/*.yml)"]
    rows = con.sql(
        "select campaign_id, any_value(channel), count(*) filter (where is_treatment),"
        " count(*) filter (where not is_treatment), min(sent_at), bool_or(is_night_send)"
        " from gold.campaign_assignments group by campaign_id order by campaign_id"
    ).fetchall()
    lines = ["campaign audiences (gold.campaign_assignments; exports in exports/campaigns/):"]
    lines.append(f"  {'campaign':<34} {'channel':<10} {'treatment':>9} {'holdout':>8}  send (UTC)")
    for cid, channel, treat, hold, sent_at, night in rows:
        note = "  night: night-consent only" if night else ""
        lines.append(
            f"  {cid:<34} {channel:<10} {treat:>9,} {hold:>8,}  {sent_at:%Y-%m-%d %H:%M}{note}"
        )
    return lines


def uplift_lines(con: duckdb.DuckDBPyConnection, limit: int = 40) -> list[str]:
    from dagster_project.lib.uplift.measure import VERDICTS, pooled_uplift, rule_of

    if not has_table(con, "gold.campaign_uplift"):
        return ["uplift report: not built"]
    report = con.sql("select * from gold.campaign_uplift order by campaign_id").pl()
    if "conversion_sim_low" not in report.columns:
        return ["uplift report: built by an older version, re-materialize gold/campaign_uplift"]
    rule = rule_of(report)
    fmt = lambda x: "   n/a" if x is None else f"{x:+.3f}"  # noqa: E731
    rate = lambda x: "    n/a" if x is None else f"{x:7.3f}"  # noqa: E731
    lines = [
        "uplift of past campaigns (gold.campaign_uplift; conversion in the response window;",
        f"  intervals simultaneous over the {report.height} campaigns at {1 - rule.alpha:.0%},"
        f" the ones the verdicts use; no effect = inside +-{rule.band:.3f}):",
        f"  {'campaign':<10} {'channel':<10} {'objective':<12} {'treated':>7} {'holdout':>7}"
        f" {'conv T':>7} {'conv H':>7} {'diff [simultaneous CI]':>25}  {'pooled':>6}  verdict",
    ]
    for r in report.head(limit).iter_rows(named=True):
        note = ""
        if r["verdict"] == "inconclusive" and r["mde"] is not None:
            needed = r["holdout_needed"]
            note = f"  (MDE {r['mde']:.3f}; " + (
                f"holdout of {needed:,.0f} to detect {r['conversion_diff']:+.3f})"
                if needed is not None
                else "no holdout size detects the observed effect at this audience)"
            )
        lines.append(
            f"  {r['campaign_id']:<10} {r['channel'] or '':<10} {r['objective'] or '':<12}"
            f" {r['n_treatment']:>7,} {r['n_holdout']:>7,} {rate(r['conversion_treatment'])}"
            f" {rate(r['conversion_holdout'])} {fmt(r['conversion_diff']):>7}"
            f" [{fmt(r['conversion_sim_low'])}, {fmt(r['conversion_sim_high'])}]"
            f"  {fmt(r['conversion_diff_shrunk'])}  {r['verdict']}{note}"
        )
    counts = report["verdict"].value_counts()
    mix = dict(zip(counts["verdict"], counts["count"], strict=True))
    lines.append("  verdict mix: " + ", ".join(f"{v} {mix.get(v, 0)}" for v in VERDICTS))
    groups, _ = pooled_uplift(report, rule=rule)
    lines.append(
        "  pooled by channel and objective (empirical Bayes; tau = spread between campaigns):"
    )
    for r in groups.iter_rows(named=True):
        lines.append(
            f"    {r['channel']:<10} {r['objective'] or '':<12} {r['campaigns']:>2} campaigns:"
            f" {r['conversion_diff']:+.4f} [{r['conversion_sim_low']:+.4f},"
            f" {r['conversion_sim_high']:+.4f}]  tau {r['tau']:.4f}  {r['verdict']}"
        )
    stop = report.filter(pl.col("verdict").is_in(["harmful", "no_effect"]))["campaign_id"]
    lines.append(
        f"  candidates to stop (harmful or no effect, {stop.len()}): {', '.join(stop) or 'none'}"
    )
    if has_table(con, "gold.coupon_uplift_evaluation"):
        evals = con.sql(
            "select strategy, qini, uplift_at_20 from gold.coupon_uplift_evaluation"
        ).fetchall()
        lines.append(
            "coupon uplift model, held-out coupon campaigns (gold.coupon_uplift_evaluation):"
        )
        for strategy, qini, at20 in evals:
            at = "n/a" if at20 is None else f"{at20:+.3f}"
            lines.append(f"  {strategy:<22} qini {qini:+.4f}   uplift@20% {at}")
        offered = has_table(con, "gold.coupon_uplift_scores")
        lines.append(
            "  scores offered to campaign rules (coupon_uplift): "
            + ("yes, the held-out Qini beats random" if offered else "no, not above random")
        )
    return lines
