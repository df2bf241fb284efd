"""The dashboard in a real headless Chromium (Debian's, driven by Selenium) against `campaignd
run` with [api] enabled, sending slowly (message_rate) to a capture SMTP server: log in with an
API token, open the running campaign, see its sent counter change without a reload, open the
list's growth page and read today's figures, and save screenshots under the test's tmp_path.
Skipped without chromium (see test_public_form_chromium).
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.helpers import capture_server, free_port, make_env
from tests.acceptance.test_api_e2e import call, wait_for
from tests.browser.test_public_form_chromium import CHROMEDRIVER, CHROMIUM, _browser_or_skip

SUBSCRIBERS = 60
BLOCKLISTED = 2


def _growth(driver: Any, base: str, shots: Path) -> dict[str, str]:
    """From the lists page to the list's growth: the newest day's row as the page shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/dashboard/lists")
    driver.find_element(By.LINK_TEXT, "news").click()
    WebDriverWait(driver, 20).until(lambda d: d.title.startswith("List news"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.chart polyline")) == 3
    row = driver.find_element(By.CSS_SELECTOR, "#growth tr[data-day]")
    cells = {"day": str(row.get_attribute("data-day"))}
    for k in ("subscribed", "unsubscribed", "total"):
        cells[k] = row.find_element(By.CSS_SELECTOR, f'[data-k="{k}"]').text
    cells["now"] = driver.find_element(By.CSS_SELECTOR, '#summary [data-k="subscribers"]').text
    driver.save_screenshot(str(shots / "dashboard-list-growth.png"))
    return cells


def _drive(
    base: str, token: str, campaign_id: int, shots: Path
) -> tuple[int, int, str, dict[str, str]]:
    """Log in, open the campaign; return two readings of its sent cell and the final title."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1100,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(f"{base}/dashboard/campaigns/{campaign_id}")  # no cookie: to the login form
        assert driver.current_url.endswith("/dashboard/login")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.save_screenshot(str(shots / "dashboard-login.png"))
        driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        WebDriverWait(driver, 20).until(lambda d: d.title.startswith("Campaigns"))
        driver.save_screenshot(str(shots / "dashboard-campaigns.png"))
        driver.get(f"{base}/dashboard/campaigns/{campaign_id}")
        cell = f'[data-row="{campaign_id}"] [data-k="sent"]'
        first = int(driver.find_element(By.CSS_SELECTOR, cell).text)
        driver.execute_script("window.__same_page = true;")  # gone if the page reloads
        WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d: int(d.find_element(By.CSS_SELECTOR, cell).text) > first
        )
        later = int(driver.find_element(By.CSS_SELECTOR, cell).text)
        assert driver.execute_script("return window.__same_page === true;")
        driver.save_screenshot(str(shots / "dashboard-campaign.png"))
        title = str(driver.title)
        return first, later, title, _growth(driver, base, shots)
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dashboard_counts_change_without_reload_in_chromium(tmp_path: Path) -> None:
    _browser_or_skip()
    smtp_port, api_port = free_port(), free_port()
    e = make_env(tmp_path, smtp_port, message_rate=4)
    e.env.update(CAMPAIGND_API__ENABLED="true", CAMPAIGND_API__LISTEN=f"127.0.0.1:{api_port}")
    e.cli("db", "upgrade")
    token = e.cli("api-tokens", "create", "ops").stdout.strip()
    base = f"http://127.0.0.1:{api_port}"
    api = f"{base}/api/v1"
    with capture_server(smtp_port, e.mail):
        daemon = e.daemon()
        try:
            wait_for(lambda: call(f"{api}/lists", token)[0] == 200)
            _, news = call(f"{api}/lists", token, {"name": "news"})
            today = {dt.datetime.now(dt.UTC).date().isoformat()}
            for i in range(SUBSCRIBERS):
                status, added = call(f"{api}/subscribers", token, {
                    "email": f"r{i}@example.com", "lists": [news["id"]], "status": "confirmed",
                })  # fmt: skip
                assert status == 201
                if i < BLOCKLISTED:
                    blocked, _ = call(f"{api}/subscribers/{added['id']}/blocklist", token, {})
                    assert blocked == 200
            _, made = call(f"{api}/campaigns", token, {
                "name": "live", "subject": "Hi", "lists": [news["id"]], "body": "<p>Hello</p>",
            })  # fmt: skip
            status, started = call(f"{api}/campaigns/{made['id']}/start", token, {})
            assert (status, started["status"]) == (200, "running")
            first, later, title, growth = _drive(base, token, made["id"], tmp_path)
            assert later > first  # changed by the polling script: the page was not reloaded
            assert title == "Campaign live - campaignd"
            today.add(dt.datetime.now(dt.UTC).date().isoformat())
            assert growth.pop("day") in today
            assert growth == {
                "subscribed": str(SUBSCRIBERS), "unsubscribed": str(BLOCKLISTED),
                "total": str(SUBSCRIBERS - BLOCKLISTED), "now": str(SUBSCRIBERS - BLOCKLISTED),
            }  # fmt: skip
            shots = ("login", "campaigns", "campaign", "list-growth")
            for name in (f"dashboard-{shot}" for shot in shots):
                assert (tmp_path / f"{name}.png").stat().st_size > 1000
            print(f"screenshots saved in {tmp_path}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err
        assert token not in err
