"""The world's cast, drawn once: campaigns, customers (with their latent traits), sellers and the
product catalogue."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .params import (
    ARCH,
    ARCHETYPE_SHARE,
    AUDIENCE_LABEL,
    CAT_NAMES,
    CATEGORIES,
    CH,
    CHANNELS,
    CRM_CHANNELS,
    DEVICE_SHARE,
    DROPOUT_BETA,
    NAME_LABELS,
    OBJECTIVES,
    PAID_CHANNELS,
    RATE_GAMMA_SHAPE,
    REGION_NAMES,
    REGIONS,
    STYLES,
    UTM,
    VALUE_MU_SD,
    WorldConfig,
)

# Reach of the broad channels per active campaign-day: over a campaign of a month or two they
# touch nearly every customer. Affiliate reaches few.
DAILY_REACH = {"display": 0.05, "social": 0.05, "affiliate": 0.012}
ACQUISITION_SHARE = 0.45  # of sign-ups that come through a paid channel ...
ACQUISITION_CHANNELS = {"search_ads": 0.35, "social": 0.30, "display": 0.10, "affiliate": 0.25}
DAY_SEND_HOURS = (10, 12, 18, 19, 20)
# CRM campaigns differ in strength, as real ones do: two KakaoTalk campaigns in three are strong
# offers (lift x STRONG_CRM_MULT, true uplifts of 0.05-0.15 that the demo's holdouts can see),
# the third keeps the channel's small lift (too small to see). The strong offers, every email and
# app push reactivation campaign and the night push are 50/50 tests (TEST_HOLDOUT_SHARE), so an
# effect, or its absence, can be shown with the demo's few thousand customers per campaign.
STRONG_CRM_MULT = 6.0
TEST_HOLDOUT_SHARE = 0.5
# Coupon response (heterogeneous): a coupon campaign's lift on a customer is its lift times the
# customer's multiplier. Persuadables buy (more) only with a coupon; sure things (frequent
# buyers) and lost causes (rare buyers) are not moved; sleeping dogs are put off.
COUPON_KINDS = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
COUPON_MULT = np.array([3.0, 0.0, 0.0, -1.0])
SLEEPING_DOG_SHARE = 0.05


@dataclass
class Campaigns:
    campaign_id: np.ndarray
    name: np.ndarray
    malformed: np.ndarray
    channel: np.ndarray  # channel index
    objective: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray  # inclusive
    start_sec: np.ndarray  # KST seconds of the day the campaign starts (the send, for CRM)
    night: np.ndarray
    lift: np.ndarray
    holdout_share: np.ndarray
    utm_source: np.ndarray
    n_creatives: np.ndarray
    coupon_type: np.ndarray  # "" when the campaign has no coupon
    coupon_value: np.ndarray
    coupon_min: np.ndarray

    def __len__(self) -> int:
        return len(self.campaign_id)

    @property
    def is_crm(self) -> np.ndarray:
        return self.channel >= CH["app_push"]


def build_campaigns(cfg: WorldConfig, rng: np.random.Generator) -> Campaigns:
    days, w = cfg.days, cfg.response_window_days
    rows = []
    for ch in PAID_CHANNELS:
        n = max(2, math.ceil(days / 45))
        spacing = days / n
        for j in range(n):
            start = round(j * spacing)
            end = (
                days - 1
                if j == n - 1
                else min(days - 1, start + round(spacing * rng.uniform(1.0, 1.35)))
            )
            rows.append(
                dict(
                    ch=ch,
                    start=start,
                    end=end,
                    sec=0,
                    night=False,
                    objective=str(rng.choice(OBJECTIVES[ch])),
                )
            )
    counts = {
        "app_push": max(3, days // 15),
        "kakaotalk": max(2, days // 20),
        "email": max(2, days // 20),
    }
    for ch in CRM_CHANNELS:
        n = counts[ch]
        for j in range(n):
            send = int(np.clip(round((j + 0.5) * days / n + rng.uniform(-2, 2)), 1, days - 2))
            night_hour = {
                "app_push": 23.0 if j == n // 2 else None,
                "kakaotalk": 21.5 if j == 1 else None,
            }.get(ch)
            hour = night_hour if night_hour is not None else float(rng.choice(DAY_SEND_HOURS))
            # The night push goes to engaged customers (retention), who then mute or leave.
            objective = (
                "retention"
                if ch == "app_push" and night_hour is not None
                else OBJECTIVES[ch][j % len(OBJECTIVES[ch])]
            )
            rows.append(
                dict(
                    ch=ch,
                    start=send,
                    end=min(days - 1, send + w),
                    sec=int(hour * 3600),
                    night=night_hour is not None,
                    objective=objective,
                    coupon=ch == "kakaotalk" and j % 2 == 0,
                    strong=ch == "kakaotalk" and j % 3 != 1,
                    test=(ch == "kakaotalk" and j % 3 != 1)
                    or (ch != "kakaotalk" and objective == "reactivation")
                    or (ch == "app_push" and night_hour is not None),
                )
            )
    rows.sort(key=lambda r: (r["start"], r["sec"], CH[r["ch"]]))

    for r in rows:
        ch = r["ch"]
        base = cfg.channel_lift[ch]
        if ch == "app_push" and r["night"]:
            r["lift"] = cfg.negative_push_lift
        else:
            strength = STRONG_CRM_MULT if r.get("strong") else 1.0
            r["lift"] = round(base * rng.uniform(0.5, 1.5) * strength, 4) if base else 0.0
        r["holdout"] = round(rng.uniform(*cfg.holdout_share), 3) if ch in CRM_CHANNELS else 0.0
        if r.get("test"):
            r["holdout"] = TEST_HOLDOUT_SHARE
        r["source"] = str(rng.choice(UTM[ch][0]))
        r["creatives"] = int(rng.integers(2, 5))
        r["audience"] = str(rng.choice(AUDIENCE_LABEL[r["objective"]]))
        r["label"] = str(rng.choice(NAME_LABELS))
        if r.get("coupon"):
            if rng.random() < 0.5:
                r["coupon"] = ("percent", float(rng.choice([10.0, 15.0, 20.0])))
            else:
                r["coupon"] = ("fixed", float(rng.choice([3_000.0, 5_000.0, 10_000.0])))
            r["coupon_min"] = float(rng.choice([30_000.0, 50_000.0]))

    n = len(rows)
    n_bad = round(cfg.malformed_name_share * n)
    if cfg.malformed_name_share > 0 and n >= 10:
        n_bad = max(1, n_bad)
    bad = set(rng.choice(n, size=n_bad, replace=False).tolist()) if n_bad else set()
    names, malformed, n_broken = [], [], 0
    for j, r in enumerate(rows):
        day = cfg.start_date.toordinal() + r["start"]
        ymd = _date_str(day)
        parts = [r["ch"], r["objective"], ymd, r["audience"], r["label"]]
        if j in bad:
            kind, n_broken = n_broken % 3, n_broken + 1
            if kind == 0:  # a missing part
                del parts[3]
            elif kind == 1:  # a date that is not yyyymmdd
                parts[2] = f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}" if j % 2 else f"{ymd[:4]}13{ymd[6:]}"
            else:  # a channel outside the taxonomy
                parts[0] = {"search_ads": "naver_sa", "kakaotalk": "kakao", "social": "fb"}.get(
                    r["ch"], r["ch"].replace("_", "") + "x"
                )
        names.append("_".join(parts))
        malformed.append(j in bad)

    return Campaigns(
        campaign_id=np.array([f"CMP{j + 1:04d}" for j in range(n)]),
        name=np.array(names),
        malformed=np.array(malformed),
        channel=np.array([CH[r["ch"]] for r in rows]),
        objective=np.array([r["objective"] for r in rows]),
        start_day=np.array([r["start"] for r in rows]),
        end_day=np.array([r["end"] for r in rows]),
        start_sec=np.array([r["sec"] for r in rows]),
        night=np.array([r["night"] for r in rows]),
        lift=np.array([r["lift"] for r in rows]),
        holdout_share=np.array([r["holdout"] for r in rows]),
        utm_source=np.array([r["source"] for r in rows]),
        n_creatives=np.array([r["creatives"] for r in rows]),
        coupon_type=np.array([r["coupon"][0] if r.get("coupon") else "" for r in rows]),
        coupon_value=np.array([r["coupon"][1] if r.get("coupon") else 0.0 for r in rows]),
        coupon_min=np.array([r.get("coupon_min", 0.0) for r in rows]),
    )


def _date_str(ordinal: int) -> str:
    from datetime import date

    return date.fromordinal(ordinal).strftime("%Y%m%d")


@dataclass
class Customers:
    n: int
    archetype: np.ndarray
    gender: np.ndarray
    birth_year: np.ndarray
    region: np.ndarray
    opt_in: np.ndarray
    night_opt_in: np.ndarray
    signup_day: np.ndarray
    signup_sec: np.ndarray
    dropout_day: np.ndarray  # first day the customer is gone (exclusive end of activity)
    visit_rate: np.ndarray
    p_view: np.ndarray
    p_cart: np.ndarray
    p_buy: np.ndarray
    value_mu: np.ndarray
    value_sigma: np.ndarray
    pref_cat: np.ndarray
    pref_style: np.ndarray
    device: np.ndarray
    social_reach: np.ndarray
    acquisition: np.ndarray  # channel name or "organic"
    acquisition_campaign: np.ndarray  # campaign index or -1


def build_customers(
    cfg: WorldConfig, rng: np.random.Generator, camps: Campaigns, u_acq
) -> Customers:
    n, days = cfg.customers, cfg.days
    arch = rng.choice(3, size=n, p=ARCHETYPE_SHARE)
    gender = rng.choice(np.array(["F", "M", "U"]), size=n, p=[0.58, 0.38, 0.04])
    age = np.clip(17 + rng.gamma(2.4, 6.0, size=n), 17, 75).astype(np.int64)
    birth_year = cfg.start_date.year - age
    reg_share = np.array([REGIONS[r][0] for r in REGION_NAMES])
    region = rng.choice(len(REGION_NAMES), size=n, p=reg_share / reg_share.sum())
    opt_in = rng.random(n) < cfg.marketing_opt_in_share
    night = opt_in & (rng.random(n) < cfg.night_opt_in_share)

    pre = rng.random(n) < cfg.pre_start_signup_share
    signup_day = np.where(
        pre, -rng.integers(1, 731, size=n), np.floor(days * rng.random(n) ** 0.9).astype(np.int64)
    )
    signup_sec = rng.integers(0, 86_400, size=n)
    p_drop = rng.beta(*DROPOUT_BETA, size=n)
    dropout_day = signup_day + rng.geometric(p_drop)

    rate = rng.gamma(RATE_GAMMA_SHAPE, 1.0 / RATE_GAMMA_SHAPE, size=n)
    rate *= np.asarray(ARCH["visit_rate"])[arch] * cfg.visit_rate_scale
    value_mu = rng.normal(np.asarray(ARCH["value_mu"])[arch], VALUE_MU_SD)
    value_sigma = rng.uniform(0.4, 0.6, size=n)

    # Preferred category: popularity x gender x archetype (mania leans to beauty, the consumable).
    pop = np.array([CATEGORIES[c][0] for c in CAT_NAMES])
    w = np.tile(pop, (n, 1))
    w[gender == "F", CAT_NAMES.index("womens_clothing")] *= 2.5
    w[gender == "F", CAT_NAMES.index("mens_clothing")] *= 0.2
    w[gender == "M", CAT_NAMES.index("mens_clothing")] *= 2.5
    w[gender == "M", CAT_NAMES.index("womens_clothing")] *= 0.15
    w[arch == 1, CAT_NAMES.index("beauty")] *= 3.0
    w[age > 35, CAT_NAMES.index("kids")] *= 2.5
    cdf = np.cumsum(w, axis=1)
    pref_cat = (rng.random(n)[:, None] * cdf[:, -1:] > cdf).sum(axis=1)
    pref_style = rng.integers(0, len(STYLES), size=n)
    device = rng.choice(len(DEVICE_SHARE), size=n, p=DEVICE_SHARE)
    social_reach = np.clip(1.6 - (age - 17) / 30.0, 0.5, 1.6)

    # Acquisition: a share of in-window sign-ups came through a paid campaign running that day;
    # the campaign with the highest keyed score among those running wins.
    acq_ch = rng.choice(
        np.array(list(ACQUISITION_CHANNELS)), size=n, p=list(ACQUISITION_CHANNELS.values())
    )
    paid = rng.random(n) < ACQUISITION_SHARE
    acq_campaign = np.full(n, -1)
    best = np.full(n, -1.0)
    ids = np.arange(n)
    for c in range(len(camps)):
        ch = CHANNELS[camps.channel[c]]
        if ch not in ACQUISITION_CHANNELS:
            continue
        cand = (
            (acq_ch == ch)
            & paid
            & (signup_day >= camps.start_day[c])
            & (signup_day <= camps.end_day[c])
        )
        score = np.where(cand, u_acq(c, ids), -1.0)
        win = score > best
        best[win], acq_campaign[win] = score[win], c
    in_window = signup_day >= 0
    acquisition = np.where(
        in_window, np.where(acq_campaign >= 0, acq_ch, "organic"), np.where(paid, acq_ch, "organic")
    )

    return Customers(
        n=n,
        archetype=arch,
        gender=gender,
        birth_year=birth_year,
        region=region,
        opt_in=opt_in,
        night_opt_in=night,
        signup_day=signup_day,
        signup_sec=signup_sec,
        dropout_day=dropout_day,
        visit_rate=rate.astype(np.float32),
        p_view=np.asarray(ARCH["p_view"])[arch],
        p_cart=np.asarray(ARCH["p_cart"])[arch],
        p_buy=np.asarray(ARCH["p_buy"])[arch],
        value_mu=value_mu,
        value_sigma=value_sigma,
        pref_cat=pref_cat,
        pref_style=pref_style,
        device=device,
        social_reach=social_reach,
        acquisition=acquisition,
        acquisition_campaign=acq_campaign,
    )


def coupon_response(cust: Customers, uniform) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's coupon response kind (index into COUPON_KINDS) and lift multiplier.
    Price-sensitive customers (cheap habitual baskets) who buy now and then are persuadable; the
    chance falls with the purchase rate, so the customers a response model ranks first (who buy
    anyway) are mostly sure things. `uniform(name, ids)` is the world's keyed stream."""
    rate = np.log(cust.visit_rate * cust.p_view * cust.p_cart * cust.p_buy)
    z_rate = (rate - np.median(rate)) / rate.std()
    z_value = (cust.value_mu - np.median(cust.value_mu)) / cust.value_mu.std()
    p_persuadable = 0.8 / (1 + np.exp(1.5 * z_value + 1.0 * z_rate))
    u = uniform("coupon_response", np.arange(cust.n))
    kind = np.where(
        u < SLEEPING_DOG_SHARE,
        3,
        np.where(u < SLEEPING_DOG_SHARE + p_persuadable, 0, np.where(z_rate > 0, 1, 2)),
    )
    return kind, COUPON_MULT[kind]


@dataclass
class Sellers:
    n: int
    name: np.ndarray
    style: np.ndarray
    main_cat: np.ndarray
    joined_day: np.ndarray
    joined_sec: np.ndarray
    price_level: np.ndarray  # multiplies the category's median price of the seller's products


_ADJ = (
    "Urban",
    "Mellow",
    "Blue",
    "Daily",
    "Slow",
    "Bold",
    "Quiet",
    "Sunny",
    "North",
    "Lazy",
    "Modern",
    "Little",
    "Wild",
    "Soft",
    "Grand",
    "Pure",
    "Hidden",
    "Vivid",
    "Plain",
    "Noble",
    "Hanok",
    "Seoul",
    "Mono",
    "Retro",
    "Fresh",
    "Cozy",
    "Sharp",
    "Lucky",
    "Minor",
    "Prime",
)
_NOUN = (
    "Closet",
    "Studio",
    "Lab",
    "Works",
    "Archive",
    "Room",
    "Market",
    "Atelier",
    "Garage",
    "Label",
    "Club",
    "Supply",
    "House",
    "Corner",
    "Shelf",
    "Factory",
    "Wardrobe",
    "Stitch",
    "Thread",
    "Mood",
    "Table",
    "Company",
    "Basics",
    "Edition",
    "Line",
    "Store",
    "Attic",
    "Dept",
    "Goods",
    "Project",
)


def build_sellers(cfg: WorldConfig, rng: np.random.Generator) -> Sellers:
    n = cfg.n_sellers
    combos = rng.permutation(len(_ADJ) * len(_NOUN))
    names = []
    for j in range(n):  # all adjective-noun pairs once, then again with a number
        adj, noun = divmod(int(combos[j % combos.size]), len(_NOUN))
        suffix = f" {j // combos.size + 1}" if j >= combos.size else ""
        names.append(f"{_ADJ[adj]} {_NOUN[noun]}{suffix}")
    late = rng.random(n) < 0.10
    late[0] = False  # the first seller is always there before the window
    joined = np.where(
        late, rng.integers(0, max(1, cfg.days - 10), size=n), -rng.integers(30, 1500, size=n)
    )
    pop = np.array([CATEGORIES[c][0] for c in CAT_NAMES])
    return Sellers(
        n=n,
        name=np.array(names),
        style=rng.integers(0, len(STYLES), size=n),
        main_cat=rng.choice(len(CAT_NAMES), size=n, p=pop / pop.sum()),
        joined_day=joined,
        joined_sec=rng.integers(0, 43_200, size=n),
        price_level=rng.lognormal(0.0, 0.35, size=n),
    )


@dataclass
class Catalogue:
    """Products sorted by (category, created) so that the products of a category listed before a
    day are a prefix of its block: ``block_start[c] + [0, avail[c, d])``."""

    n: int
    product_id: np.ndarray
    seller: np.ndarray
    cat: np.ndarray
    l2: np.ndarray
    price: np.ndarray
    style: np.ndarray
    created_day: np.ndarray
    created_sec: np.ndarray
    block_start: np.ndarray
    avail: np.ndarray  # (n_cat, days + 1) products listed before the start of day d
    # Price drops (prices.plant_price_drops): the day each product is marked down and its new
    # price; None: no drops.
    drop_day: np.ndarray | None = None
    drop_price: np.ndarray | None = None

    def pick(self, cat: np.ndarray, day: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A product of ``cat`` listed before ``day``, chosen by the uniform ``u``."""
        return self.block_start[cat] + (u * self.avail[cat, day]).astype(np.int64)

    def price_on(self, prods: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The unit price of ``prods`` on business ``day`` (broadcast)."""
        if self.drop_day is None:
            return self.price[prods]
        return np.where(day >= self.drop_day[prods], self.drop_price[prods], self.price[prods])


def build_catalogue(cfg: WorldConfig, rng: np.random.Generator, sellers: Sellers) -> Catalogue:
    n0, per_day, days = cfg.n_initial_products, cfg.n_new_products_per_day, cfg.days
    n = n0 + per_day * days
    n_cat = len(CAT_NAMES)
    created = np.concatenate([-rng.integers(1, 541, size=n0), np.repeat(np.arange(days), per_day)])
    sec = rng.integers(0, 86_400, size=n)
    seller_w = rng.lognormal(0.0, 1.0, size=sellers.n)
    seller = rng.choice(sellers.n, size=n, p=seller_w / seller_w.sum())
    pop = np.array([CATEGORIES[c][0] for c in CAT_NAMES])
    cat = np.where(
        rng.random(n) < 0.8, sellers.main_cat[seller], rng.choice(n_cat, size=n, p=pop / pop.sum())
    )
    # Every category has listings from a long-standing seller before the window opens.
    seed_rows = np.arange(3 * n_cat)
    cat[seed_rows], seller[seed_rows] = seed_rows % n_cat, 0
    late = created <= sellers.joined_day[seller]
    created = np.where(late, sellers.joined_day[seller] + 1, created)
    l2 = (rng.random(n) * np.array([len(CATEGORIES[c][2]) for c in CAT_NAMES])[cat]).astype(int)
    median = np.array([CATEGORIES[c][1] for c in CAT_NAMES])[cat]
    raw_price = median * sellers.price_level[seller] * rng.lognormal(0.0, 0.35, size=n)
    price = np.maximum(900.0, np.round(raw_price / 1000.0) * 1000.0 - 100.0)
    style = np.where(
        rng.random(n) < 0.8, sellers.style[seller], rng.integers(0, len(STYLES), size=n)
    )

    # Ids follow listing time; the working order is (category, listing time).
    chrono = np.lexsort((np.arange(n), sec, created))
    pid_rank = np.empty(n, dtype=np.int64)
    pid_rank[chrono] = np.arange(n)
    width = max(6, len(str(n)))
    order = np.lexsort((pid_rank, cat))
    cat, created, sec = cat[order], created[order], sec[order]
    pids = np.char.add("P", np.char.zfill(pid_rank[order].astype(str), width))
    block_start = np.searchsorted(cat, np.arange(n_cat), side="left")
    block_end = np.searchsorted(cat, np.arange(n_cat), side="right")
    avail = np.stack(
        [
            np.searchsorted(
                created[block_start[c] : block_end[c]], np.arange(days + 1), side="left"
            )
            for c in range(n_cat)
        ]
    )
    return Catalogue(
        n=n,
        product_id=pids,
        seller=seller[order],
        cat=cat,
        l2=l2[order],
        price=price[order],
        style=style[order],
        created_day=created,
        created_sec=sec,
        block_start=block_start,
        avail=avail,
    )
