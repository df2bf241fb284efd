"""The hosted subscription form in a real headless Chromium (Debian's, driven by Selenium).

The daemon's HTTP app runs on uvicorn (campaignd.http.server) on 127.0.0.1:0 over a migrated
SQLite database, with the real SMTP messenger sending to a capture server. Chromium opens the
form of a double opt-in list, types, submits; the test then finds the subscriber in the
database and the confirmation mail at the capture server, and saves a screenshot under the
test's tmp_path. Without chromium it is skipped, unless CAMPAIGND_TEST_REQUIRE_BROWSER is set
(CI, where scripts/ensure_browser.sh installs it), when it fails.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from campaignd.config import AppSettings, HttpSettings, SecuritySettings, Settings, SmtpSettings
from campaignd.db.migrate import upgrade
from campaignd.domain import OptIn, SubscriptionStatus
from campaignd.http.app import create_app
from campaignd.http.server import HttpServer
from campaignd.messengers.registry import build_messengers, close_messengers
from campaignd.store.sql import SqlStore
from tests.support.smtpd import SmtpTestServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    reason = ""
    if missing:
        reason = f"{' and '.join(missing)} missing (run scripts/ensure_browser.sh as root)"
    elif shutil.which("chromium") is None:
        reason = "chromium is not on PATH"
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            reason = "the selenium package is missing (pip install -e '.[dev]')"
    if not reason:
        return
    if os.environ.get("CAMPAIGND_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"the browser test must run here but cannot: {reason}", pytrace=False)
    pytest.skip(reason)


def _drive(url: str, screenshot: Path) -> str:
    """Open the form at `url`, fill and submit it; return the answer page's text."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=900,700")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(url)
        assert driver.title == "Subscribe to readers"
        driver.find_element(By.ID, "email").send_keys("Browser.User@example.com")
        driver.find_element(By.ID, "name").send_keys("Browser User")
        box = driver.find_element(By.NAME, "l")
        assert box.is_selected()  # the form of one list has it ticked
        # The honeypot is out of sight, so a person leaves it empty.
        assert not driver.find_element(By.ID, "nonce").is_displayed()
        driver.save_screenshot(str(screenshot.with_name("subscribe-form-filled.png")))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 20).until(expected_conditions.title_is("Thank you"))
        driver.save_screenshot(str(screenshot))
        text: str = driver.find_element(By.TAG_NAME, "body").text
        return text
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_subscribing_through_the_hosted_form_in_chromium(tmp_path: Path) -> None:
    _browser_or_skip()
    url = f"sqlite:///{tmp_path / 'campaignd.db'}"
    await upgrade(url)
    store = await SqlStore.open(url)
    async with SmtpTestServer() as smtp:
        settings = Settings(
            security=SecuritySettings(secret=SecretStr("b" * 32)),
            app=AppSettings(root_url="http://127.0.0.1", from_email="News <news@example.com>"),
            http=HttpSettings(enabled=True, listen="127.0.0.1:0"),
            smtp=[
                SmtpSettings(
                    host="127.0.0.1", port=smtp.port, tls_type="none", auth_protocol="none"
                )
            ],
        )
        messengers: dict[str, Any] = dict(build_messengers(settings))
        readers = await store.create_list(
            "readers", OptIn.DOUBLE, "The readers' letter", public=True
        )
        app = create_app(store, settings, messenger=lambda: messengers.get("email"))
        server = HttpServer(app, settings.http.listen)
        host, port = server.bind()
        server.start()
        try:
            for _ in range(100):
                if server.started:
                    break
                await asyncio.sleep(0.05)
            shot = tmp_path / "subscribe-thanks.png"
            page = await asyncio.to_thread(
                _drive, f"http://{host}:{port}/subscribe/{readers.uuid}", shot
            )
            assert "Thank you" in page
            assert shot.stat().st_size > 1000
            print(f"screenshots saved in {tmp_path}: subscribe-form-filled.png, {shot.name}")
            for _ in range(100):  # the sign-up runs after the answer
                if smtp.messages:
                    break
                await asyncio.sleep(0.05)
        finally:
            await server.stop()
            await close_messengers(messengers)
        sub = await store.get_subscriber("browser.user@example.com")
        assert sub.name == "Browser User"
        assert [(s.list_name, s.status) for s in sub.subscriptions] == [
            ("readers", SubscriptionStatus.UNCONFIRMED)
        ]
        [mail] = smtp.messages
        assert mail.rcpt_tos == ("Browser.User@example.com",)
        msg = email.message_from_bytes(mail.data, policy=email.policy.default)
        assert msg["Subject"] == "Please confirm your subscription"
        assert "http://127.0.0.1/optin/" in msg.as_string()
    await store.close()
