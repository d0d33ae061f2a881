"""The CRM lab: send times, personal caps and multi-arm tests rehearsed on a simulated world by
re-simulation on the same random numbers (simulate/messaging.MessageLab).

A lab world is a simulated world (its sessions are the activity the send-time model learns
from) plus the weeks after its window, in which messages go out. The first EXPLORE_DAYS days are
an exploration history: each consenting customer gets a message a day with their own
probability (0.1-0.8, so recent message counts vary), at a random hour (night hours only with
night consent), with a random creative; its sends, opens and opt-outs are what the caps model
learns from. Then every policy continues from that same state on the same numbers, so the
difference between two policies is their effect on this world, exactly; its interval says how
much it would move with another draw of customers: total +- z sqrt(N) sd(per-customer
difference), as lib/budget/lab.py does.

Opt-outs are consent changes: a customer who opted out is not messaged again (the audience
builder sees has_marketing_consent false from the next day, as the customers history delivers
it), and the lab counts any message the simulator refused (``refused``, 0 in every policy).

The segment the caps model shrinks to and the adaptive test splits by is ``browsing_type``, set
here to the customer's true archetype (the platform's browsing_type estimates it,
docs/segments.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl
from scipy.stats import norm

from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA, build_audience
from dagster_project.lib.campaigns.config import FREQUENCY_CAPS, parse_campaign
from dagster_project.lib.crm import arms as arms_mod
from dagster_project.lib.crm.caps import fit_caps
from dagster_project.lib.crm.send_time import NIGHT_HOURS, best_hours, fit_send_times, raw_argmax
from dagster_project.lib.simulate.messaging import (
    CREATIVE_LIFT,
    CREATIVES,
    SEGMENTS,
    MessageLab,
    MessagingTruth,
    build_truth,
)
from dagster_project.lib.simulate.params import WorldConfig
from dagster_project.lib.simulate.world import build_entities, customer_ids, simulate

EXPLORE_DAYS = 28
LEVEL = 0.95
UTC_OFFSET_H = 9  # the simulator's business zone, Asia/Seoul (no daylight saving)
CHANNEL = "app_push"
WINDOW = (time(10, 0), time(23, 0))
FIXED_HOUR = 19


@dataclass
class LabWorld:
    cfg: WorldConfig
    truth: MessagingTruth
    st: object
    ids: np.ndarray  # customer id per index
    customers: pl.DataFrame  # customer_id, i, browsing_type, consents
    sessions: pl.DataFrame  # customer_id, started_at (UTC)
    explored: MessageLab  # state after the exploration history
    history: pl.DataFrame  # the exploration's sends with outcomes

    def day(self, t: int) -> date:
        return self.cfg.end_date + timedelta(days=t)

    def utc(self, t: np.ndarray, hour: np.ndarray) -> pl.Series:
        start = datetime.combine(self.cfg.end_date, datetime.min.time())
        offs = (np.asarray(t) * 24 + np.asarray(hour) - UTC_OFFSET_H).astype(np.int64)
        return pl.Series(np.datetime64(start, "us") + offs.astype("timedelta64[h]")).cast(
            pl.Datetime("us")
        )

    def dow(self, t: int) -> int:
        return self.day(t).weekday()

    def fresh(self) -> MessageLab:
        return copy.deepcopy(self.explored)


def lab_world(cfg: WorldConfig, days_after: int = 90) -> LabWorld:
    """Simulate ``cfg`` (without counterfactual runs, with each customer's own active hours:
    the send-time model reads them) and its exploration history."""
    cfg = replace(cfg, counterfactuals=False, personal_hours=True)
    world = simulate(cfg)
    ent = build_entities(cfg)
    truth = build_truth(ent.st, ent.cust)
    ids = customer_ids(ent.cust)
    latest = pl.concat(
        [world.tables["customers"], world.later_files["customers/profile_changes"]],
        how="diagonal_relaxed",
    )
    latest = latest.sort("customer_id", pl.col("updated_at"), nulls_last=False)
    latest = latest.group_by("customer_id").last()
    customers = (
        pl.DataFrame({"customer_id": ids, "i": np.arange(ids.size)})
        .join(latest.select("customer_id", "marketing_opt_in", "night_opt_in"), on="customer_id")
        .select(
            "customer_id",
            "i",
            browsing_type=pl.lit(pl.Series(np.asarray(SEGMENTS)[truth.segment])).gather(
                pl.col("i")
            ),
            has_marketing_consent=pl.col("marketing_opt_in"),
            has_night_consent=pl.col("marketing_opt_in") & pl.col("night_opt_in"),
        )
        .sort("customer_id")
    )
    sessions = world.tables["sessions"].select("customer_id", "started_at")
    lab = MessageLab(truth, ent.st, EXPLORE_DAYS + days_after)
    lw = LabWorld(cfg, truth, ent.st, ids, customers, sessions, lab, pl.DataFrame())
    lw.history = _explore(lw, lab)
    return lw


def _explore(lw: LabWorld, lab: MessageLab) -> pl.DataFrame:
    st, n = lw.st, lw.truth.n
    i_all = np.arange(n)
    consent = _consent_by_index(lw)
    night = _night_by_index(lw)
    rate = 0.1 + 0.7 * st.uniform("messaging", 10, i_all)
    out = []
    for t in range(EXPLORE_DAYS):
        ok = consent & (lab.opted_out_day > t)
        pick = ok & (st.uniform("messaging", 11, i_all, t) < rate)
        i = np.flatnonzero(pick)
        u_h = st.uniform("messaging", 12, i, t)
        hour = np.where(night[i], (u_h * 24).astype(int), 8 + (u_h * 13).astype(int))
        cre = (st.uniform("messaging", 13, i, t) * len(CREATIVES)).astype(int)
        out.append(
            lab.deliver(t, i, lw.dow(t) * 24 + hour, cre).with_columns(
                hour=pl.col("hour_of_week") % 24
            )
        )
    h = pl.concat(out)
    return h.select(
        customer_id=pl.lit(pl.Series(lw.ids)).gather(pl.col("i")),
        sent_at=lw.utc(h["d"].to_numpy(), h["hour"].to_numpy()),
        is_opened="opened",
        is_opt_out="opted_out",
        creative_id=pl.lit(pl.Series(np.asarray(CREATIVES))).gather(pl.col("creative")),
        is_converted="converted",
    )


def _consent_by_index(lw: LabWorld) -> np.ndarray:
    c = lw.customers.sort("i")
    return c["has_marketing_consent"].fill_null(False).to_numpy()


def _night_by_index(lw: LabWorld) -> np.ndarray:
    c = lw.customers.sort("i")
    return c["has_night_consent"].fill_null(False).to_numpy()


def _interval(diff: np.ndarray) -> tuple[float, float, float]:
    z = float(norm.ppf(0.5 + LEVEL / 2))
    total = float(diff.sum())
    half = z * np.sqrt(diff.size) * float(diff.std(ddof=1))
    return total, total - half, total + half


def _per_customer(out: pl.DataFrame, n: int, col: str) -> np.ndarray:
    v = np.zeros(n)
    np.add.at(v, out["i"].to_numpy(), out[col].cast(pl.Float64).to_numpy())
    return v


def _compare(results: dict[str, pl.DataFrame], n: int, reference: str) -> pl.DataFrame:
    """One row per policy: sends, opens, response rate, incremental orders (messages' caused
    orders), opt-outs; differences against ``reference`` with intervals."""
    ref = {
        c: _per_customer(results[reference], n, c) for c in ("opened", "caused_order", "opted_out")
    }
    ref_sends = results[reference].height
    rows = []
    for name, out in results.items():
        row = {
            "policy": name,
            "sends": out.height,
            "opens": int(out["opened"].sum()),
            "response_rate": float(out["opened"].mean()) if out.height else None,
            "incremental_orders": int(out["caused_order"].sum()),
            "opt_outs": int(out["opted_out"].sum()),
        }
        for col, tag in (
            ("opened", "opens"),
            ("caused_order", "orders"),
            ("opted_out", "opt_outs"),
        ):
            d = _per_customer(out, n, col) - ref[col]
            total, lo, hi = _interval(d)
            row[f"{tag}_vs_{reference}"] = total
            row[f"{tag}_vs_{reference}_lo"] = lo
            row[f"{tag}_vs_{reference}_hi"] = hi
        # Response-rate difference: the opens difference per send (sends are equal when both
        # policies message the same customers on the same days).
        per_send = max(ref_sends, 1)
        row[f"rate_vs_{reference}"] = row[f"opens_vs_{reference}"] / per_send
        row[f"rate_vs_{reference}_lo"] = row[f"opens_vs_{reference}_lo"] / per_send
        row[f"rate_vs_{reference}_hi"] = row[f"opens_vs_{reference}_hi"] / per_send
        rows.append(row)
    return pl.DataFrame(rows)


# ---- send time -----------------------------------------------------------------------------
def send_time_experiment(lw: LabWorld, weeks: int = 4) -> pl.DataFrame:
    """One plain message a week to every consenting customer at: one fixed time (19:00), the
    population's best hour in the window (one time for everyone, chosen from the data), the
    model's best hour per customer, the naive per-customer mode (no prior) and the true best
    hour (an oracle, the ceiling)."""
    who = lw.customers.filter(pl.col("has_marketing_consent").fill_null(False))
    model = fit_send_times(lw.sessions, lw.customers)
    naive = raw_argmax(lw.sessions, lw.customers)
    i = who["i"].to_numpy()
    night = who["has_night_consent"].fill_null(False).to_numpy()
    days = [EXPLORE_DAYS + 7 * k for k in range(weeks)]
    results = {}
    pop = model.prior.reshape(7, 24)
    for name in ("fixed_19h", "population_best", "model", "naive_mode", "true_best"):
        lab = lw.fresh()
        for t in days:
            dow = lw.dow(t)
            if name == "fixed_19h":
                hour = np.full(i.size, FIXED_HOUR)
            elif name == "population_best":
                hour = _population_best(pop[dow], night)
            elif name == "true_best":
                hour = _true_best(lw.truth, i, dow, night)
            else:
                m = model if name == "model" else naive
                hours = best_hours(m, who, lw.day(t), WINDOW)
                hour = hours["send_hour"].to_numpy()
            lab.deliver(t, i, dow * 24 + hour, 0)
        results[name] = lab.outcomes().filter(pl.col("d") >= EXPLORE_DAYS)
    return _compare(results, lw.truth.n, "fixed_19h")


def _population_best(pop_day: np.ndarray, night: np.ndarray) -> np.ndarray:
    """The population's best hour of the day in the window, by consent (night or day hours)."""
    hours = [h % 24 for h in range(WINDOW[0].hour, WINDOW[1].hour)]
    day = [h for h in hours if h not in NIGHT_HOURS]
    best_all = max(hours, key=lambda h: pop_day[h])
    best_day = max(day, key=lambda h: pop_day[h])
    return np.where(night, best_all, best_day)


def _true_best(truth: MessagingTruth, i, dow, night) -> np.ndarray:
    hours = [h % 24 for h in range(WINDOW[0].hour, WINDOW[1].hour)]
    w = truth.hour_weight[i][:, [dow * 24 + h for h in hours]]
    bad = np.isin(hours, sorted(NIGHT_HOURS))[None, :] & ~night[:, None]
    return np.asarray(hours)[np.where(bad, -1, w).argmax(axis=1)]


# ---- personal caps -------------------------------------------------------------------------
def program_campaign(cap: tuple[int, int]):
    """The lab's program: an app push every evening to every consenting customer."""
    raw = {
        "campaign_id": "lab_daily_push",
        "channel": CHANNEL,
        "send": {"time": "19:00"},
        "holdout_share": 0.0,
        "frequency_cap": {"max_sends": cap[0], "window_days": cap[1]},
        "segment": {"column": "has_marketing_consent", "op": "==", "value": True},
    }
    return parse_campaign(raw, "lab:program", "lab_daily_push")


def caps_experiment(
    lw: LabWorld, weeks: int = 8, progress: Callable[[str], None] | None = None
) -> pl.DataFrame:
    """The daily push program for ``weeks`` weeks under the channel cap (3 in 7 days for
    everyone), personal caps (lib/crm/caps.py, the channel cap as ceiling) and one tight global
    cap of 1 in 7 days; all through the audience builder (lib/campaigns/audience.py)."""
    channel_cap = FREQUENCY_CAPS[CHANNEL]
    model = fit_caps(lw.history, _segments(lw), channel_cap[0])
    personal = model.table.select("customer_id", "max_sends", "window_days")
    policies = {
        "channel_cap": (channel_cap, None),
        "personal_caps": (channel_cap, personal),
        "global_cap_1": ((1, 7), None),
    }
    results, refused = {}, {}
    base_history = lw.history.select(
        "customer_id", channel=pl.lit(CHANNEL), sent_at="sent_at"
    ).cast(HISTORY_SCHEMA)
    for name, (cap, caps) in policies.items():
        lab = lw.fresh()
        campaign = program_campaign(cap)
        history = base_history
        for t in range(EXPLORE_DAYS, EXPLORE_DAYS + 7 * weeks):
            gone = lab.opted_out_day <= t  # the consent change reached the customers table
            customers = lw.customers.with_columns(
                has_marketing_consent=pl.col("has_marketing_consent")
                & ~pl.lit(pl.Series(gone)).gather(pl.col("i"))
            )
            aud = build_audience(
                replace(campaign, send_date=lw.day(t)),
                customers,
                history,
                lw.day(t),
                personal_caps=caps,
            )
            i = aud.treatment.join(lw.customers.select("customer_id", "i"), on="customer_id")
            out = lab.deliver(t, i["i"].to_numpy(), lw.dow(t) * 24 + FIXED_HOUR, 0)
            sent = pl.DataFrame({"customer_id": lw.ids[out["i"].to_numpy()]}).select(
                "customer_id",
                channel=pl.lit(CHANNEL),
                sent_at=lw.utc(np.full(out.height, t), np.full(out.height, FIXED_HOUR)),
            )
            history = pl.concat([history, sent.cast(HISTORY_SCHEMA)])
        if progress:
            progress(f"caps: {name} done")
        results[name] = lab.outcomes().filter(pl.col("d") >= EXPLORE_DAYS)
        refused[name] = lab.refused
    table = _compare(results, lw.truth.n, "channel_cap")
    return table.with_columns(refused=pl.Series([refused[k] for k in results]))


def caps_accuracy(lw: LabWorld) -> pl.DataFrame:
    """The learned tolerance against the truth, with the segment-only rule as the naive bar."""
    model = fit_caps(lw.history, _segments(lw), 10)
    t = model.table.join(lw.customers.select("customer_id", "i"), on="customer_id")
    true = lw.truth.tolerance[t["i"].to_numpy()]
    seg_med = t.group_by("segment").agg(m=pl.col("tolerance_median").median())
    seg = t.join(seg_med, on="segment")["m"].to_numpy()
    est = t["tolerance_median"].to_numpy()
    return pl.DataFrame(
        {
            "estimate": ["personal (shrunk)", "segment median only"],
            "mae": [float(np.abs(est - true).mean()), float(np.abs(seg - true).mean())],
            "corr": [float(np.corrcoef(est, true)[0, 1]), float(np.corrcoef(seg, true)[0, 1])],
        }
    )


# ---- multi-arm tests -----------------------------------------------------------------------
REWARDS = {"conversion": "is_converted", "order_after_open": "is_opened_converted"}


def arms_experiment(
    lw: LabWorld,
    sends: int = 6,
    holdout: float = 0.1,
    seed: int = 0,
    reward: str = "order_after_open",
):
    """A weekly push with the four creatives as arms and a fixed holdout, for ``sends`` weeks:
    a fixed equal split against the adaptive mode (Thompson per browsing_type). ``reward`` (a
    key of REWARDS) is what the adaptive shares and the per-segment verdicts learn from: any
    order in the response window, or an order after opening the message. Returns (summary per
    mode, the fixed split's arm report, its comparisons, the adaptive report, per segment and
    mode: the true best, the arm found best with its P(best), the arm the next send would favour
    and the sends to a non-best arm)."""
    from dagster_project.lib.campaigns.audience import hash_unit

    if reward not in REWARDS:
        raise ValueError(f"arms_experiment: reward {reward!r} is not one of {sorted(REWARDS)}")
    col = REWARDS[reward]

    arms = list(CREATIVES)
    who = lw.customers.filter(pl.col("has_marketing_consent").fill_null(False))
    hu = hash_unit("lab_arms", who["customer_id"]).to_numpy()
    treated = who.filter(pl.Series(hu >= holdout))
    held = who.filter(pl.Series(hu < holdout))
    best = CREATIVE_LIFT.argmax(axis=1)  # the truly best arm per segment
    seg_index = {s: k for k, s in enumerate(SEGMENTS)}
    days = [EXPLORE_DAYS + 7 * k for k in range(sends)]
    logs, summary, final_shares = {}, [], {}
    for mode in ("fixed", "adaptive"):
        lab = lw.fresh()
        rows = []
        shares = None
        for k, t in enumerate(days):
            if mode == "fixed":
                assigned = arms_mod.assign_arms("lab_arms", treated, arms, [0.25] * 4)
            else:
                if k == 0:
                    shares = pl.DataFrame(
                        [
                            {"browsing_type": s, "arm_id": a, "share": 0.25}
                            for s in SEGMENTS
                            for a in arms
                        ]
                    )
                assigned = arms_mod.assign_arms(
                    "lab_arms", treated, arms, shares, send=k, by="browsing_type"
                )
            cre = (
                pl.Series(assigned["arm_id"])
                .replace_strict({a: j for j, a in enumerate(arms)}, return_dtype=pl.Int64)
                .to_numpy()
            )
            out = lab.deliver(t, assigned["i"].to_numpy(), lw.dow(t) * 24 + FIXED_HOUR, cre)
            got = out.select("i", "opened", "converted", "caused_order", "creative")
            part = assigned.select("customer_id", "i", "browsing_type", "arm_id").join(
                got, on="i", how="inner"
            )
            base = lab.base_conversion(held["i"].to_numpy(), np.full(held.height, t))
            hold = held.select("customer_id", "i", "browsing_type").with_columns(
                arm_id=pl.lit(arms_mod.HOLDOUT),
                opened=pl.lit(False),
                converted=pl.Series(base),
                caused_order=pl.lit(False),
                creative=pl.lit(-1, pl.Int64),
            )
            frame = pl.concat([part, hold], how="diagonal_relaxed").select(
                pl.exclude("opened", "converted"),
                send=pl.lit(k),
                is_converted="converted",
                is_opened_converted=pl.col("opened") & pl.col("converted"),
            )
            rows.append(frame)
            if mode == "adaptive" or k == len(days) - 1:
                shares = arms_mod.thompson_shares(
                    pl.concat(rows), arms, "browsing_type", list(SEGMENTS), seed + k, col
                )
        final_shares[mode] = shares
        log = pl.concat(rows).with_columns(revenue_krw=pl.lit(0.0))
        logs[mode] = log
        t_rows = log.filter(pl.col("arm_id") != arms_mod.HOLDOUT)
        seg_best = pl.Series(
            np.asarray(arms)[best[[seg_index[s] for s in t_rows["browsing_type"]]]]
        )
        wasted = int((t_rows["arm_id"] != seg_best).sum())
        summary.append(
            {
                "mode": mode,
                "treated_sends": t_rows.height,
                "wasted_sends": wasted,
                "wasted_share": wasted / t_rows.height,
                "incremental_orders": int(t_rows["caused_order"].sum()),
            }
        )
    # The truth: incremental orders if every treated customer got arm a, on the same numbers.
    truth_orders = []
    for j, a in enumerate(arms):
        lab = lw.fresh()
        ti = treated["i"].to_numpy()
        for t in days:
            lab.deliver(t, ti, lw.dow(t) * 24 + FIXED_HOUR, j)
        truth_orders.append(
            {"arm_id": a, "true_incremental_orders_all": int(lab.outcomes()["caused_order"].sum())}
        )
    comparisons, arms_fixed = arms_mod.measure_arms(logs["fixed"], arms, seed=seed)
    arms_fixed = arms_fixed.join(pl.DataFrame(truth_orders), on="arm_id")
    adaptive_report = arms_mod.measure_adaptive(logs["adaptive"], arms, seed=seed)
    per_segment = []
    for mode, log in logs.items():
        treated_log = log.filter(pl.col("arm_id") != arms_mod.HOLDOUT)
        for s in SEGMENTS:
            part = treated_log.filter(pl.col("browsing_type") == s)
            agg = pl.DataFrame({"arm_id": arms}).join(
                part.group_by("arm_id").agg(n=pl.len(), x=pl.col(col).cast(pl.Int64).sum()),
                on="arm_id",
                how="left",
            )
            pb = arms_mod.prob_best(agg["x"].to_numpy(), agg["n"].to_numpy(), seed)
            nxt = final_shares[mode].filter(pl.col("browsing_type") == s)
            true_best = arms[int(best[seg_index[s]])]
            per_segment.append(
                {
                    "mode": mode,
                    "segment": s,
                    "true_best": true_best,
                    "found_best": arms[int(pb.argmax())],
                    "prob_best": float(pb.max()),
                    "next_send_favours": nxt.sort("share", descending=True)["arm_id"][0],
                    "sends": part.height,
                    "wasted_sends": int((part["arm_id"] != true_best).sum()),
                }
            )
    # Incremental orders with intervals (per-customer difference, adaptive - fixed).
    n = lw.truth.n
    d = _per_customer(
        logs["adaptive"].filter(pl.col("arm_id") != "holdout"), n, "caused_order"
    ) - _per_customer(logs["fixed"].filter(pl.col("arm_id") != "holdout"), n, "caused_order")
    total, lo, hi = _interval(d)
    wasted = {}
    for mode, log in logs.items():
        t_rows = log.filter(pl.col("arm_id") != arms_mod.HOLDOUT)
        seg_best = np.asarray(arms)[best[[seg_index[s] for s in t_rows["browsing_type"]]]]
        wasted[mode] = _per_customer(
            t_rows.with_columns(w=pl.Series(t_rows["arm_id"].to_numpy() != seg_best)), n, "w"
        )
    w_total, w_lo, w_hi = _interval(wasted["adaptive"] - wasted["fixed"])
    seg_of = lw.truth.segment
    for row in per_segment:
        d_seg = (wasted["adaptive"] - wasted["fixed"])[seg_of == seg_index[row["segment"]]]
        tot, w_l, w_h = _interval(d_seg) if row["mode"] == "adaptive" else (0.0, 0.0, 0.0)
        row |= {"wasted_vs_fixed": tot, "wasted_vs_fixed_lo": w_l, "wasted_vs_fixed_hi": w_h}
    summary_df = pl.DataFrame(summary).with_columns(
        wasted_vs_fixed=pl.Series([0.0, w_total]),
        wasted_vs_fixed_lo=pl.Series([0.0, w_lo]),
        wasted_vs_fixed_hi=pl.Series([0.0, w_hi]),
        orders_vs_fixed=pl.Series([0.0, total]),
        orders_vs_fixed_lo=pl.Series([0.0, lo]),
        orders_vs_fixed_hi=pl.Series([0.0, hi]),
    )
    return summary_df, comparisons, arms_fixed, adaptive_report, pl.DataFrame(per_segment)


def _segments(lw: LabWorld) -> pl.DataFrame:
    return lw.customers.select("customer_id", segment="browsing_type")


def arms_over_worlds(customers: int, seeds: list[int], days: int = 120) -> pl.DataFrame:
    """The multi-arm experiment on one world per seed with each reward: per reward, mode and
    segment, the share of worlds whose verdict (the arm found best; the arm the next send would
    favour) is the true best, with 95 % Wilson intervals, and the sends wasted on a non-best
    arm (the adaptive mode's difference from the fixed split: mean over worlds and a 95 %
    interval from their spread)."""
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    for seed in seeds:
        lw = lab_world(WorldConfig(customers=customers, days=days, seed=seed))
        for reward in REWARDS:
            *_, per = arms_experiment(lw, reward=reward)
            rows.append(per.with_columns(seed=pl.lit(seed), reward=pl.lit(reward)))
    runs = pl.concat(rows)
    z = float(norm.ppf(0.5 + LEVEL / 2))
    out = (
        runs.group_by("reward", "mode", "segment", maintain_order=True)
        .agg(
            worlds=pl.len(),
            found_true_best=(pl.col("found_best") == pl.col("true_best")).sum(),
            favours_true_best=(pl.col("next_send_favours") == pl.col("true_best")).sum(),
            wasted_share=pl.col("wasted_sends").sum() / pl.col("sends").sum(),
            wasted_vs_fixed=pl.col("wasted_vs_fixed").mean(),
            _sd=pl.col("wasted_vs_fixed").std(),
        )
        .with_columns(
            wasted_vs_fixed_lo=pl.col("wasted_vs_fixed")
            - z * pl.col("_sd") / pl.col("worlds").sqrt(),
            wasted_vs_fixed_hi=pl.col("wasted_vs_fixed")
            + z * pl.col("_sd") / pl.col("worlds").sqrt(),
        )
        .drop("_sd")
    )
    for col in ("found_true_best", "favours_true_best"):
        lo, hi = proportion_confint(out[col].to_numpy(), out["worlds"].to_numpy(), method="wilson")
        out = out.with_columns(pl.Series(f"{col}_lo", lo), pl.Series(f"{col}_hi", hi))
    return out


def arms_power(lw: LabWorld, sends: int = 6, holdout: float = 0.1) -> pl.DataFrame:
    """What the multi-arm test's data can resolve, per segment and reward: the true best and
    second arm (every treated customer re-simulated with each creative on the same numbers),
    their gap in caused orders per send, the fixed equal split's sends per arm, the power of a
    two-sided 5 % test between the two, P(the two are ranked right) and the sends per arm a
    test at 80 % power needs."""
    from dagster_project.lib.campaigns.audience import hash_unit

    who = lw.customers.filter(pl.col("has_marketing_consent").fill_null(False))
    ti = who.filter(pl.Series(hash_unit("lab_arms", who["customer_id"]).to_numpy() >= holdout))
    ti = ti["i"].to_numpy()
    parts = []
    for j, arm in enumerate(CREATIVES):
        lab = lw.fresh()
        for k in range(sends):
            t = EXPLORE_DAYS + 7 * k
            lab.deliver(t, ti, lw.dow(t) * 24 + FIXED_HOUR, j)
        out = lab.outcomes().filter(pl.col("d") >= EXPLORE_DAYS)
        parts.append(
            out.group_by(seg=pl.lit(pl.Series(lw.truth.segment)).gather(pl.col("i"))).agg(
                arm_id=pl.lit(arm),
                sends=pl.len(),
                caused=pl.col("caused_order").mean(),
                conversion=pl.col("converted").mean(),
                order_after_open=(pl.col("opened") & pl.col("converted")).mean(),
            )
        )
    per = pl.concat(parts).sort("seg", "caused", descending=[False, True])
    z_a, z_b = float(norm.ppf(0.975)), float(norm.ppf(0.8))
    rows = []
    for k, seg in enumerate(SEGMENTS):
        best, second = per.filter(pl.col("seg") == k).head(2).iter_rows(named=True)
        gap = best["caused"] - second["caused"]
        per_arm = best["sends"] / len(CREATIVES)
        for reward in REWARDS:
            p = (best[reward] + second[reward]) / 2
            z = gap / np.sqrt(2 * p * (1 - p) / per_arm)
            need = 2 * (z_a + z_b) ** 2 * p * (1 - p) / gap**2
            rows.append(
                {
                    "segment": seg,
                    "reward": reward,
                    "best": best["arm_id"],
                    "second": second["arm_id"],
                    "caused_per_send_gap": gap,
                    "reward_rate": p,
                    "sends_per_arm": per_arm,
                    "power": float(norm.cdf(z - z_a)),
                    "p_ranked_right": float(norm.cdf(z)),
                    "sends_per_arm_for_80pct": need,
                    "weeks_for_80pct": need * len(CREATIVES) / (best["sends"] / sends),
                }
            )
    return pl.DataFrame(rows)
