// Forms the queue and exchange pages share: publish, bindings, arguments.

import { api, enc } from "./api.js";
import { h, field, form, select, toast, confirmAction, route } from "./ui.js";
import { Table } from "./table.js";

/** "key=value" lines (or a JSON object) as an object; numbers and booleans typed. */
export function parsePairs(text) {
  const trimmed = (text || "").trim();
  if (!trimmed) return {};
  if (trimmed.startsWith("{")) return JSON.parse(trimmed);
  const out = {};
  for (const line of trimmed.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`"${line.trim()}" is not key=value`);
    const raw = line.slice(at + 1).trim();
    let value = raw;
    if (/^-?\d+$/.test(raw)) value = Number(raw);
    else if (raw === "true" || raw === "false") value = raw === "true";
    out[line.slice(0, at).trim()] = value;
  }
  return out;
}

const pairsHelp = "One key=value a line (numbers and true/false are typed), or a JSON object.";

export function pairsInput(name, placeholder) {
  return h("textarea", { name, rows: 2, placeholder, title: pairsHelp, spellcheck: false });
}

/** Publish to an exchange ("" is the default exchange) and say whether it was routed. */
export function publishForm(vhost, exchange, routingKey = "") {
  return form({ class: "stack publish", dataset: { form: "publish" } }, [
    h("div.row", {},
      field("Routing key", h("input", { name: "routing_key", value: routingKey })),
      field("Delivery mode", select("delivery_mode", [["1", "1 · transient"], ["2", "2 · persistent"]], "1")),
      field("Payload encoding", select("payload_encoding", [["string", "text"], ["base64", "base64"]], "string"))),
    h("div.row", {},
      field("Headers", pairsInput("headers", "x-trace=abc")),
      field("Properties", pairsInput("properties", "content_type=text/plain\ncorrelation_id=42"))),
    field("Payload", h("textarea", { name: "payload", rows: 3, spellcheck: false })),
  ], "Publish message", async (v) => {
    const properties = { delivery_mode: Number(v.delivery_mode), ...parsePairs(v.properties) };
    const headers = parsePairs(v.headers);
    if (Object.keys(headers).length) properties.headers = headers;
    const answer = await api(`exchanges/${enc(vhost)}/${enc(exchange || "amq.default")}/publish`, {
      method: "POST",
      body: { properties, routing_key: v.routing_key, payload: v.payload, payload_encoding: v.payload_encoding },
    });
    toast(answer.routed ? "Message published." : "Message published, but not routed to any queue.", answer.routed ? "ok" : "warn");
    return answer.routed ? "Routed." : "Not routed.";
  });
}

export function bindingPath(b) {
  const kind = b.destination_type === "queue" ? "q" : "e";
  return `bindings/${enc(b.vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`;
}

async function unbind(b, after) {
  const what = `${b.source || "(default)"} → ${b.destination} (${b.routing_key || "no key"})`;
  if (!(await confirmAction(`Remove the binding ${what}?`, "Unbind"))) return;
  await api(bindingPath(b), { method: "DELETE" });
  toast("Binding removed.");
  await after();
}

/** Bindings with an Unbind button on each row but the default exchange's. */
export function bindingsTable(path, { prefix, showSource = true, showDestination = true, after }) {
  const link = (type, vhost, name) => (name === "" ? h("span.muted", {}, "(AMQP default)")
    : h("a", { href: route(type === "queue" ? "queues" : "exchanges", vhost, name) }, name));
  const table = new Table({
    source: path, prefix, filterable: false, pageSize: 100, label: "bindings",
    rowKey: (b) => `${b.source}|${b.destination_type}|${b.destination}|${b.properties_key}`,
    empty: "No bindings.",
    columns: [
      showSource && { key: "source", label: "From", render: (b) => link("exchange", b.vhost, b.source) },
      showDestination && { key: "destination", label: "To", render: (b) => link(b.destination_type, b.vhost, b.destination) },
      { key: "routing_key", label: "Routing key", render: (b) => h("code", {}, b.routing_key) },
      { key: "arguments", label: "Arguments", sort: false, render: (b) => (Object.keys(b.arguments || {}).length ? JSON.stringify(b.arguments) : "") },
      { key: "actions", label: "", sort: false, render: (b) => (b.source === "" ? "" :
        h("button.small", { type: "button", onclick: () => unbind(b, after).catch((e) => toast(e.message, "bad")) }, "Unbind")) },
    ].filter(Boolean),
  });
  return table;
}

/** Bind `destination` (of `kind`, "q" or "e") from a source exchange, or this exchange to a destination. */
export function bindForm(vhost, { source, destination, kind }, after) {
  const fields = [];
  if (source === undefined) fields.push(field("From exchange", h("input", { name: "source", required: true })));
  if (destination === undefined) {
    fields.push(field("To", select("kind", [["q", "queue"], ["e", "exchange"]], "q")));
    fields.push(field("Name", h("input", { name: "destination", required: true })));
  }
  fields.push(field("Routing key", h("input", { name: "routing_key" })));
  fields.push(field("Arguments", pairsInput("arguments", "x-match=all")));
  return form({ class: "stack", dataset: { form: "bind" } }, h("div.row", {}, fields), "Bind", async (v, el) => {
    const src = source ?? v.source;
    const dest = destination ?? v.destination;
    const k = kind ?? v.kind;
    await api(`bindings/${enc(vhost)}/e/${enc(src)}/${k}/${enc(dest)}`, {
      method: "POST", body: { routing_key: v.routing_key, arguments: parsePairs(v.arguments) },
    });
    el.reset();
    toast("Binding added.");
    await after();
    return "Bound.";
  });
}
