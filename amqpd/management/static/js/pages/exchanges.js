// Exchanges: every exchange of the chosen vhost (or all), and a form to add one.

import { api, enc } from "../api.js";
import { Table } from "../table.js";
import { h, rate, badge, route, field, form, select, section, toast } from "../ui.js";
import { parsePairs, pairsInput } from "../forms.js";

export const displayName = (name) => name || "(AMQP default)";

export function features(x) {
  const out = [];
  if (x.durable) out.push(badge("D", "dim"));
  if (x.auto_delete) out.push(badge("AD", "dim"));
  if (x.internal) out.push(badge("I", "dim"));
  for (const key of Object.keys(x.arguments || {})) out.push(badge(key, "arg"));
  return out;
}

export default function exchanges(main, _params, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `exchanges/${enc(vhost)}` : "exchanges", label: "exchanges", defaultSort: "name",
    rowKey: (x) => `${x.vhost}|${x.name}`,
    columns: [
      !vhost && { key: "vhost", label: "Vhost" },
      { key: "name", label: "Name", render: (x) => h("a", { href: route("exchanges", x.vhost, x.name || "amq.default") }, displayName(x.name)) },
      { key: "type", label: "Type" },
      { key: "features", label: "Features", sort: false, render: features },
      { key: "policy", label: "Policy", render: (x) => x.policy || "" },
      { key: "message_stats.publish_in_details.rate", label: "In", num: true, render: (x) => rate(x.message_stats?.publish_in_details || { rate: 0 }) },
      { key: "message_stats.publish_out_details.rate", label: "Out", num: true, render: (x) => rate(x.message_stats?.publish_out_details || { rate: 0 }) },
    ].filter(Boolean),
  });
  main.append(
    h("h1", {}, "Exchanges", vhost ? h("span.muted", {}, ` in ${vhost}`) : ""),
    section("", table.element),
    h("details.card", {}, h("summary", {}, "Add an exchange"), addForm(vhost, () => table.refresh())));
  return { refresh: () => table.refresh() };
}

function addForm(vhost, after) {
  return form({ class: "stack", dataset: { form: "add-exchange" } }, [
    h("div.row", {},
      field("Vhost", h("input", { name: "vhost", value: vhost || "/", required: true })),
      field("Name", h("input", { name: "name", required: true })),
      field("Type", select("type", ["direct", "fanout", "topic", "headers", "x-delayed-message"], "direct")),
      field("Durable", select("durable", [["true", "durable"], ["false", "transient"]], "true")),
      field("Internal", select("internal", [["false", "no"], ["true", "yes"]], "false"))),
    field("Arguments", pairsInput("arguments", "alternate-exchange=unrouted")),
  ], "Add exchange", async (v, el) => {
    await api(`exchanges/${enc(v.vhost)}/${enc(v.name)}`, {
      method: "PUT",
      body: { type: v.type, durable: v.durable === "true", internal: v.internal === "true", auto_delete: false, arguments: parsePairs(v.arguments) },
    });
    toast(`Exchange ${v.name} added.`);
    el.querySelector("[name=name]").value = "";
    await after();
  });
}
