// Queues: every queue of the chosen vhost (or all), and a form to add one.

import { api, enc } from "../api.js";
import { Table } from "../table.js";
import { h, rate, badge, route, field, form, select, section, toast } from "../ui.js";
import { parsePairs, pairsInput } from "../forms.js";

export function features(q) {
  const out = [];
  if (q.durable) out.push(badge("D", "dim"));
  if (q.auto_delete) out.push(badge("AD", "dim"));
  if (q.exclusive) out.push(badge("Excl", "dim"));
  for (const key of Object.keys(q.arguments || {})) out.push(badge(key.replace(/^x-/, ""), "arg"));
  return out;
}

export default function queues(main, _params, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `queues/${enc(vhost)}` : "queues", label: "queues", defaultSort: "name",
    rowKey: (q) => `${q.vhost}|${q.name}`, empty: "No queues. Declare one below, or from a client.",
    columns: [
      !vhost && { key: "vhost", label: "Vhost" },
      { key: "name", label: "Name", render: (q) => h("a", { href: route("queues", q.vhost, q.name) }, q.name) },
      { key: "type", label: "Type" },
      { key: "features", label: "Features", sort: false, render: features },
      { key: "policy", label: "Policy", render: (q) => q.policy || "" },
      { key: "state", label: "State", render: (q) => badge(q.state, q.state === "running" ? "good" : "warn") },
      { key: "messages_ready", label: "Ready", num: true },
      { key: "messages_unacknowledged", label: "Unacked", num: true },
      { key: "messages", label: "Total", num: true },
      { key: "consumers", label: "Consumers", num: true },
      { key: "message_stats.publish_details.rate", label: "In", num: true, render: (q) => rate(q.message_stats?.publish_details || { rate: 0 }) },
      { key: "message_stats.deliver_get_details.rate", label: "Out", num: true, render: (q) => rate(q.message_stats?.deliver_get_details || { rate: 0 }) },
    ].filter(Boolean),
  });
  main.append(
    h("h1", {}, "Queues", vhost ? h("span.muted", {}, ` in ${vhost}`) : ""),
    section("", table.element),
    h("details.card", {}, h("summary", {}, "Add a queue"), addForm(vhost, () => table.refresh())));
  return { refresh: () => table.refresh() };
}

function addForm(vhost, after) {
  return form({ class: "stack", dataset: { form: "add-queue" } }, [
    h("div.row", {},
      field("Vhost", h("input", { name: "vhost", value: vhost || "/", required: true })),
      field("Name", h("input", { name: "name", required: true })),
      field("Type", select("type", ["classic", "quorum"], "classic")),
      field("Durable", select("durable", [["true", "durable"], ["false", "transient"]], "true"))),
    field("Arguments", pairsInput("arguments", "x-message-ttl=60000\nx-dead-letter-exchange=dlx")),
  ], "Add queue", async (v, el) => {
    const args = { ...parsePairs(v.arguments), "x-queue-type": v.type };
    await api(`queues/${enc(v.vhost)}/${enc(v.name)}`, {
      method: "PUT", body: { durable: v.durable === "true", auto_delete: false, arguments: args },
    });
    toast(`Queue ${v.name} added.`);
    el.querySelector("[name=name]").value = "";
    await after();
  });
}
