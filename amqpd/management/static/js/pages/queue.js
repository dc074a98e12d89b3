// One queue: its numbers, arguments, bindings and consumers; get, publish, purge, delete.

import { api, enc } from "../api.js";
import { Table } from "../table.js";
import { h, clear, num, bytes, kv, badge, route, field, form, select, section, toast, confirmAction } from "../ui.js";
import { bindingsTable, bindForm, publishForm } from "../forms.js";
import { features } from "./queues.js";

export default function queue(main, [vhost, name]) {
  const path = `queues/${enc(vhost)}/${enc(name)}`;
  const stats = h("div.tiles");
  const details = h("div");
  const bindings = bindingsTable(`${path}/bindings`, { prefix: "b", showDestination: false, after: () => bindings.refresh() });
  const consumers = new Table({
    source: `consumers/${enc(vhost)}`, prefix: "c", filterable: false, label: "consumers",
    rowKey: (c) => `${c.channel_details.name}|${c.consumer_tag}`, empty: "No consumers.",
    columns: [
      { key: "consumer_tag", label: "Tag", render: (c) => h("code.tag", { title: c.consumer_tag }, c.consumer_tag) },
      { key: "channel_details.name", label: "Channel", render: (c) => h("a", {
        href: route("connections", c.channel_details.connection_name), title: c.channel_details.name,
      }, `${c.channel_details.peer_host}:${c.channel_details.peer_port} (${c.channel_details.number})`) },
      { key: "ack_required", label: "Ack", render: (c) => [c.ack_required ? "manual" : "auto", c.exclusive ? badge("exclusive", "dim") : ""] },
      { key: "prefetch_count", label: "Prefetch", num: true },
      { key: "activity_status", label: "Status" },
    ],
  });
  // The API lists a vhost's consumers; this page shows only this queue's.
  const allConsumers = consumers.fetchPage.bind(consumers);
  consumers.fetchPage = async (p) => {
    const page = await allConsumers(p);
    return { ...page, items: page.items.filter((c) => c.queue.name === name) };
  };
  consumers.pageSize = 500;
  const messages = h("div.messages");

  main.append(
    h("p.crumbs", {}, h("a", { href: "#/queues" }, "Queues"), " in vhost ", h("code", {}, vhost)),
    h("h1", {}, name || "(unnamed)"),
    stats,
    h("div.cols", {}, section("Details", details), section("Consumers", consumers.element)),
    section("Bindings", bindings.element, bindForm(vhost, { destination: name, kind: "q" }, () => bindings.refresh())),
    h("div.cols", {},
      section("Get messages", getForm(path, messages), messages),
      section("Publish", h("p.muted", {}, "Through the default exchange, routed to this queue."), publishForm(vhost, "", name))),
    section("Danger zone", h("div.row", {},
      h("button.warn", { type: "button", dataset: { action: "purge" }, onclick: () => purge(path, name).then(refresh).catch(report) }, "Purge messages"),
      h("button.danger", { type: "button", dataset: { action: "delete" }, onclick: () => remove(path, name).catch(report) }, "Delete queue"))));

  async function refresh() {
    let q;
    try {
      q = await api(path);
    } catch (err) {
      if (err.status === 404) clear(stats, h("p.error", {}, `The queue ${name} no longer exists.`));
      throw err;
    }
    const tile = (label, value) => h("div.tile", { dataset: { total: label } }, h("span.tile-value", {}, value), h("span.tile-label", {}, label));
    clear(stats, tile("Ready", num(q.messages_ready)), tile("Unacked", num(q.messages_unacknowledged)),
      tile("Total", num(q.messages)), tile("Consumers", num(q.consumers)), tile("Bytes", bytes(q.message_bytes)));
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    clear(details, h("dl.kv", {},
      row("Vhost", vhost), row("Type", q.type), row("State", badge(q.state, q.state === "running" ? "good" : "warn")),
      row("Features", features(q).length ? features(q) : h("span.muted", {}, "transient")),
      row("Arguments", kv(q.arguments)),
      row("Policy", q.policy || h("span.muted", {}, "none")),
      row("Operator policy", q.operator_policy || h("span.muted", {}, "none")),
      row("Effective policy", kv(q.effective_policy_definition)),
      q.exclusive_consumer_tag ? row("Exclusive consumer", q.exclusive_consumer_tag) : null,
      q.single_active_consumer_tag ? row("Active consumer", q.single_active_consumer_tag) : null));
    await Promise.all([bindings.refresh(), consumers.refresh()]);
  }
  return { refresh };
}

const report = (err) => toast(err.message, "bad");

async function purge(path, name) {
  if (!(await confirmAction(`Purge every ready message of ${name}? This cannot be undone.`, "Purge"))) return;
  await api(`${path}/contents`, { method: "DELETE" });
  toast(`Queue ${name} purged.`);
}

async function remove(path, name) {
  if (!(await confirmAction(`Delete the queue ${name} and all its messages?`, "Delete"))) return;
  await api(path, { method: "DELETE" });
  toast(`Queue ${name} deleted.`);
  location.hash = "#/queues";
}

// RabbitMQ's ack modes; the first leaves the messages where they were.
const ACK_MODES = [
  ["ack_requeue_true", "Nack, requeue"],
  ["ack_requeue_false", "Ack (remove)"],
  ["reject_requeue_true", "Reject, requeue"],
  ["reject_requeue_false", "Reject (dead-letter)"],
];

function getForm(path, out) {
  return form({ class: "stack", dataset: { form: "get" } }, h("div.row", {},
    field("Ack mode", select("ackmode", ACK_MODES, "ack_requeue_true")),
    field("Encoding", select("encoding", [["auto", "auto (text)"], ["base64", "base64"]], "auto")),
    field("Count", h("input", { name: "count", type: "number", min: 1, value: 1, required: true })),
    field("Truncate at", h("input", { name: "truncate", type: "number", min: 1, value: 50000 }))),
  "Get messages", async (v) => {
    const got = await api(`${path}/get`, {
      method: "POST",
      body: { count: Number(v.count), ackmode: v.ackmode, encoding: v.encoding, truncate: Number(v.truncate) || undefined },
    });
    clear(out, got.length ? got.map(message) : h("p.muted", {}, "The queue is empty."));
    return `${got.length} message${got.length === 1 ? "" : "s"}.`;
  });
}

function message(m, i) {
  const { headers, ...properties } = m.properties || {};
  const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  return h("article.message", { dataset: { message: i } },
    h("header", {}, h("strong", {}, `Message ${i + 1}`), m.redelivered ? badge("redelivered", "warn") : null,
      h("span.muted", {}, ` ${m.message_count} left in the queue`)),
    h("dl.kv", {},
      row("Exchange", m.exchange || "(AMQP default)"), row("Routing key", h("code", {}, m.routing_key)),
      row("Properties", kv(properties)), row("Headers", kv(headers)),
      row("Payload", [h("span.muted", {}, `${num(m.payload_bytes)} bytes, ${m.payload_encoding === "base64" ? "base64" : "text"}`),
        h("pre.payload", { dataset: { payload: "" } }, m.payload)])));
}
