"""The history site in a real browser: Debian's Chromium, headless, driven by Selenium through Debian's
chromium-driver (no browser is downloaded; `make test` installs both: scripts/setup-browser.sh).
Every page loads with no console error, a timeline has its points and its marked change, hover shows
the set's numbers, and every link resolves. Screenshots of the index and a timeline go to build/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

import pytest

from analysis.cli import main
from history_sets import history_sets

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver: make test installs them"),
]
FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
    "--disable-sync --no-first-run --window-size=1300,1000"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    history_sets(root / "results", n=10, step_at=6)
    assert main(["history", str(root / "results"), "-o", str(root / "site")]) == 0
    return root / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="isobench-chromium-")  # a fresh profile: nothing carried over
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS.split():
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _pages(site: Path) -> list[Path]:
    reports = sorted((site / "sets").rglob("index.html"))
    return [site / "index.html", site / "regressions.html", *sorted((site / "hosts").rglob("*.html")), reports[0]]


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_every_page_loads_without_console_errors_and_its_links_resolve(site: Path, browser) -> None:
    for page in _pages(site):
        browser.get(page.as_uri())
        assert browser.execute_script("return document.readyState") == "complete"
        assert _errors(browser) == [], page
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        assert hrefs, page
        for href in hrefs:
            url = urlparse(href)
            assert url.scheme == "file", f"{page} links off the site: {href}"
            assert Path(unquote(url.path)).is_file(), f"{page} links to a missing page: {href}"


def test_timeline_has_its_points_and_its_marked_change(site: Path, browser) -> None:
    browser.get((site / "hosts" / "histhost" / "startup.html").as_uri())
    box = browser.find_element("css selector", ".chart")
    assert box.get_attribute("data-points") == "20"  # 10 sets x 2 modes
    assert box.get_attribute("data-changes") == "1" and box.get_attribute("data-drawn-changes") == "1"
    assert "runc: engine.version changed: 20.10.24 -> 24.0.7" in browser.find_element("tag name", "main").text
    (REPO / "build").mkdir(exist_ok=True)
    browser.save_screenshot(str(REPO / "build" / "history-timeline.png"))
    browser.get((site / "index.html").as_uri())
    assert "open change" in browser.find_element("tag name", "table").text
    browser.save_screenshot(str(REPO / "build" / "history-index.png"))


def test_hover_shows_the_sets_numbers(site: Path, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get((site / "hosts" / "histhost" / "startup.html").as_uri())
    # Where the 8th set's runc point is drawn, relative to the plot's centre (what move_to_element takes).
    x, y, name = browser.execute_script(
        "var c = window.historyCharts[0], u = c.plot, r = u.over.getBoundingClientRect();"
        "return [u.valToPos(u.data[0][7], 'x') - r.width / 2, u.valToPos(u.data[1][7], 'y') - r.height / 2,"
        " c.spec.sets[7].name];"
    )
    over = browser.find_element("css selector", ".chart .u-over")
    ActionChains(browser).move_to_element_with_offset(over, int(x), int(y)).perform()
    tip = browser.find_element("css selector", ".chart .tip")
    assert tip.is_displayed()
    assert name in tip.text and "runc: " in tip.text and " ms (95% CI " in tip.text and "n=24" in tip.text
    assert "engine.version 24.0.7" in tip.text


def test_drag_zooms_and_the_factor_order_redraws(site: Path, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get((site / "hosts" / "histhost" / "startup.html").as_uri())
    over = browser.find_element("css selector", ".chart .u-over")
    before = browser.execute_script("var s = window.historyCharts[0].plot.scales.x; return s.max - s.min")
    ActionChains(browser).move_to_element_with_offset(over, -200, 0).click_and_hold().move_by_offset(150, 0).release(
    ).perform()  # fmt: skip
    after = browser.execute_script("var s = window.historyCharts[0].plot.scales.x; return s.max - s.min")
    assert after < before
    browser.find_element("css selector", "button[data-x='factor']").click()
    box = browser.find_element("css selector", ".chart")
    assert box.get_attribute("data-x") == "factor" and box.get_attribute("data-drawn-changes") == "1"
    assert _errors(browser) == []
