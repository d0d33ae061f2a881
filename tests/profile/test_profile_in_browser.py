"""The profile's HTML page in a real headless browser (the report test's chromium and driver):
it loads, its spend chart decodes, the console has no errors; a screenshot is saved under
test-output/profile/."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.lib.profile.gather import gather_profile
from dagster_project.lib.profile.playbook import load_playbook
from dagster_project.lib.profile.render import write_html
from dagster_project.lib.settings import REPO_ROOT, Settings
from dagster_project.lib.warehouse import connect_read_copy
from tests.report.test_report_in_browser import CHARTS, browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow
SCREENSHOTS = REPO_ROOT / "test-output" / "profile"


def test_profile_page_loads_and_its_chart_renders(
    world: Settings,
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    with connect_read_copy(world.duckdb_path) as con:
        [customer_id] = con.execute(
            "select customer_id from gold.customer_segments order by orders desc limit 1"
        ).fetchone()
        profile = gather_profile(con, customer_id, load_playbook(), world)
    page = write_html(profile, tmp_path / f"{customer_id}.html", str(world.duckdb_path))
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.find_element("tag name", "h1").text == f"Customer {customer_id}"
    [chart] = browser.execute_script(CHARTS)
    assert chart["complete"] and chart["width"] >= 300 and chart["height"] >= 150, chart
    sections = browser.find_elements("css selector", "section h2")
    assert {"Who they are", "What the models say", "Suggested strategy"} <= {
        s.text for s in sections
    }
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1100, min(max(height, 800), 8000))
    assert browser.save_screenshot(str(SCREENSHOTS / "profile.png"))
    browser.set_window_size(1100, 1400)
