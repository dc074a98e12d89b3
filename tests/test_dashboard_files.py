"""The dashboard's files: served at / without a login, nothing else reachable,
every import resolves, nothing comes from elsewhere, and all of it ships."""

from __future__ import annotations

import fnmatch
import re
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from amqpd.config import BrokerConfig
from amqpd.management.dashboard import ROOT
from amqpd.testing import BrokerThread

REPO = Path(__file__).resolve().parent.parent
FILES = sorted(p for p in ROOT.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def base(tmp_path_factory):  # noqa: ANN001, ANN201
    config = BrokerConfig(store="memory", data_dir=str(tmp_path_factory.mktemp("data")))
    with BrokerThread(config) as broker:
        yield f"http://127.0.0.1:{broker.management_url.rsplit(':', 1)[1]}"


def fetch(url: str, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_the_page_is_served_at_the_root_without_a_login(base: str) -> None:
    status, headers, body = fetch(f"{base}/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert b'<script type="module" src="js/app.js">' in body


@pytest.mark.parametrize("path", ["js/app.js", "js/pages/queues.js"])
def test_modules_are_served_as_javascript(base: str, path: str) -> None:
    status, headers, _ = fetch(f"{base}/{path}")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["..%2Fdashboard.py", "js/..%2F..%2Fapp.py", "%2E%2E/app.py", ".hidden", "nothere.html",
             "js", "index.html%00.js"],
)  # fmt: skip
def test_nothing_outside_the_files_is_served(base: str, path: str) -> None:
    status, headers, body = fetch(f"{base}/{path}")
    assert status == 404
    assert body == b'{"error":"Object Not Found","reason":"Not Found"}'


def test_the_page_only_reads(base: str) -> None:
    status, headers, _ = fetch(f"{base}/index.html", method="POST")
    assert status == 405
    assert headers["allow"] == "HEAD, GET"


def test_the_api_still_asks_for_a_login(base: str) -> None:
    status, _, body = fetch(f"{base}/api/overview")
    assert status == 401 and body == b""


def test_every_import_names_a_file_that_exists() -> None:
    scripts = [p for p in FILES if p.suffix == ".js"]
    for script in scripts:
        text = script.read_text()
        targets = re.findall(r'from\s+"(\.[^"]+)"', text) + re.findall(
            r'import\("(\.[^"]+)"\)', text
        )
        for target in targets:
            assert (script.parent / target).resolve().is_file(), f"{script.name}: {target}"
    # app.js loads each section's module by name.
    for section in ("overview", "queues", "queue", "exchanges", "exchange", "connections",
                    "connection", "channels", "consumers", "admin"):  # fmt: skip
        assert (ROOT / "js" / "pages" / f"{section}.js").is_file()


def test_nothing_is_fetched_from_elsewhere() -> None:
    for path in FILES:
        if path.suffix in (".png", ".ico"):
            continue
        text = path.read_text()
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        text = text.replace('"http://www.w3.org/2000/svg"', "")  # a namespace, not a fetch
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path.name


def test_every_file_ships_in_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["amqpd.management"]
    package = ROOT.parent
    for path in FILES:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/")
                   for p in patterns), relative  # fmt: skip
