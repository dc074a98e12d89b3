// Overview: totals, a live chart of queued messages and message rates, the node.

import { api } from "../api.js";
import { lineChart } from "../chart.js";
import { h, clear, num, bytes, duration, badge, section } from "../ui.js";

const KEEP = 120; // samples kept: ten minutes at one every five seconds
const history = { ready: [], unacked: [], publish: [], deliver: [], ack: [] };

function sample(overview) {
  const totals = overview.queue_totals || {};
  const stats = overview.message_stats || {};
  const push = (name, v) => { history[name].push(v || 0); if (history[name].length > KEEP) history[name].shift(); };
  push("ready", totals.messages_ready);
  push("unacked", totals.messages_unacknowledged);
  push("publish", stats.publish_details?.rate);
  push("deliver", stats.deliver_get_details?.rate);
  push("ack", stats.ack_details?.rate);
}

function tile(label, value, href) {
  const body = [h("span.tile-value", {}, num(value)), h("span.tile-label", {}, label)];
  return href ? h("a.tile", { href, dataset: { total: label } }, body) : h("div.tile", { dataset: { total: label } }, body);
}

function legend(items) {
  return h("ul.legend", {}, items.map(([cls, label, value]) => h("li", {}, h(`span.swatch.${cls}`), label, " ", h("strong", {}, value))));
}

export default function overview(main) {
  const tiles = h("div.tiles");
  const queued = h("div.chart-box");
  const rates = h("div.chart-box");
  const node = h("div");
  const listeners = h("div");
  const alarms = h("div");
  main.append(
    h("h1", {}, "Overview"),
    tiles,
    h("div.cols", {},
      section("Queued messages", queued),
      section("Message rates", rates)),
    h("div.cols", {}, section("Node", node), h("div.stack", {}, section("Alarms", alarms), section("Listeners", listeners))));

  async function refresh() {
    const o = await api("overview");
    const t = o.object_totals || {};
    const q = o.queue_totals || {};
    sample(o);
    clear(tiles,
      tile("Connections", t.connections, "#/connections"), tile("Channels", t.channels, "#/channels"),
      tile("Exchanges", t.exchanges, "#/exchanges"), tile("Queues", t.queues, "#/queues"),
      tile("Consumers", t.consumers, "#/consumers"), tile("Ready", q.messages_ready),
      tile("Unacked", q.messages_unacknowledged));
    clear(queued, lineChart([
      { label: "Ready", cls: "s1", values: history.ready },
      { label: "Unacked", cls: "s2", values: history.unacked }]),
    legend([["s1", "Ready", num(q.messages_ready)], ["s2", "Unacked", num(q.messages_unacknowledged)]]));
    const last = (name) => `${(history[name].at(-1) || 0).toFixed(1)}/s`;
    clear(rates, lineChart([
      { label: "Publish", cls: "s3", values: history.publish },
      { label: "Deliver", cls: "s1", values: history.deliver },
      { label: "Ack", cls: "s2", values: history.ack }], { unit: "/s" }),
    legend([["s3", "Publish", last("publish")], ["s1", "Deliver / get", last("deliver")], ["s2", "Ack", last("ack")]]));
    clear(listeners, h("table.grid.compact", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Protocol"), h("th", {}, "Address"), h("th.num", {}, "Port"))),
      h("tbody", {}, (o.listeners || []).map((l) =>
        h("tr", {}, h("td", {}, l.protocol), h("td", {}, l.ip_address), h("td.num", {}, l.port))))));
    await refreshNode(o);
  }

  async function refreshNode(o) {
    const version = h("dd", {}, `${o.product_name} ${o.product_version}`, h("span.muted", {}, ` · speaks RabbitMQ ${o.rabbitmq_version}`));
    let n;
    try {
      [n] = await api("nodes");
    } catch (err) {
      if (err.status !== 401) throw err;
      clear(node, h("dl.kv", {}, h("dt", {}, "Version"), version, h("dt", {}, "Node"), h("dd", {}, o.node)),
        h("p.muted", {}, "Uptime, memory and alarms need the monitoring tag."));
      clear(alarms, h("span.muted", {}, "Needs the monitoring tag."));
      return;
    }
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    clear(node, h("dl.kv", {},
      h("dt", {}, "Version"), version,
      row("Node", n.name), row("Uptime", duration(n.uptime)),
      row("Data folder", h("code", {}, n.db_dir)),
      row("Memory", `${bytes(n.mem_used)} of ${bytes(n.mem_limit)} allowed`),
      row("Disk free", `${bytes(n.disk_free)} (alarm below ${bytes(n.disk_free_limit)})`),
      row("File descriptors", `${num(n.fd_used)} of ${num(n.fd_total)}`),
      row("Process", `pid ${n.os_pid}, ${n.processors} CPU`)));
    const raised = [n.mem_alarm && "Memory alarm: publishers are blocked", n.disk_free_alarm && "Disk alarm: publishers are blocked"].filter(Boolean);
    clear(alarms, raised.length ? raised.map((a) => h("p", {}, badge(a, "bad"))) : h("p", {}, badge("None", "good"), " publishers flow freely"));
  }

  return { refresh };
}
