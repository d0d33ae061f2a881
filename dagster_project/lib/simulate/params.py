"""The simulator's configuration and the planted parameters (the truth it writes out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

CHANNELS = (
    "search_ads",
    "display",
    "social",
    "affiliate",
    "retargeting",
    "app_push",
    "kakaotalk",
    "email",
)
PAID_CHANNELS = CHANNELS[:5]
CRM_CHANNELS = CHANNELS[5:]
CH = {c: i for i, c in enumerate(CHANNELS)}

COST_MODEL = {
    "search_ads": "cpc",
    "display": "cpm",
    "social": "cpm",
    "affiliate": "cpa",
    "retargeting": "cpc",
    "app_push": "free",
    "kakaotalk": "per_send",
    "email": "free",
}
# KRW per click (cpc), per 1000 impressions (cpm), per conversion (cpa), per send (per_send).
UNIT_COST = {
    "search_ads": 650.0,
    "display": 4_000.0,
    "social": 7_000.0,
    "affiliate": 4_500.0,
    "retargeting": 380.0,
    "app_push": 0.0,
    "kakaotalk": 20.0,
    "email": 0.0,
}

# True effect of a touch: the customer's visit intensity and in-session purchase probability are
# both multiplied by (1 + lift), the lift decaying by exp(-days / decay_days). Campaign lifts are
# drawn around the channel's value (x U(0.5, 1.5)). display and email do nothing; app_push does
# nothing except one night campaign that annoys people (NEGATIVE_PUSH_LIFT).
CHANNEL_LIFT = {
    "search_ads": 0.35,
    "display": 0.0,
    "social": 0.12,
    "affiliate": 0.25,
    "retargeting": 0.08,
    "app_push": 0.0,
    "kakaotalk": 0.30,
    "email": 0.0,
}
NEGATIVE_PUSH_LIFT = -0.80
# A push at 23:00 gets the app's notifications muted: its harm wears off over weeks (half-life
# ~3 weeks), not in the days a message's pull lasts. It is the only app push with a lift, so it
# sets the channel's decay. With 4 days (as before) its true uplift in the 7-day window was
# -0.032 on ~540 customers per arm at a 6.5 % base rate: about 2.6 standard errors, below the
# demo report's simultaneous critical value (~3.2 over ~30 campaigns), so the demo's only
# harmful campaign was called harmful in 11 of 30 seeds (20k x 180 worlds);
# with 30 days it is -0.050 and harmful in 30 of 30 (docs/segments.md).
NEGATIVE_PUSH_DECAY_DAYS = 30.0
DECAY_DAYS = {
    "search_ads": 1.0,
    "display": 3.0,
    "social": 3.0,
    "affiliate": 2.0,
    "retargeting": 2.0,
    "app_push": NEGATIVE_PUSH_DECAY_DAYS,
    "kakaotalk": 2.5,
    "email": 3.0,
}
# Spend drives paid reach. Each paid channel has a reference daily spend per 1,000 customers
# (KRW); the daily exposure probability is the channel's targeting probability times a Hill
# function of the adstocked daily spend x (in units of the reference): R(x) = R_max x^s /
# (x^s + K^s), with R_max = 1 + K^s so that R(1) = 1 (the reference spend reproduces the
# targeting as designed). Adstock: a_d = decay a_(d-1) + (1 - decay) x_d (a steady spend keeps
# a = x). Search saturates late, retargeting early (its pool of recent viewers is small).
SPEND_PER_1000 = {
    "search_ads": 10_000.0,
    "display": 3_000.0,
    "social": 6_000.0,
    "affiliate": 2_500.0,
    "retargeting": 4_000.0,
}
SPEND_ADSTOCK = {
    "search_ads": 0.3,
    "display": 0.7,
    "social": 0.6,
    "affiliate": 0.4,
    "retargeting": 0.3,
}
HILL_HALF = {"search_ads": 1.2, "display": 1.0, "social": 0.8, "affiliate": 0.6, "retargeting": 0.4}
HILL_SHAPE = {
    "search_ads": 1.3,
    "display": 1.0,
    "social": 1.5,
    "affiliate": 1.0,
    "retargeting": 1.2,
}
# Flighting: budgets vary by week (7-day blocks from start_date), as real ones do, so response
# curves can be told apart from the data: per paid channel and week, off with this probability,
# else the reference spend times U(low, high) (stream "flighting").
FLIGHT_OFF = 0.10
FLIGHT_RANGE = (0.5, 1.5)
# truth/response_curves: each paid channel's spend over the whole window x these (0 and 1 are the
# channel-off and factual scenarios), the others at their factual spend.
CURVE_SCALES = (0.25, 0.5, 1.5, 2.0, 3.0)

# Chance that a session of an exposed customer arrives through the ad (a click / utm-tagged visit).
CLICK_PROB = {
    "search_ads": 0.55,
    "display": 0.08,
    "social": 0.15,
    "affiliate": 0.35,
    "retargeting": 0.30,
    "app_push": 0.45,
    "kakaotalk": 0.55,
    "email": 0.30,
}
OPEN_PROB = {"app_push": 0.10, "kakaotalk": 0.30, "email": 0.15}
UTM = {  # channel -> (sources to pick from per campaign, medium)
    "search_ads": (("naver", "google"), "cpc"),
    "display": (("gdn", "kakao_moment"), "display"),
    "social": (("instagram", "facebook", "tiktok"), "paid_social"),
    "affiliate": (("linkprice", "coupang_partners"), "affiliate"),
    "retargeting": (("criteo", "moloco"), "retargeting"),
    "app_push": (("app_push",), "push"),
    "kakaotalk": (("kakaotalk",), "message"),
    "email": (("email",), "email"),
}
OBJECTIVES = {
    "search_ads": ("conversion", "acquisition"),
    "display": ("awareness",),
    "social": ("awareness", "acquisition"),
    "affiliate": ("acquisition", "conversion"),
    "retargeting": ("conversion",),
    "app_push": ("retention", "conversion", "reactivation"),
    "kakaotalk": ("retention", "reactivation", "conversion"),
    "email": ("retention", "reactivation", "conversion"),
}
AUDIENCE_LABEL = {
    "acquisition": ("prospects", "lookalike"),
    "awareness": ("broad", "young"),
    "conversion": ("cart-abandoners", "viewers"),
    "retention": ("engaged", "vip"),
    "reactivation": ("lapsed", "dormant"),
}
NAME_LABELS = (
    "spring-sale",
    "summer-drop",
    "new-arrivals",
    "weekend-deal",
    "brand-week",
    "restock",
    "clearance",
    "season-off",
    "best-items",
    "outer-week",
    "beauty-day",
    "members-only",
)

ARCHETYPES = ("meticulous", "mania", "easygoing")
ARCHETYPE_SHARE = (0.35, 0.25, 0.40)
# Per archetype: mean sessions per active day, funnel probabilities (view | session, cart | view,
# purchase | cart), mean views and searches per viewing session, session length (median seconds),
# order value log-mean (KRW) and its spread between customers.
ARCH = {
    "visit_rate": (0.12, 0.10, 0.07),
    "p_view": (0.95, 0.90, 0.80),
    "p_cart": (0.25, 0.35, 0.20),
    "p_buy": (0.25, 0.45, 0.35),
    "views": (6.0, 2.5, 2.0),
    "searches": (2.5, 0.5, 0.2),
    "bookmarks": (0.6, 0.3, 0.1),
    "duration_s": (900.0, 240.0, 300.0),
    "value_mu": (10.7, 11.2, 10.0),  # exp: ~44k, ~73k, ~22k KRW
    "lines": ((0.70, 0.95), (0.45, 0.80), (0.75, 0.97)),  # cdf of 1, 2 order lines (3 is the rest)
}
VALUE_MU_SD = 0.35
RATE_GAMMA_SHAPE = 1.2
DROPOUT_BETA = (1.5, 250.0)  # daily dropout probability ~ Beta (mean 0.6 % a day)

CATEGORIES = {  # l1 -> (popularity, median price KRW, l2 list)
    "womens_clothing": (
        0.24,
        39_000,
        ("tops", "dresses", "skirts", "pants", "outerwear", "knitwear"),
    ),
    "mens_clothing": (0.16, 45_000, ("tshirts", "shirts", "pants", "outerwear", "hoodies")),
    "shoes": (0.13, 79_000, ("sneakers", "boots", "sandals", "loafers")),
    "bags": (0.09, 59_000, ("backpacks", "totes", "crossbody", "wallets")),
    "accessories": (0.10, 19_000, ("caps", "jewelry", "belts", "socks", "eyewear")),
    "beauty": (0.12, 23_000, ("skincare", "makeup", "fragrance", "haircare")),
    "kids": (0.06, 27_000, ("kids_tops", "kids_bottoms", "kids_shoes")),
    "sports": (0.10, 49_000, ("training_wear", "running", "outdoor", "yoga")),
}
CAT_NAMES = tuple(CATEGORIES)
STYLES = ("casual", "street", "minimal", "classic", "sporty", "vintage", "romantic", "outdoor")
REGIONS = {  # region -> (population share, mean temperature offset C)
    "seoul": (0.180, 0.0),
    "gyeonggi": (0.265, -0.5),
    "incheon": (0.058, -0.3),
    "busan": (0.064, 2.0),
    "daegu": (0.046, 1.5),
    "gwangju": (0.028, 1.3),
    "daejeon": (0.028, 0.6),
    "ulsan": (0.022, 1.8),
    "sejong": (0.008, 0.2),
    "gangwon": (0.030, -2.0),
    "chungbuk": (0.031, -0.4),
    "chungnam": (0.041, 0.0),
    "jeonbuk": (0.034, 0.7),
    "jeonnam": (0.035, 1.6),
    "gyeongbuk": (0.050, 0.5),
    "gyeongnam": (0.064, 1.6),
    "jeju": (0.013, 3.3),
}
REGION_NAMES = tuple(REGIONS)
DEVICES = ("ios", "android", "mobile_web", "desktop")
DEVICE_SHARE = (0.36, 0.40, 0.15, 0.09)

DOW_INDEX = (0.95, 0.92, 0.93, 0.96, 1.00, 1.08, 1.16)  # Mon..Sun, normalised to mean 1 on use
HOLIDAY_MULT = 1.30  # people shop on days off ...
FAMILY_HOLIDAY_MULT = 0.80  # ... except Seollal and Chuseok, spent travelling to family
FAMILY_HOLIDAY_WORDS = ("Chuseok", "Korean New Year")
RAIN_MM = 5.0  # a day with at least this much rain ...
RAIN_MULT = 1.12  # ... keeps people home, browsing
# Sessions by KST hour (relative): a lunch bump and an evening/night peak.
HOUR_WEIGHTS = (
    3,
    2,
    1,
    0.5,
    0.3,
    0.3,
    0.6,
    1.5,
    2.5,
    3,
    3.5,
    4,
    5,
    5,
    4,
    4,
    4,
    4.5,
    5,
    6,
    7,
    8,
    8,
    6,
)

# Shopping episodes: a latent on/off state per customer-day (a Markov chain that marketing does
# not change) in which the customer wants to buy: visits x EPISODE_VISIT_MULT and purchase
# probability x EPISODE_BUY_MULT relative to the days outside. Mean episode 5 days, about one a
# month; both multipliers are normalised so the average customer-day keeps its visit and order
# rates. Search ads and retargeting follow the visits, so they cluster before these purchases.
EPISODE_START = 0.035
EPISODE_STAY = 0.80
EPISODE_VISIT_MULT = 5.0
EPISODE_BUY_MULT = 2.0
# Search ads: the chance of an impression on a day after a visit (the customer is searching),
# x SEARCH_EPISODE_MULT inside an episode (people search more when they want to buy).
SEARCH_AFTER_VISIT = 0.30
SEARCH_EPISODE_MULT = 1.2

MAX_SESSIONS_PER_DAY = 6
MAX_P_BUY = 0.95
MIN_LIFT = -0.8


@dataclass(frozen=True)
class LiftStudy:
    """A randomized conversion-lift study of a paid channel (ghost ads): from ``start_day`` (of the
    window) for ``days`` days, a random ``holdout_share`` of all customers is not served the
    channel; the platform logs the impressions they would have been served (ghost impressions)."""

    channel: str
    holdout_share: float = 0.2
    start_day: int = 0
    days: int = 28

    def __post_init__(self) -> None:
        if self.channel not in PAID_CHANNELS:
            raise ValueError(f"lift study channel {self.channel!r}: not one of {PAID_CHANNELS}")
        if not 0 < self.holdout_share < 1 or self.start_day < 0 or self.days < 1:
            raise ValueError(f"lift study {self}: needs 0 < holdout_share < 1, days >= 1")


@dataclass
class WorldConfig:
    customers: int = 20_000
    days: int = 180
    seed: int = 42
    start_date: date = date(2025, 5, 1)
    timezone: str = "Asia/Seoul"
    # Share of customers who signed up before start_date (up to two years before).
    pre_start_signup_share: float = 0.30
    # Multiplies every customer's visit rate (0.05-0.15 sessions per active customer-day at 1.0).
    visit_rate_scale: float = 1.0
    marketing_opt_in_share: float = 0.65
    night_opt_in_share: float = 0.40  # of the marketing opt-ins
    # Profile changes inside the window (a later customers file): opt-outs among the opt-ins,
    # moves to another region among all customers.
    opt_out_share: float = 0.03
    move_share: float = 0.02
    sellers: int | None = None  # default max(20, customers // 200)
    initial_products: int | None = None  # default max(400, customers // 5)
    new_products_per_day: int | None = None  # default max(2, initial_products // 150)
    response_window_days: int = 7
    holdout_share: tuple[float, float] = (0.10, 0.20)  # per CRM campaign, drawn in this range
    malformed_name_share: float = 0.05
    channel_lift: dict[str, float] = field(default_factory=lambda: dict(CHANNEL_LIFT))
    negative_push_lift: float = NEGATIVE_PUSH_LIFT
    # Re-simulate with each channel off and with all marketing off (truth/channel_effects).
    counterfactuals: bool = True
    # With counterfactuals: re-simulate each paid channel's spend x CURVE_SCALES too
    # (truth/response_curves; 25 more scenarios).
    response_curves: bool = True
    # Flighted paid budgets (spend.world_daily_spend); False: every channel at its reference
    # spend every day (the constant-reach world of simulator version 1).
    flighting: bool = True
    # Sessions start at hours drawn from each customer's own active hours (messaging.py);
    # False: every customer follows HOUR_WEIGHTS (the rhythm before issue 16).
    personal_hours: bool = True
    # Randomized lift studies of paid channels (raw lift_study_assignments and
    # lift_study_ghost_impressions); none by default.
    lift_studies: tuple[LiftStudy, ...] = ()
    # Share of products marked down once inside the window (prices.py; raw product_prices and
    # truth/price_drops); none by default.
    price_drop_share: float = 0.0

    def __post_init__(self) -> None:
        if self.customers < 50 or self.days < 14:
            raise ValueError("need at least 50 customers and 14 days")
        if set(self.channel_lift) != set(CHANNELS):
            raise ValueError(f"channel_lift must give every channel: {CHANNELS}")
        if self.end_date > date.today():
            raise ValueError(
                f"the world would end on {self.end_date}, after today: move start_date back"
            )
        if not 0 <= self.price_drop_share <= 1:
            raise ValueError(f"price_drop_share {self.price_drop_share}: needs 0 <= share <= 1")
        for study in self.lift_studies:
            if study.start_day + study.days > self.days:
                raise ValueError(f"lift study {study} ends after the window's {self.days} days")

    @property
    def end_date(self) -> date:
        """First day after the simulated window."""
        return self.start_date + timedelta(days=self.days)

    @property
    def n_sellers(self) -> int:
        return self.sellers or max(20, self.customers // 200)

    @property
    def n_initial_products(self) -> int:
        return self.initial_products or max(400, self.customers // 5)

    @property
    def n_new_products_per_day(self) -> int:
        return self.new_products_per_day or max(2, self.n_initial_products // 150)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        d["holdout_share"] = list(self.holdout_share)
        return d
