"""The trigger lab on a small world: the platform's triggered reminders beat the same messages
sent at the next weekly batch, by the simulator's planted intent, and the lab's realised gains
agree with the truth's probabilities."""

from __future__ import annotations

from dagster_project.lib.campaigns import config, trigger_lab
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.simulate import WorldConfig, simulate


def test_triggered_reminders_beat_the_weekly_batch() -> None:
    world = simulate(WorldConfig(customers=3000, days=45, seed=3, counterfactuals=False))
    files = ("push_bookmark_reminder.yml", "push_cart_reminder.yml")
    campaigns = [config.load_campaign(REPO_ROOT / "campaigns" / f) for f in files]
    result = trigger_lab.evaluate(world, campaigns, weeks=2)
    rows = {r["policy"]: r for r in result.table.to_dicts()}
    trig, batch, diff = rows["triggered"], rows["weekly batch"], rows["triggered - batch"]
    assert trig["messages"] == batch["messages"] > 100  # the very same messages
    # The planted truth: a reminder on the trigger day acts on the whole 5-day window.
    assert trig["per_message_expected"] > 2 * batch["per_message_expected"]
    assert diff["ci_low"] > 0
    # Realised on common random numbers, within 4 standard errors of the expected gain.
    for r in (trig, batch):
        se = max(r["incremental_orders_expected"], 1.0) ** 0.5
        assert abs(r["incremental_orders_realized"] - r["incremental_orders_expected"]) < 4 * se
    # Every message went to a consenting customer.
    consent = world.tables["customers"].filter("marketing_opt_in")["customer_id"]
    assert result.messages["customer_id"].is_in(consent.implode()).all()
