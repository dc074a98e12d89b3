"""A headless Chromium driven by selenium, for the dashboard's tests.

``chromium_or_skip`` starts Debian's chromium through its chromium-driver with
a fresh profile; a machine without them skips with the reason. ``Page`` wraps
the few steps the tests repeat: log in, go to a section, wait for text.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
WAIT = 20  # seconds any expected state may take (the page refreshes every 5)

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: F401 - for tests
except ImportError:  # pragma: no cover - the test extra installs it
    webdriver = None


def chromium_or_skip() -> tuple[object, Path]:
    """(a WebDriver, its profile folder) or a skip saying what is missing."""
    if webdriver is None:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("chromium and chromium-driver are not installed (bash .ci/install-clients)")
    profile = Path(tempfile.mkdtemp(prefix="amqpd-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    downloads = profile / "downloads"
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1366,768",
                 f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    except WebDriverException as err:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium did not start: {err.msg}")
    driver.downloads = downloads  # where a download from the page lands
    return driver, profile


class Page:
    """The dashboard in one browser, at one broker's management port."""

    def __init__(self, driver: object, base: str) -> None:
        self.driver = driver
        self.base = base.rstrip("/")

    def wait(self, condition, timeout: float = WAIT, message: str = ""):  # noqa: ANN001, ANN201
        # A refresh replaces rows and tiles: an element found a moment ago may be gone.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        wait = WebDriverWait(self.driver, timeout, ignored_exceptions=ignored)
        return wait.until(lambda d: condition(), message)

    def find(self, css: str):  # noqa: ANN201
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str):  # noqa: ANN201
        """The first element matching ``css`` once it is displayed."""

        def shown():  # noqa: ANN202
            found = [e for e in self.all(css) if e.is_displayed()]
            return found[0] if found else None

        return self.wait(shown, message=f"{css} never appeared")

    def text(self, css: str = "main") -> str:
        return self.find(css).text

    def wait_text(self, needle: str, css: str = "main") -> None:
        self.wait(lambda: needle in self.text(css), message=f"{needle!r} never shown in {css}")

    def open(self, hash_route: str = "") -> None:
        self.driver.get(f"{self.base}/#/{hash_route.lstrip('#/')}")

    def go(self, hash_route: str) -> None:
        """Navigate inside the page (no reload)."""
        self.driver.execute_script("location.hash = arguments[0]", hash_route)

    def log_in(self, user: str = "guest", password: str = "guest") -> None:
        self.open()
        name = self.visible("#login-username")
        name.clear()
        name.send_keys(user)
        self.find("#login-password").send_keys(password, Keys.ENTER)
        self.visible("#shell")
        self.wait_text("Overview")

    def fill(self, form: str, **values: str) -> None:
        """Set fields of the form with data-form=``form`` by name."""
        for name, value in values.items():
            el = self.wait(lambda n=name: self.find(f"form[data-form={form}] [name={n}]"))
            if el.tag_name == "select":
                self.driver.execute_script("arguments[0].value = arguments[1]", el, value)
            else:
                el.clear()
                el.send_keys(value)

    def submit(self, form: str) -> None:
        self.visible(f"form[data-form={form}] button[type=submit]").click()

    def confirm(self) -> None:
        self.visible("#confirm-ok").click()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path
