"""The day loop: marketing touches -> visit intensities -> sessions -> funnel -> purchases, run
for the factual world and its counterfactuals side by side.

Every scenario (factual, each channel switched off, all marketing off) shares the same keyed
uniforms (common random numbers): sessions of a customer-day are the inverse-CDF Poisson of a
fixed uniform at that day's intensity, and each session's funnel steps compare fixed uniforms to
probabilities. So a scenario differs from the factual world only through the intensities the
switched-off channel changed, and a channel whose lift is zero changes nothing, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ._rng import Streams
from .assortment import BASKET_PRICE_WEIGHT, COMPLEMENT_PROB, Assortment
from .calendar import Calendar
from .entities import DAILY_REACH, Campaigns, Catalogue, Customers, coupon_response
from .params import (
    ARCH,
    CAT_NAMES,
    CATEGORIES,
    CH,
    CHANNELS,
    CURVE_SCALES,
    DECAY_DAYS,
    EPISODE_BUY_MULT,
    EPISODE_START,
    EPISODE_STAY,
    EPISODE_VISIT_MULT,
    MAX_P_BUY,
    MAX_SESSIONS_PER_DAY,
    MIN_LIFT,
    PAID_CHANNELS,
    SEARCH_AFTER_VISIT,
    SEARCH_EPISODE_MULT,
    WorldConfig,
)
from .spend import reach_multiplier

NEVER = -(10**6)


@dataclass
class Scenarios:
    """The worlds the day loop runs side by side on the same random numbers. Scenario 0 is the
    one whose sessions, touches and audiences are recorded (the factual world or the lab's
    current policy); every scenario's purchases and coupons are recorded."""

    names: list[str]
    paid_spend: np.ndarray  # (S, paid channels, days) KRW a day: it drives paid reach
    crm_on: np.ndarray  # (S, channels) bool: the channel's CRM sends go out
    # The scenarios agree before fork_day (only scenario 0 runs until then, the others start
    # from its state); the loop ends before stop_day (None: the whole window).
    fork_day: int = 0
    stop_day: int | None = None
    # Campaign index -> (S, N) bool: who is sent the campaign in each scenario (replaces its
    # audience rule and holdout; the lab's targeting policies).
    sends: dict[int, np.ndarray] = field(default_factory=dict)
    record_sends: bool = False  # record every CRM send per scenario (s, i, c), for the lab


@dataclass
class LoopResult:
    scenarios: list[str]
    sessions: dict[str, np.ndarray]  # factual: i, d, k, view, cart, buy
    exposures: dict[str, np.ndarray]  # factual paid touches: c, d, i
    audience: dict[str, np.ndarray]  # factual CRM assignments: c, i, treated
    purchases: dict[str, np.ndarray]  # every scenario: s, i, d, k
    coupons: dict[str, np.ndarray]  # coupons held, every scenario: s, i, c, first, last
    sends: dict[str, np.ndarray]  # CRM sends per scenario (Scenarios.record_sends): s, i, c, d
    base_grid: np.ndarray  # (N, D) intensity without marketing
    lift_grid: np.ndarray  # (N, D) factual summed lift (before clipping)
    episode_grid: np.ndarray  # (N, D) in a shopping episode (the same in every scenario)
    paid_spend: np.ndarray  # (paid channels, D) scenario 0's daily spend, KRW
    # factual ghost impressions of the lift studies' holdouts: k (study), d, i
    ghosts: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class LoopBlock:
    """What the day loop recorded on days ``first`` .. ``stop - 1`` (``iter_days``): the fields
    of a LoopResult for those days, its grids (N, stop - first)."""

    first: int
    stop: int
    scenarios: list[str]
    sessions: dict[str, np.ndarray]
    exposures: dict[str, np.ndarray]
    audience: dict[str, np.ndarray]
    purchases: dict[str, np.ndarray]
    coupons: dict[str, np.ndarray]
    sends: dict[str, np.ndarray]
    base_grid: np.ndarray
    lift_grid: np.ndarray
    episode_grid: np.ndarray
    ghosts: dict[str, np.ndarray] = field(default_factory=dict)


_RECORDS = {
    "sessions": (
        "sess",
        ("i", "d", "k", "view", "cart", "buy"),
        (np.int64, np.int64, np.int64, bool, bool, bool),
    ),
    "exposures": ("expo", ("c", "d", "i"), (np.int64,) * 3),
    "audience": ("aud", ("c", "i", "treated"), (np.int64, np.int64, bool)),
    "purchases": ("buy", ("s", "i", "d", "k"), (np.int64,) * 4),
    "coupons": ("cpn", ("s", "i", "c", "first", "last"), (np.int64,) * 5),
    "sends": ("send", ("s", "i", "c", "d"), (np.int64,) * 4),
    "ghosts": ("ghost", ("k", "d", "i"), (np.int64,) * 3),
}


def _concat_records(parts: list, names, dtypes) -> dict[str, np.ndarray]:
    return {
        nm: (np.concatenate([p[j] for p in parts]).astype(dt) if parts else np.zeros(0, dtype=dt))
        for j, (nm, dt) in enumerate(zip(names, dtypes, strict=True))
    }


def run_days(
    cfg: WorldConfig,
    st: Streams,
    cal: Calendar,
    cust: Customers,
    camps: Campaigns,
    sc: Scenarios,
    progress: Callable[[int], None] | None = None,
) -> LoopResult:
    """The whole window's day loop in one result (``iter_days`` in one block)."""
    blocks = list(iter_days(cfg, st, cal, cust, camps, sc, progress))
    recs = {
        key: _concat_records([tuple(getattr(b, key).values()) for b in blocks], names, dtypes)
        for key, (_, names, dtypes) in _RECORDS.items()
    }
    return LoopResult(
        scenarios=sc.names,
        **recs,
        base_grid=np.concatenate([b.base_grid for b in blocks], axis=1),
        lift_grid=np.concatenate([b.lift_grid for b in blocks], axis=1),
        episode_grid=np.concatenate([b.episode_grid for b in blocks], axis=1),
        paid_spend=sc.paid_spend[0],
    )


def world_scenarios(cfg: WorldConfig, daily_spend: np.ndarray) -> Scenarios:
    """The simulator's scenarios: the factual world; with ``cfg.counterfactuals`` each channel
    off and all marketing off; with ``cfg.response_curves`` too, each paid channel's spend x
    each of CURVE_SCALES (the others factual), for truth/response_curves."""
    names, spend, crm = ["factual"], [daily_spend], [np.ones(len(CHANNELS), dtype=bool)]

    def add(name: str, paid: np.ndarray, crm_on: np.ndarray) -> None:
        names.append(name)
        spend.append(paid)
        crm.append(crm_on)

    if cfg.counterfactuals:
        for c in CHANNELS:
            paid, crm_on = daily_spend.copy(), np.ones(len(CHANNELS), dtype=bool)
            if c in PAID_CHANNELS:
                paid[PAID_CHANNELS.index(c)] = 0.0
            else:
                crm_on[CH[c]] = False
            add(f"no_{c}", paid, crm_on)
        add("no_marketing", np.zeros_like(daily_spend), np.zeros(len(CHANNELS), dtype=bool))
        if cfg.response_curves:
            for k, c in enumerate(PAID_CHANNELS):
                for x in CURVE_SCALES:
                    paid = daily_spend.copy()
                    paid[k] *= x
                    add(curve_scenario(c, x), paid, np.ones(len(CHANNELS), dtype=bool))
    return Scenarios(names, np.stack(spend), np.stack(crm))


def curve_scenario(channel: str, scale: float) -> str:
    return f"curve_{channel}_x{scale:g}"


def _episode_multipliers() -> tuple[tuple[float, float], tuple[float, float]]:
    """(outside, inside) multipliers of visits and of purchase probability, normalised so that a
    customer-day at the chain's stationary episode share keeps its mean visits and purchases."""
    share = EPISODE_START / (EPISODE_START + 1 - EPISODE_STAY)
    visit_out = 1 / (1 - share + share * EPISODE_VISIT_MULT)
    in_visits = share * EPISODE_VISIT_MULT * visit_out  # share of visits inside episodes
    buy_out = 1 / (1 - in_visits + in_visits * EPISODE_BUY_MULT)
    return (visit_out, visit_out * EPISODE_VISIT_MULT), (buy_out, buy_out * EPISODE_BUY_MULT)


EPISODE_VISITS, EPISODE_BUYS = _episode_multipliers()
EPISODE_SHARE = EPISODE_START / (EPISODE_START + 1 - EPISODE_STAY)


def buy_multiplier(in_episode: np.ndarray) -> np.ndarray:
    return np.where(in_episode, np.float32(EPISODE_BUYS[1]), np.float32(EPISODE_BUYS[0]))


def effective_lift(lift: np.ndarray) -> np.ndarray:
    return np.maximum(lift, np.float32(MIN_LIFT))


def purchase_prob(p_buy: np.ndarray, lift_eff: np.ndarray) -> np.ndarray:
    return np.minimum(p_buy * (1 + lift_eff), MAX_P_BUY)


def poisson_inverse(u: np.ndarray, lam: np.ndarray, kmax: int) -> np.ndarray:
    """Inverse-CDF Poisson draws (capped at kmax): monotone in ``lam`` for a fixed ``u``."""
    p = np.exp(-lam)
    n = (u > p).astype(np.int8)
    cols = np.flatnonzero(n.any(axis=0))
    if cols.size:
        lam_c, u_c = lam[:, cols], u[cols]
        p_c = p[:, cols]
        cdf = p_c.copy()
        n_c = n[:, cols]
        for k in range(1, kmax):
            p_c = p_c * lam_c / k
            cdf = cdf + p_c
            n_c += u_c > cdf
        n[:, cols] = n_c
    return n


def iter_days(
    cfg: WorldConfig,
    st: Streams,
    cal: Calendar,
    cust: Customers,
    camps: Campaigns,
    sc: Scenarios,
    progress: Callable[[int], None] | None = None,
    block_days: int | None = None,
) -> Iterator[LoopBlock]:
    """The day loop, handing over what it recorded every ``block_days`` days (None: once, at the
    end). The state carried from day to day is the same whatever the block size, so the blocks
    of any size concatenate to the same records."""
    n, w = cust.n, cfg.response_window_days
    days = cfg.days if sc.stop_day is None else sc.stop_day
    block_days = block_days or max(days, 1)
    if sc.fork_day > 0 and block_days < days:
        raise ValueError("a forked day loop (Scenarios.fork_day) runs in one block")
    block_first = 0
    scenarios = sc.names
    n_s = len(scenarios)
    on = sc.crm_on
    reach = reach_multiplier(cfg, sc.paid_spend)
    # Before the fork only scenario 0 runs; the state arrays gain the others at the fork.
    n_run = 1 if sc.fork_day > 0 else n_s

    ids = np.arange(n)
    decay = np.array([np.exp(-1.0 / DECAY_DAYS[c]) for c in CHANNELS], dtype=np.float32)
    has_lift = np.array([np.any(camps.lift[camps.channel == k] != 0) for k in range(len(CHANNELS))])
    lift_ch = np.flatnonzero(has_lift)
    # Per channel with any lift: the summed decayed lift of every scenario and customer, and the
    # CRM lift sent today that acts from tomorrow (only channels with lift: at 1M customers and
    # 35 scenarios each is 140 MB).
    acc = {k: np.zeros((n_run, n), dtype=np.float32) for k in lift_ch}
    crm_lift = {int(camps.channel[c]) for c in np.flatnonzero(camps.is_crm & (camps.lift != 0))}
    pending = {k: np.zeros((n_run, n), dtype=np.float32) for k in sorted(crm_lift)}
    last_visit = np.full((n_run, n), NEVER, dtype=np.int32)
    last_view, last_cart, last_buy = last_visit.copy(), last_visit.copy(), last_visit.copy()

    def new_grids(first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nb = min(block_days, days - first)
        return (
            np.zeros((n, nb), dtype=np.float32),
            np.zeros((n, nb), dtype=np.float32),
            np.zeros((n, nb), dtype=bool),
        )

    base_grid, lift_grid, episode_grid = new_grids(0)
    # Shopping episodes start from the chain's stationary share; marketing never changes them.
    in_episode = st.uniform("episode", ids, -1) < EPISODE_SHARE
    visit_mult = np.array(EPISODE_VISITS, dtype=np.float32)
    season = cal.season
    weather = cal.weather_mult.astype(np.float32)
    rec = {k: [] for k in ("sess", "expo", "aud", "buy", "cpn", "send", "ghost")}
    # Lift studies: each study's holdout, fixed per customer (cfg.lift_studies).
    held_out = [
        st.uniform("lift_study", k, ids) < s.holdout_share for k, s in enumerate(cfg.lift_studies)
    ]
    pending_ch: set[int] = set()
    coupon_mult = coupon_response(cust, st.uniform)[1].astype(np.float32)

    for d in range(days):
        if d == sc.fork_day and n_run < n_s:
            acc, pending = (
                {k: np.repeat(a, n_s, axis=-2) for k, a in m.items()} for m in (acc, pending)
            )
            last_visit, last_view, last_cart, last_buy = (
                np.repeat(a, n_s, axis=-2) for a in (last_visit, last_view, last_cart, last_buy)
            )
            _fork_records(rec, n_s)
            n_run = n_s
        signed = cust.signup_day <= d
        active = signed & (cust.dropout_day > d)
        u_episode = st.uniform("episode", ids, d)
        in_episode = np.where(in_episode, u_episode < EPISODE_STAY, u_episode < EPISODE_START)
        episode_grid[:, d - block_first] = in_episode
        base = (
            cust.visit_rate
            * np.float32(season[d])
            * weather[cust.region, d]
            * active
            * visit_mult[in_episode.astype(np.int8)]
        )
        base_grid[:, d - block_first] = base
        for k in lift_ch:
            acc[k] *= decay[k]
        for k in pending_ch:
            acc[k] += pending[k]
            pending[k][:] = 0.0
        pending_ch = set()

        # CRM sends scheduled today: audience from behaviour up to yesterday; the message acts
        # from tomorrow on (sends go out in the evening or at night).
        for c in np.flatnonzero(camps.is_crm & (camps.start_day == d)):
            ch = camps.channel[c]
            eligible = (cust.signup_day < d) & cust.opt_in
            if camps.night[c]:
                eligible &= cust.night_opt_in
            p_sel = _audience_prob(camps.objective[c], d, cust, last_visit, last_view, last_cart)
            chosen = eligible & (st.uniform("crm_select", c, ids) < p_sel)
            treated = chosen & (st.uniform("crm_holdout", c, ids) >= camps.holdout_share[c])
            if c in sc.sends:
                chosen = treated = eligible & sc.sends[c][:n_run]
            sent = treated & on[:n_run, ch, None]
            if camps.lift[c] != 0:
                # A coupon's lift depends on the customer (entities.coupon_response).
                lift_c = np.float32(camps.lift[c]) * (
                    coupon_mult if camps.coupon_type[c] else np.float32(1)
                )
                pending[ch] += np.where(sent, lift_c, np.float32(0))
                pending_ch.add(ch)
            if camps.coupon_type[c]:
                s_idx, i_idx = np.nonzero(sent)
                rec["cpn"].append(
                    (
                        s_idx,
                        i_idx,
                        np.full(i_idx.size, c),
                        np.full(i_idx.size, d + 1),
                        np.full(i_idx.size, d + w),
                    )
                )
            if sc.record_sends:
                s_idx, i_idx = np.nonzero(sent)
                rec["send"].append((s_idx, i_idx, np.full(i_idx.size, c), np.full(i_idx.size, d)))
            i_aud = np.flatnonzero(chosen[0])
            rec["aud"].append((np.full(i_aud.size, c), i_aud, treated[0, i_aud]))

        # Paid exposures: one draw per channel and customer-day, the campaign picked among the
        # channel's running ones; the spend of each scenario scales the targeting probability.
        running = (~camps.is_crm) & (camps.start_day <= d) & (camps.end_day >= d)
        for ch_name in PAID_CHANNELS:
            ch = CH[ch_name]
            camp_ids = np.flatnonzero(running & (camps.channel == ch))
            if not camp_ids.size:
                continue
            p = _exposure_prob(
                ch_name, d, cust, in_episode, last_visit, last_view, last_cart, last_buy
            )
            p = np.minimum(np.broadcast_to(p, (n_run, n)) * reach[:n_run, ch, d, None], 1)
            exposed = signed & (st.uniform("expose", ch, ids, d) < p)
            for k, study in enumerate(cfg.lift_studies):
                if study.channel == ch_name and study.start_day <= d < study.start_day + study.days:
                    # ghost ads: the held-out customers' would-be impressions are logged, not served
                    ghost = np.flatnonzero(exposed[0] & held_out[k])
                    rec["ghost"].append((np.full(ghost.size, k), np.full(ghost.size, d), ghost))
                    exposed = exposed & ~held_out[k]
            j = np.flatnonzero(exposed.any(axis=0))
            exposed = exposed[:, j]
            pick = camp_ids[(st.uniform("expose_pick", ch, j, d) * camp_ids.size).astype(int)]
            if has_lift[ch]:
                acc[ch][:, j] += np.where(
                    exposed, camps.lift[pick].astype(np.float32), np.float32(0)
                )
            rec["expo"].append((pick[exposed[0]], np.full(int(exposed[0].sum()), d), j[exposed[0]]))

        lift = np.zeros((n_run, n), np.float32)
        for k in lift_ch:
            lift += acc[k]
        lift_grid[:, d - block_first] = lift[0]
        ai = np.flatnonzero(active)
        lift_a = effective_lift(lift[:, ai])
        lam = base[ai] * (1 + lift_a)
        n_sess = poisson_inverse(st.uniform("session", ai, d), lam, MAX_SESSIONS_PER_DAY)
        visiting = np.flatnonzero(n_sess.any(axis=0))
        ci, nn = ai[visiting], n_sess[:, visiting]
        p_b = purchase_prob(cust.p_buy[ci] * buy_multiplier(in_episode[ci]), lift_a[:, visiting])
        any_view = np.zeros(nn.shape, dtype=bool)
        any_cart, any_buy = any_view.copy(), any_view.copy()
        for k in range(int(nn.max(initial=0))):
            here = nn > k
            view = here & (st.uniform("view", ci, d, k) < cust.p_view[ci])
            cart = view & (st.uniform("cart", ci, d, k) < cust.p_cart[ci])
            buy = cart & (st.uniform("buy", ci, d, k) < p_b)
            any_view |= view
            any_cart |= cart
            any_buy |= buy
            s_b, j_b = np.nonzero(buy)
            rec["buy"].append((s_b, ci[j_b], np.full(j_b.size, d), np.full(j_b.size, k)))
            j_s = np.flatnonzero(here[0])
            rec["sess"].append(
                (
                    ci[j_s],
                    np.full(j_s.size, d),
                    np.full(j_s.size, k),
                    view[0, j_s],
                    cart[0, j_s],
                    buy[0, j_s],
                )
            )
        for state, flag in (
            (last_visit, nn > 0),
            (last_view, any_view),
            (last_cart, any_cart),
            (last_buy, any_buy),
        ):
            state[:, ci] = np.where(flag, d, state[:, ci])
        if progress is not None:
            progress(d)
        if d + 1 - block_first == base_grid.shape[1]:
            yield LoopBlock(
                first=block_first,
                stop=d + 1,
                scenarios=scenarios,
                **{
                    key: _concat_records(rec[r], names, dtypes)
                    for key, (r, names, dtypes) in _RECORDS.items()
                },
                base_grid=base_grid,
                lift_grid=lift_grid,
                episode_grid=episode_grid,
            )
            rec = {k: [] for k in rec}
            block_first = d + 1
            if block_first < days:
                base_grid, lift_grid, episode_grid = new_grids(block_first)


def _fork_records(rec: dict[str, list], n_s: int) -> None:
    """At the fork every scenario inherits scenario 0's purchases, coupons and sends so far, so
    that a coupon used before the fork is used in every scenario."""
    for key in ("buy", "cpn", "send"):
        parts = rec[key]
        if not parts:
            continue
        cols = [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
        m = cols[0].size
        rec[key] = [(np.repeat(np.arange(n_s), m), *(np.tile(col, n_s) for col in cols[1:]))]


def _audience_prob(
    objective: str, d: int, cust: Customers, last_visit, last_view, last_cart
) -> np.ndarray:
    """CRM targeting: who a marketer would pick. It favours already-engaged customers, which is
    what makes naive (untreated-free) CRM measurement over-credit these campaigns."""
    if objective == "retention":
        return np.where(d - last_visit <= 30, 0.7, 0.05)
    if objective == "reactivation":
        lapsed = (d - last_visit > 30) & ((d - last_visit <= 180) | (cust.signup_day < d - 30))
        return np.where(lapsed, 0.6, 0.03)
    return np.where(d - last_cart <= 7, 0.9, np.where(d - last_view <= 7, 0.4, 0.02))


def _exposure_prob(
    channel: str,
    d: int,
    cust: Customers,
    in_episode: np.ndarray,
    last_visit,
    last_view,
    last_cart,
    last_buy,
) -> np.ndarray | float:
    if channel == "search_ads":
        # People who search now: the days after a visit, more so inside a shopping episode (the
        # latent intent a model can only see through the visits).
        intent = np.where(
            last_visit >= d - 2,
            np.float32(SEARCH_AFTER_VISIT),
            np.float32(0.3) * cust.visit_rate,
        ) * np.where(in_episode, np.float32(SEARCH_EPISODE_MULT), np.float32(1))
        return np.minimum(intent, np.float32(0.6))
    if channel == "retargeting":
        # Recent viewers and abandoned carts, most of all the fresh ones: it follows the visits.
        abandoned = (last_cart >= d - 7) & (last_cart > last_buy)
        fresh = np.float32(1) + (last_view >= d - 1)
        return fresh * np.where(
            abandoned,
            np.float32(0.20),
            np.where(last_view >= d - 7, np.float32(0.08), np.float32(0)),
        )
    if channel == "social":
        return DAILY_REACH[channel] * cust.social_reach
    return DAILY_REACH[channel]


def order_lines(
    st: Streams,
    cust: Customers,
    catalogue: Catalogue,
    assortment: Assortment,
    i: np.ndarray,
    d: np.ndarray,
    k: np.ndarray,
) -> dict[str, np.ndarray]:
    """The basket of the purchase in session (i, d, k): a fixed function of those coordinates, so
    counterfactual worlds price the same purchase identically. 1-3 distinct products whose unit
    prices track the customer's lognormal order value, chosen by the customer's style, favourite
    sellers and the risers (``assortment.choose``); an anchor product pulls its complement in."""
    n_cat = len(CAT_NAMES)
    arch = cust.archetype[i]
    cuts = np.asarray(ARCH["lines"])[arch]
    u = st.uniform("order", i, d, k, 0)
    n_lines = 1 + (u > cuts[:, 0]) + (u > cuts[:, 1])
    z = st.normal("order", i, d, k, 1)
    value = np.exp(cust.value_mu[i] + cust.value_sigma[i] * z)
    pop_cdf = np.cumsum([CATEGORIES[c][0] for c in CAT_NAMES])
    pop_cdf /= pop_cdf[-1]
    beauty = CAT_NAMES.index("beauty")
    prods = np.zeros((i.size, 3), dtype=np.int64)
    qty = np.ones((i.size, 3), dtype=np.int64)
    for j in range(3):
        slot = 10 * (j + 1)
        other = np.minimum(
            np.searchsorted(pop_cdf, st.uniform("order", i, d, k, slot + 1)), n_cat - 1
        )
        cat = np.where(st.uniform("order", i, d, k, slot) < 0.7, cust.pref_cat[i], other)
        q2 = np.where(cat == beauty, np.where(arch == 1, 0.35, 0.15), 0.05)
        qty[:, j] += st.uniform("order", i, d, k, slot + 2) < q2
        target = np.log(value / n_lines / qty[:, j])
        prods[:, j] = assortment.choose(
            cust,
            catalogue,
            i,
            d,
            cat,
            target,
            BASKET_PRICE_WEIGHT,
            lambda m, slot=slot: st.uniform("order", i, d, k, slot + 3, m),
        )
    partner = assortment.partner[prods[:, 0]]
    pull = (
        (partner >= 0)
        & (catalogue.created_day[np.maximum(partner, 0)] < d)
        & (st.uniform("order", i, d, k, 5) < COMPLEMENT_PROB)
    )
    n_lines = np.where(pull, np.maximum(n_lines, 2), n_lines)
    prods[:, 1] = np.where(pull, partner, prods[:, 1])
    qty[:, 1] = np.where(pull, 1, qty[:, 1])
    valid = np.arange(3)[None, :] < n_lines[:, None]
    valid[:, 1] &= prods[:, 1] != prods[:, 0]
    valid[:, 2] &= (prods[:, 2] != prods[:, 0]) & (prods[:, 2] != prods[:, 1])
    price = catalogue.price_on(prods, d[:, None])
    gross = (valid * qty * price).sum(axis=1)
    return {"product": prods, "qty": qty, "price": price, "valid": valid, "gross": gross}


def hazard(
    cust: Customers, i: np.ndarray, base: np.ndarray, lift: np.ndarray, in_episode: np.ndarray
) -> np.ndarray:
    """Expected purchases of customers ``i`` on days of intensity ``base``, summed lift ``lift``
    and shopping-episode state ``in_episode`` (all 1-D, aligned)."""
    le = effective_lift(lift)
    p_buy = cust.p_buy[i] * buy_multiplier(in_episode)
    return base * (1 + le) * cust.p_view[i] * cust.p_cart[i] * purchase_prob(p_buy, le)
