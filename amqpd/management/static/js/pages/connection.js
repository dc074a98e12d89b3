// One connection: its settings, client properties and channels; close it with a reason.

import { api, enc } from "../api.js";
import { Table } from "../table.js";
import { h, clear, num, kv, when, field, form, section, toast, confirmAction } from "../ui.js";
import { client } from "./connections.js";

export default function connection(main, [name]) {
  const path = `connections/${enc(name)}`;
  const details = h("div");
  const properties = h("div");
  const channels = new Table({
    source: `${path}/channels`, prefix: "ch", filterable: false, label: "channels", empty: "No channels open.",
    columns: [
      { key: "number", label: "Channel", num: true },
      { key: "prefetch_count", label: "Prefetch", num: true },
      { key: "messages_unacknowledged", label: "Unacked", num: true },
      { key: "consumer_count", label: "Consumers", num: true },
      { key: "confirm", label: "Mode", render: (c) => [c.confirm && "confirm", c.transactional && "tx"].filter(Boolean).join(", ") },
      { key: "state", label: "State" },
    ],
  });
  const close = form({ class: "stack", dataset: { form: "close" } },
    field("Reason (the client sees it with code 320)", h("input", { name: "reason", value: "Closed from the amqpd dashboard" })),
    "Close connection", async (v) => {
      if (!(await confirmAction(`Close ${name}? The client gets 320 CONNECTION_FORCED.`, "Close"))) return "";
      await api(path, { method: "DELETE", headers: { "X-Reason": v.reason } });
      toast("Connection closed.");
      location.hash = "#/connections";
      return "";
    });
  close.querySelector("button").classList.replace("primary", "danger");
  main.append(
    h("p.crumbs", {}, h("a", { href: "#/connections" }, "Connections")),
    h("h1", {}, name),
    h("div.cols", {}, section("Details", details), section("Client properties", properties)),
    section("Channels", channels.element),
    section("Close", close));

  async function refresh() {
    let c;
    try {
      c = await api(path);
    } catch (err) {
      if (err.status === 404) clear(details, h("p.error", {}, "This connection is closed."));
      throw err;
    }
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    clear(details, h("dl.kv", {},
      row("Client", client(c)), row("User", c.user), row("Vhost", c.vhost), row("Protocol", c.protocol),
      row("Auth", c.auth_mechanism), row("Heartbeat", c.timeout ? `${c.timeout} s` : "off"),
      row("Frame max", `${num(c.frame_max)} bytes`), row("Channel max", num(c.channel_max)),
      row("Connected", when(c.connected_at)), row("TLS", c.ssl ? c.ssl_protocol : "no")));
    const { capabilities, ...rest } = c.client_properties || {};
    clear(properties, kv(rest), capabilities ? [h("h3", {}, "Capabilities"), kv(capabilities)] : null);
    await channels.refresh();
  }
  return { refresh };
}
