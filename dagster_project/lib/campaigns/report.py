"""Plain-text summaries for the demo and the CLI: planned audiences and the uplift report."""

from __future__ import annotations

import duckdb

from dagster_project.lib.campaigns.source import _has_table


def audience_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not _has_table(con, "gold", "campaign_assignments"):
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
    if not _has_table(con, "gold", "campaign_uplift"):
        return ["uplift report: not built"]
    rows = con.sql(
        "select campaign_id, channel, n_treatment, n_holdout, conversion_treatment,"
        " conversion_holdout, conversion_diff, conversion_diff_low, conversion_diff_high, verdict"
        " from gold.campaign_uplift order by campaign_id"
    ).fetchall()
    lines = ["uplift of past campaigns (gold.campaign_uplift; conversion in the response window):"]
    lines.append(
        f"  {'campaign':<10} {'channel':<10} {'treated':>7} {'holdout':>7} {'conv T':>7}"
        f" {'conv H':>7} {'diff [95% CI]':>24}  verdict"
    )
    for cid, ch, nt, nh, ct, chh, d, lo, hi, verdict in rows[:limit]:
        fmt = lambda x: "   n/a" if x is None else f"{x:+.3f}"  # noqa: E731
        rate = lambda x: "    n/a" if x is None else f"{x:7.3f}"  # noqa: E731
        lines.append(
            f"  {cid:<10} {ch or '':<10} {nt:>7,} {nh:>7,} {rate(ct)} {rate(chh)}"
            f" {fmt(d):>7} [{fmt(lo)}, {fmt(hi)}]  {verdict}"
        )
    counts = con.sql(
        "select verdict, count(*) from gold.campaign_uplift group by verdict order by verdict"
    ).fetchall()
    lines.append("  verdicts: " + ", ".join(f"{v} {n}" for v, n in counts))
    from dagster_project.lib.uplift.measure import pooled_uplift

    report = con.sql("select * from gold.campaign_uplift").pl()
    pooled = pooled_uplift(report) if "conversion_se" in report.columns else report.clear()
    for r in pooled.iter_rows(named=True) if "conversion_se" in pooled.columns else []:
        lines.append(
            f"  pooled {r['channel']:<10} {r['campaigns']:>2} campaigns: diff"
            f" {r['conversion_diff']:+.4f} [{r['conversion_diff_low']:+.4f},"
            f" {r['conversion_diff_high']:+.4f}]  {r['verdict']}"
        )
    stop = [r[0] for r in rows if r[-1] in ("harmful", "no_evidence")]
    lines.append(f"  to stop or rework ({len(stop)}): {', '.join(stop) or 'none'}")
    if _has_table(con, "gold", "coupon_uplift_evaluation"):
        evals = con.sql(
            "select strategy, qini, uplift_at_20 from gold.coupon_uplift_evaluation"
        ).fetchall()
        lines.append(
            "coupon uplift model, held-out coupon campaigns (gold.coupon_uplift_evaluation):"
        )
        for strategy, qini, at20 in evals:
            at = "n/a" if at20 is None else f"{at20:+.3f}"
            lines.append(f"  {strategy:<22} qini {qini:+.4f}   uplift@20% {at}")
    return lines
