"""The marketing report in a real headless browser (Debian's chromium and chromium-driver,
driven by selenium): on the tiny world materialized through the Definitions (tiny_platform),
every page loads (budget and forecast included), every chart image decodes, the console has no
errors; a screenshot of each page is saved under test-output/report/ (kept as the test's output)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dagster_project.lib.settings import REPO_ROOT
from tests.conftest import Platform

pytestmark = pytest.mark.slow
SCREENSHOTS = REPO_ROOT / "test-output" / "report"
PAGES = (
    "index.html",
    "attribution.html",
    "uplift.html",
    "models.html",
    "segments.html",
    "budget.html",
    "forecast.html",
)
# Charts a page must show on this world (alt text = section title).
REQUIRED_CHARTS = {
    "budget.html": ("Response curves", "Recommended weekly spend per channel", "Scenarios"),
    "forecast.html": ("Demand forecast", "Backtest against seasonal naive and ETS"),
}


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        reason = "chromium and chromium-driver are not installed (make browser installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def report_dir(tiny_platform: Platform) -> Path:
    events = tiny_platform.result.get_asset_materialization_events()
    assert "gold/marketing_report" in {e.asset_key.to_user_string() for e in events}
    return tiny_platform.data_dir / "report"


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


CHARTS = """
return Array.from(document.images).map(img => ({
  alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight
}));
"""


@pytest.mark.parametrize("page", PAGES)
def test_report_page_loads_and_every_chart_renders(report_dir, browser, page) -> None:
    browser.get((report_dir / page).as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.find_element("tag name", "h1").text
    images = browser.execute_script(CHARTS)
    assert images, f"{page}: no chart"
    for img in images:
        assert img["complete"] and img["width"] >= 300 and img["height"] >= 150, (page, img)
    alts = [img["alt"] for img in images]
    for required in REQUIRED_CHARTS.get(page, ()):
        assert any(alt.startswith(required) for alt in alts), (page, required, alts)
    missing = browser.find_elements("css selector", "section .note")
    assert len(missing) < len(browser.find_elements("css selector", "section")), page
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1100, min(max(height, 800), 6000))
    assert browser.save_screenshot(str(SCREENSHOTS / page.replace(".html", ".png")))
    browser.set_window_size(1100, 1400)
