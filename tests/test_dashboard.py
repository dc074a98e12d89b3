"""The dashboard in a real browser (headless Chromium) against a broker in a thread.

Each test leaves a screenshot in test-artifacts/dashboard/<test>.png, taken
when it ends, pass or fail.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
import uuid

import pika
import pytest

from amqpd.config import BrokerConfig
from amqpd.testing import BrokerThread
from tests.dashboard_browser import Keys, Page, Select, chromium_or_skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # noqa: ANN001, ANN201
    # A relative data folder, as the README's command gives it: the overview shows
    # it, and its screenshot is the README's picture.
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("broker"))
    os.mkdir("amqpd-data")
    try:
        config = BrokerConfig(store="memory", data_dir="amqpd-data")
        with BrokerThread(config) as running:
            yield running
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def driver():  # noqa: ANN201
    browser, profile = chromium_or_skip()
    yield browser
    browser.quit()
    import shutil

    shutil.rmtree(profile, ignore_errors=True)


def _base(server: BrokerThread) -> str:
    return f"http://127.0.0.1:{server.management_url.rsplit(':', 1)[1]}"


@pytest.fixture
def page(driver, server, request):  # noqa: ANN001, ANN201
    view = Page(driver, _base(server))
    view.open()
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    yield view
    view.screenshot(request.node.name)


@pytest.fixture
def client(server):  # noqa: ANN001, ANN201
    connection = pika.BlockingConnection(pika.URLParameters(server.url))
    yield connection.channel()
    if connection.is_open:
        connection.close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_wrong_password_is_refused_on_the_form(page: Page) -> None:
    page.visible("#login-username").send_keys("guest")
    page.find("#login-password").send_keys("wrong", Keys.ENTER)
    page.wait_text("Login failed", "#login-error")
    assert not page.find("#shell").is_displayed()


def test_overview_shows_totals_node_and_listeners(page: Page, server: BrokerThread) -> None:
    page.log_in()
    page.wait_text("Data folder")
    text = page.text()
    assert "amqpd" in text and "Uptime" in text
    assert "amqp" in text and str(server.port) in text  # the AMQP listener
    assert "None" in page.text("main")  # no alarm raised
    page.wait(lambda: page.all("svg.chart polyline"), message="no chart drawn")


def _tile(page: Page, label: str) -> int:
    return int(page.find(f"[data-total={label}] .tile-value").text.replace(",", ""))


def test_overview_totals_and_chart_follow_the_broker(page: Page, client) -> None:  # noqa: ANN001
    page.log_in()
    ready = _tile(page, "Ready")
    names = [_name(kind) for kind in ("orders", "invoices", "emails")]
    for step in range(1, 4):
        for name in names[:step]:
            client.queue_declare(name)
            for _ in range(step * 4):
                client.basic_publish("", name, b"x")
        ready += sum(step * 4 for _ in names[:step])
        page.find("body").send_keys("r")  # refresh now: one more sample on the chart
        page.wait(lambda want=ready: _tile(page, "Ready") == want)
    page.wait(lambda: len(page.find("svg.chart polyline").get_attribute("points").split()) >= 4)
    assert _tile(page, "Queues") >= 3
    page.screenshot("overview")  # the README's picture (docs/dashboard.png)


def test_a_queue_appears_after_a_publish_without_a_reload(page: Page, client) -> None:  # noqa: ANN001
    name = _name("appears")
    page.log_in()
    page.go("#/queues")
    filter_box = page.visible("input[data-filter]")
    # "/" focuses the filter; what is typed goes into the URL and survives refreshes.
    page.find("body").send_keys("/")
    page.wait(lambda: page.driver.switch_to.active_element == filter_box)
    filter_box.send_keys(name)
    page.wait(lambda: f"q={name}" in page.driver.current_url)
    client.queue_declare(name)
    client.basic_publish("", name, b"hello")
    row = page.visible(f"tr[data-key='/|{name}']")
    page.wait(lambda: row.find_elements("css selector", "td")[6].text == "1")  # ready
    assert page.driver.switch_to.active_element == filter_box
    assert filter_box.get_attribute("value") == name


def test_sort_and_filter_come_back_from_the_url(page: Page, client) -> None:  # noqa: ANN001
    prefix = _name("sorted")
    for i, count in enumerate((3, 1, 2)):
        client.queue_declare(f"{prefix}-{i}")
        for _ in range(count):
            client.basic_publish("", f"{prefix}-{i}", b"x")
    page.log_in()
    page.go(f"#/queues?q={prefix}&sort=messages&desc=1")
    page.wait(lambda: len(page.all("tbody tr[data-key]")) == 3)
    names = [tr.get_attribute("data-key").split("|")[1] for tr in page.all("tbody tr[data-key]")]
    assert names == [f"{prefix}-0", f"{prefix}-2", f"{prefix}-1"]
    assert page.find("input[data-filter]").get_attribute("value") == prefix
    page.find("th button[data-sort=messages]").click()  # ascending now
    page.wait(lambda: "desc=1" not in page.driver.current_url)
    page.wait(lambda: page.all("tbody tr[data-key]")[0].get_attribute("data-key").endswith("-1"))


def test_pages_follow_the_url_and_a_vanished_page_falls_back(page: Page, client) -> None:  # noqa: ANN001
    prefix = _name("paged")
    for i in range(60):
        client.queue_declare(f"{prefix}-{i:02}")
    page.log_in()
    page.go(f"#/queues?q={prefix}")
    page.wait_text("Page 1 of 2")
    page.wait(lambda: len(page.all("tbody tr[data-key]")) == 50)
    next(b for b in page.all(".pager button") if "Next" in b.text).click()
    page.wait(lambda: "page=2" in page.driver.current_url)
    page.wait(lambda: len(page.all("tbody tr[data-key]")) == 10)
    for i in range(20):
        client.queue_delete(f"{prefix}-{i:02}")
    page.find("body").send_keys("r")  # page 2 is gone now: back to the first
    page.wait(lambda: "page=" not in page.driver.current_url)
    page.wait(lambda: len(page.all("tbody tr[data-key]")) == 40)


def _api(server: BrokerThread, method: str, path: str, body: dict | None = None) -> None:
    base, auth = _base(server), base64.b64encode(b"guest:guest").decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/{path}", data=data, method=method)
    request.add_header("Authorization", f"Basic {auth}")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=10).close()


def test_the_vhost_picker_and_g_keys_narrow_and_move(page: Page, server: BrokerThread) -> None:
    vhost, here, there = _name("staging"), _name("here"), _name("there")
    _api(server, "PUT", f"vhosts/{vhost}")
    _api(server, "PUT", f"queues/{vhost}/{there}", {"durable": False})
    _api(server, "PUT", f"queues/%2F/{here}", {"durable": False})
    page.log_in()
    page.find("body").send_keys("g", "q")
    page.wait(lambda: page.driver.current_url.endswith("#/queues"))
    page.wait_text(there)
    page.wait_text(here)
    page.driver.refresh()  # the picker lists vhosts made since the login
    Select(page.visible("#vhost-select")).select_by_value(vhost)
    page.wait(lambda: here not in page.text())
    assert there in page.text() and f"Queues in {vhost}" in page.text("main h1")


def test_read_a_message_with_its_headers_then_purge(page: Page, client) -> None:  # noqa: ANN001
    name = _name("read")
    client.queue_declare(name)
    props = pika.BasicProperties(content_type="text/plain", headers={"trace": "abc-123"})
    client.basic_publish("", name, b"first body", props)
    client.basic_publish("", name, b"second body")
    page.log_in()
    page.go(f"#/queues/%2F/{name}")
    page.wait_text("Get messages")
    page.submit("get")
    page.wait_text("first body", ".messages")
    messages = page.text(".messages")
    assert "abc-123" in messages and "text/plain" in messages
    page.find("button[data-action=purge]").click()
    page.confirm()
    page.wait(lambda: page.find("[data-total=Ready] .tile-value").text == "0")
    assert client.queue_declare(name, passive=True).method.message_count == 0


def test_get_in_base64_and_ack_removes_the_message(page: Page, client) -> None:  # noqa: ANN001
    name = _name("b64")
    client.queue_declare(name)
    client.basic_publish("", name, b"\x00\x01binary")
    page.log_in()
    page.go(f"#/queues/%2F/{name}")
    page.fill("get", ackmode="ack_requeue_false", encoding="base64")
    page.submit("get")
    page.wait_text("AAFiaW5hcnk=", ".messages")
    assert client.queue_declare(name, passive=True).method.message_count == 0


def test_publish_from_the_queue_page(page: Page, client) -> None:  # noqa: ANN001
    name = _name("published")
    client.queue_declare(name)
    page.log_in()
    page.go(f"#/queues/%2F/{name}")
    page.fill("publish", headers="origin=dashboard", payload="from the page")
    page.submit("publish")
    page.wait_text("Routed.", "form[data-form=publish]")
    method, properties, body = client.basic_get(name, auto_ack=True)
    assert body == b"from the page"
    assert properties.headers == {"origin": "dashboard"}


def test_bind_publish_and_unbind_on_an_exchange_page(page: Page, client) -> None:  # noqa: ANN001
    exchange, queue = _name("ex"), _name("bound")
    client.exchange_declare(exchange, "direct")
    client.queue_declare(queue)
    page.log_in()
    page.go(f"#/exchanges/%2F/{exchange}")
    page.wait_text("Bindings from this exchange")
    page.fill("bind", destination=queue, routing_key="rk")
    page.submit("bind")
    page.wait_text(queue)
    page.fill("publish", routing_key="rk", payload="via exchange")
    page.submit("publish")
    page.wait_text("Routed.", "form[data-form=publish]")
    assert client.basic_get(queue, auto_ack=True)[2] == b"via exchange"
    page.visible("tbody tr[data-key] button").click()  # Unbind
    page.confirm()
    page.wait_text("No bindings.")
    client.basic_publish(exchange, "rk", b"dropped")
    assert client.queue_declare(queue, passive=True).method.message_count == 0


def test_close_a_connection_and_the_client_gets_320(page: Page, server: BrokerThread) -> None:
    label = _name("closeme")
    params = pika.URLParameters(server.url)
    params.client_properties = {"connection_name": label}
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=11)
    page.log_in()
    page.go("#/connections")
    row = page.wait(lambda: next((tr for tr in page.all("tbody tr") if label in tr.text), None))
    row.find_element("css selector", "a").click()
    page.wait_text("Client properties")
    page.wait_text("11")  # the channel's prefetch
    page.fill("close", reason="maintenance window")
    page.submit("close")
    page.confirm()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        for _ in range(100):
            connection.process_data_events(time_limit=0.1)
    assert closed.value.reply_code == 320
    assert "maintenance window" in closed.value.reply_text


def test_channels_and_consumers_show_prefetch_and_unacked(page: Page, client) -> None:  # noqa: ANN001
    name = _name("consumed")
    client.queue_declare(name)
    client.basic_qos(prefetch_count=7)
    client.basic_publish("", name, b"held")
    client.basic_consume(name, lambda *args: None)
    client.connection.process_data_events(time_limit=0.2)
    page.log_in()
    page.go("#/consumers")
    row = page.wait(lambda: next((tr for tr in page.all("tbody tr") if name in tr.text), None))
    assert "manual" in row.text and "7" in row.text
    page.go("#/channels")
    page.wait(lambda: any("7" in tr.text and "1" in tr.text for tr in page.all("tbody tr")))


def test_admin_adds_a_user_who_can_log_in(page: Page) -> None:
    user = _name("ops")
    page.log_in()
    page.go("#/admin/users")
    page.fill("user", name=user, password="s3cret", tags="management")
    page.submit("user")
    page.wait_text(user)
    page.go("#/admin/permissions")
    page.fill("permission", user=user, vhost="/")
    page.submit("permission")
    page.wait(lambda: any(user in tr.text for tr in page.all("tbody tr")))
    page.find("#logout").click()
    page.log_in(user, "s3cret")
    assert f"{user} (management)" in page.text("#whoami")
    page.wait_text("need the monitoring tag")  # /api/nodes refuses a management user
    page.go("#/admin/users")
    page.wait_text("Only users tagged administrator")


def test_export_downloads_the_definitions(page: Page, client) -> None:  # noqa: ANN001
    name = _name("exported")
    client.queue_declare(name, durable=True)
    page.log_in()
    page.go("#/admin/definitions")
    page.submit("export")
    page.wait_text("Saved amqpd-", "form[data-form=export]")
    files = page.wait(lambda: [p for p in page.driver.downloads.glob("amqpd-*.json")])
    exported = json.loads(files[0].read_text())
    assert name in [q["name"] for q in exported["queues"]]
    assert "guest" in [u["name"] for u in exported["users"]]


def test_import_a_definitions_file(page: Page, client, tmp_path) -> None:  # noqa: ANN001
    queue, user = _name("imported"), _name("importer")
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    definitions = {
        "users": [{"name": user, "password": "pw", "tags": "management"}],
        "permissions": [{"user": user, "vhost": "/", **everything}],
        "queues": [{"name": queue, "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 10}}],
    }  # fmt: skip
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(definitions))
    page.log_in()
    page.go("#/admin/definitions")
    page.wait(lambda: page.find("form[data-form=import] input[type=file]")).send_keys(str(path))
    page.submit("import")
    page.wait_text("Imported definitions.json", "form[data-form=import]")
    assert client.queue_declare(queue, passive=True).method.message_count == 0
    page.go(f"#/queues/%2F/{queue}")
    page.wait_text("x-max-length")
    page.find("#logout").click()
    page.log_in(user, "pw")


def test_the_banner_says_when_the_broker_is_unreachable(driver, tmp_path, request) -> None:  # noqa: ANN001
    config = BrokerConfig(store="memory", data_dir=str(tmp_path))
    first = BrokerThread(config).start()
    port = int(first.management_url.rsplit(":", 1)[1])
    page = Page(driver, _base(first))
    try:
        page.open()
        driver.execute_script("sessionStorage.clear()")
        page.log_in()
        assert not page.find("#banner").is_displayed()
        first.stop()
        page.visible("#banner")
        assert "unreachable" in page.text("#banner")
        page.screenshot(f"{request.node.name}-down")
        again = BrokerThread(config)
        again.config = again.config.replace(management_port=port)  # the page's origin
        with again:
            page.wait(lambda: not page.find("#banner").is_displayed(), message="banner stayed")
            page.visible("#shell")
            page.wait_text("Data folder")
    finally:
        page.screenshot(request.node.name)
        first.stop()
