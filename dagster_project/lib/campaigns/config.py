"""One YAML file per campaign, loaded into a checked `Campaign`. Every error names the file.

```yaml
campaign_id: kakao_coupon_at_risk   # optional, default: the file name without .yml
name: At-risk customers, 5,000 KRW coupon
channel: kakaotalk                  # one of CHANNELS
creative_id: kt_atrisk_5000
send:                               # either a local time (the customer's time zone) ...
  date: 2025-10-29                  #   optional, default: the day after the data ends
  time: "19:00"
# send: {at: "2025-10-29T22:30:00+09:00"}   # ... or one instant for everyone
holdout_share: 0.15                 # share of the eligible audience kept as holdout
frequency_cap: {max_sends: 1, window_days: 7}   # optional, default: FREQUENCY_CAPS[channel]
response_window_days: 7             # optional
coupon: {discount_type: fixed, discount_value: 5000, min_order_amount: 30000}   # optional
segment:                            # a rule (see rules.py)
  all:
    - {column: rfm_segment, op: in, value: [at_risk, cant_lose]}
products: {list: affinity, count: 3}  # optional: the export carries each customer's top products
# trigger: {event: bookmark, delay: 1h, valid_for: 24h}  # instead of send: a triggered campaign
send_time: {mode: best_in_window, window: ["10:00", "22:00"]}  # optional: each customer's best
                                    # hour of send.date inside the window (lib/crm/send_time.py);
                                    # send.time is then optional
arms:                               # optional: a multi-arm test (lib/crm/arms.py); the arms split
  - {arm_id: new_arrivals, creative_id: kt_new_arrivals, share: 0.5}   # the treated customers,
  - {arm_id: coupon_5000, creative_id: kt_5000, share: 0.5,            # shares sum to 1
     coupon: {discount_type: fixed, discount_value: 5000}}
adaptive: {mode: thompson, by: browsing_type}   # optional: shares per segment from past sends
```
A triggered campaign (`trigger:`, triggers.py) is sent by ticks over new events, not at one time.
`products.list` is a candidate list of gold.product_candidates (rule_a, rule_b, rule_c, affinity,
embedding, popular) or `trending` (the trending products of the customer's top category);
docs/products.md explains them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from dagster_project.lib.campaigns.rules import RuleError, parse_rule

CHANNELS = ("app_push", "kakaotalk", "email", "sms")
# Per channel: at most `max_sends` messages per customer in any `window_days`-day window.
# KakaoTalk costs ~20 KRW a message and tires people fastest; push is free but easily muted.
FREQUENCY_CAPS: dict[str, tuple[int, int]] = {
    "app_push": (3, 7),
    "kakaotalk": (1, 7),
    "email": (2, 7),
    "sms": (1, 14),
}
# Messages between these local hours need night-time consent (Korea's rule for ad messages).
NIGHT_START, NIGHT_END = time(21, 0), time(8, 0)
DEFAULT_RESPONSE_DAYS = 7
COUPON_TYPES = ("fixed", "percent")
# A campaign id names its export files and its Dagster asset: letters, digits, _ and - only.
CAMPAIGN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# A campaign file is a few lines; these bounds keep a hostile one (an alias bomb that a rule walk
# would expand exponentially) from hanging the loader.
MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000
KEYS = {
    "campaign_id",
    "name",
    "channel",
    "creative_id",
    "send",
    "holdout_share",
    "frequency_cap",
    "response_window_days",
    "coupon",
    "segment",
    "products",
    "trigger",
    "send_time",
    "arms",
    "adaptive",
}
ARM_KEYS = {"arm_id", "creative_id", "share", "coupon"}
SEND_MODES = ("fixed", "best_in_window")
ADAPTIVE_MODES = ("thompson",)
SHARE_TOLERANCE = 1e-6
PRODUCT_LISTS = ("rule_a", "rule_b", "rule_c", "affinity", "embedding", "popular", "trending")
MAX_PRODUCTS = 10


class CampaignError(ValueError):
    """A campaign file that cannot be used, with the file and the problem."""


@dataclass(frozen=True)
class Coupon:
    discount_type: str
    discount_value: float
    min_order_amount: float = 0.0


@dataclass(frozen=True)
class ProductPick:
    """Which candidate list the export draws products from, and how many per customer."""

    list: str
    count: int


@dataclass(frozen=True)
class Arm:
    """One creative or offer of a multi-arm test and its share of the treated customers."""

    arm_id: str
    creative_id: str
    share: float
    coupon: Coupon | None = None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    channel: str
    creative_id: str
    holdout_share: float
    max_sends: int
    cap_window_days: int
    response_window_days: int
    segment: Any  # the rule as written (parsed by `segment_expr`)
    source: str  # the file
    send_date: date | None = None  # with send_time: local time in each customer's zone
    send_time: time | None = None
    send_at: datetime | None = None  # or one instant (time-zone aware)
    coupon: Coupon | None = None
    products: ProductPick | None = None
    trigger: Any = None  # triggers.Trigger: sent on each customer's events, not at one time
    send_mode: str = "fixed"  # or best_in_window (send_window in local time)
    send_window: tuple[time, time] | None = None
    arms: tuple[Arm, ...] = ()
    adaptive_by: str | None = None  # adaptive mode: Thompson shares per value of this column

    def segment_expr(self) -> pl.Expr:
        return parse_rule(self.segment, self.source)


def _fail(source: str, msg: str):
    raise CampaignError(f"{source}: {msg}")


def _number(raw: dict, key: str, source: str, default, low, high, integer: bool = False):
    value = raw.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        _fail(source, f"{key} must be {kind} in [{low}, {high}], got {value!r}")
    return int(value) if integer else float(value)


def parse_campaign(raw: Any, source: str, default_id: str) -> Campaign:
    if not isinstance(raw, dict):
        _fail(source, "a campaign file is a YAML mapping")
    unknown = set(raw) - KEYS
    if unknown:
        _fail(source, f"unknown key(s) {sorted(unknown)} (known: {sorted(KEYS)})")
    # A triggered campaign (triggers.py) is sent by ticks over new events, not at one time.
    if "trigger" in raw and "send" in raw:
        _fail(source, "a campaign has either send (a batch) or trigger (triggered), not both")
    timing = "trigger" if "trigger" in raw else "send"
    for key in ("channel", timing, "holdout_share", "segment"):
        if key not in raw:
            _fail(source, f"missing required key {key!r}")
    campaign_id = str(raw.get("campaign_id", default_id))
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        _fail(
            source,
            f"campaign_id {campaign_id!r} may use only letters, digits, _ and - "
            "(it names the export files)",
        )
    channel = raw["channel"]
    if channel not in CHANNELS:
        _fail(source, f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    holdout = _number(raw, "holdout_share", source, None, 0.0, 0.9)
    cap = raw.get("frequency_cap", {})
    default_max, default_window = FREQUENCY_CAPS[channel]
    if not isinstance(cap, dict) or set(cap) - {"max_sends", "window_days"}:
        _fail(source, "frequency_cap is a mapping with max_sends and window_days")
    max_sends = _number(cap, "max_sends", source, default_max, 1, 1000, integer=True)
    window = _number(cap, "window_days", source, default_window, 1, 365, integer=True)
    response = _number(
        raw, "response_window_days", source, DEFAULT_RESPONSE_DAYS, 1, 90, integer=True
    )

    send = raw.get("send", {"at": "2000-01-01T00:00:00+00:00"})  # checked, then unset below
    send_date = send_time = send_at = None
    if not isinstance(send, dict) or not ({"at"} == set(send) or set(send) <= {"date", "time"}):
        _fail(source, "send is {at: <ISO instant with offset>} or {date: <date>, time: 'HH:MM'}")
    if "at" in send:
        try:
            send_at = (
                send["at"]
                if isinstance(send["at"], datetime)
                else datetime.fromisoformat(str(send["at"]))
            )
        except ValueError:
            _fail(source, f"send.at {send['at']!r} is not an ISO date-time")
        if send_at.tzinfo is None:
            _fail(source, f"send.at {send['at']!r} needs a UTC offset, e.g. +09:00")
    else:
        send_mode, send_window = _send_mode(raw, source)
        if "time" not in send and send_mode == "fixed":
            _fail(source, "send needs a time ('HH:MM', the customer's local time)")
        try:
            send_time = time.fromisoformat(str(send.get("time", "00:00")))
        except ValueError:
            _fail(source, f"send.time {send['time']!r} is not HH:MM")
        if "date" in send:
            try:
                send_date = (
                    send["date"]
                    if isinstance(send["date"], date)
                    else date.fromisoformat(str(send["date"]))
                )
            except ValueError:
                _fail(source, f"send.date {send['date']!r} is not YYYY-MM-DD")
    if timing == "trigger":
        send_at = None  # each tick sends at its own time

    coupon = None
    if raw.get("coupon") is not None:
        coupon = _coupon(raw["coupon"], source, "coupon")
    products = None
    if raw.get("products") is not None:
        p = raw["products"]
        if (
            not isinstance(p, dict)
            or set(p) - {"list", "count"}
            or p.get("list") not in PRODUCT_LISTS
        ):
            _fail(source, f"products is {{list: one of {', '.join(PRODUCT_LISTS)}, count: 1-10}}")
        products = ProductPick(p["list"], _number(p, "count", source, 3, 1, MAX_PRODUCTS, True))
    if "at" in send and raw.get("send_time") is not None:
        _fail(source, "send_time: best_in_window needs send: {date, time}, not send.at")
    if "at" in send:
        send_mode, send_window = "fixed", None
    arms = _arms(raw.get("arms"), source)
    adaptive_by = _adaptive(raw.get("adaptive"), arms, source)
    campaign = Campaign(
        campaign_id=campaign_id,
        name=str(raw.get("name", campaign_id)),
        channel=channel,
        creative_id=str(raw.get("creative_id", campaign_id)),
        holdout_share=holdout,
        max_sends=max_sends,
        cap_window_days=window,
        response_window_days=response,
        segment=raw["segment"],
        source=source,
        send_date=send_date,
        send_time=send_time,
        send_at=send_at,
        coupon=coupon,
        products=products,
        trigger=_trigger(raw.get("trigger"), source),
        send_mode=send_mode,
        send_window=send_window,
        arms=arms,
        adaptive_by=adaptive_by,
    )
    try:
        campaign.segment_expr()
    except RuleError as e:
        raise CampaignError(str(e)) from e
    return campaign


def _trigger(raw: Any, source: str):
    if raw is None:
        return None
    from dagster_project.lib.campaigns.triggers import parse_trigger

    return parse_trigger(raw, source)


def _send_mode(raw: dict, source: str) -> tuple[str, tuple[time, time] | None]:
    spec = raw.get("send_time")
    if spec is None:
        return "fixed", None
    if spec == "best_in_window":
        _fail(
            source,
            "send_time: best_in_window needs a window: {mode: best_in_window, "
            "window: ['10:00', '22:00']}",
        )
    if not isinstance(spec, dict) or set(spec) - {"mode", "window"}:
        _fail(source, "send_time is {mode: fixed | best_in_window, window: ['HH:MM', 'HH:MM']}")
    mode = spec.get("mode", "fixed")
    if mode not in SEND_MODES:
        _fail(source, f"send_time.mode {mode!r} is not one of {', '.join(SEND_MODES)}")
    if mode == "fixed":
        return mode, None
    window = spec.get("window")
    if not isinstance(window, list) or len(window) != 2:
        _fail(source, "send_time.window is a list of two local times ['HH:MM', 'HH:MM']")
    try:
        start, end = (time.fromisoformat(str(w)) for w in window)
    except ValueError:
        _fail(source, f"send_time.window {window!r}: times are HH:MM")
    if start == end:
        _fail(source, f"send_time.window {window!r}: start and end are the same time")
    return mode, (start, end)


def _coupon(c: Any, source: str, field: str) -> Coupon:
    if not isinstance(c, dict) or c.get("discount_type") not in COUPON_TYPES:
        _fail(source, f"{field} needs discount_type in {COUPON_TYPES} and discount_value")
    high = 90 if c["discount_type"] == "percent" else 10_000_000
    label = source if field == "coupon" else f"{source}: {field}"
    return Coupon(
        c["discount_type"],
        _number(c, "discount_value", label, None, 0.01, high),
        _number(c, "min_order_amount", label, 0.0, 0.0, 1e9),
    )


def _arms(spec: Any, source: str) -> tuple[Arm, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, list) or len(spec) < 2:
        _fail(source, "arms is a list of at least two {arm_id, creative_id, share} mappings")
    arms, seen = [], set()
    for k, a in enumerate(spec):
        where = f"arms[{k}]"
        if not isinstance(a, dict):
            _fail(source, f"{where} is a mapping {{arm_id, creative_id, share}}")
        unknown = set(a) - ARM_KEYS
        if unknown:
            _fail(source, f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(ARM_KEYS)})")
        arm_id = str(a.get("arm_id", f"arm_{k + 1}"))
        where = f"arms[{k}] ({arm_id})"
        if not CAMPAIGN_ID.fullmatch(arm_id) or arm_id == "holdout":
            _fail(source, f"{where}: arm_id may use letters, digits, _ and - and is not 'holdout'")
        if arm_id in seen:
            _fail(source, f"{where}: arm_id used twice")
        seen.add(arm_id)
        if not a.get("creative_id"):
            _fail(source, f"{where}: missing creative_id (every arm names its creative)")
        share = _number(a, "share", f"{source}: {where}", None, 0.0, 1.0)
        coupon = _coupon(a["coupon"], source, f"{where}.coupon") if a.get("coupon") else None
        arms.append(Arm(arm_id, str(a["creative_id"]), share, coupon))
    total = sum(a.share for a in arms)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        _fail(
            source,
            f"arms: the shares sum to {total:g}, they must sum to 1 (they split the treated "
            "customers; the holdout is holdout_share)",
        )
    return tuple(arms)


def _adaptive(spec: Any, arms: tuple[Arm, ...], source: str) -> str | None:
    if spec is None:
        return None
    if not arms:
        _fail(source, "adaptive needs arms (a multi-arm test)")
    if (
        not isinstance(spec, dict)
        or set(spec) - {"mode", "by"}
        or spec.get("mode", "thompson") not in ADAPTIVE_MODES
        or not isinstance(spec.get("by"), str)
    ):
        _fail(source, "adaptive is {mode: thompson, by: <segment column>}")
    return spec["by"]


def load_campaign(path: str | Path) -> Campaign:
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CampaignError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes; not a campaign file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CampaignError(f"{path}: not valid YAML: {e}") from e
    if _expanded_nodes(raw, {}) > MAX_EXPANDED_NODES:
        raise CampaignError(
            f"{path}: expands to more than {MAX_EXPANDED_NODES:,} values "
            "(YAML aliases repeating aliases); write the rule out"
        )
    return parse_campaign(raw, str(path), path.stem)


def _expanded_nodes(value: Any, seen: dict[int, int]) -> int:
    """Values in `value` with every alias expanded, counted once per shared object (aliases load
    as shared references, so this is linear in the file, however large the expansion)."""
    if not isinstance(value, list | dict):
        return 1
    if id(value) not in seen:
        children = value.values() if isinstance(value, dict) else value
        seen[id(value)] = 1 + sum(_expanded_nodes(v, seen) for v in children)
    return seen[id(value)]


def campaign_files(folder: str | Path) -> list[Path]:
    """The campaign files in a folder (*.yml, *.yaml), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
