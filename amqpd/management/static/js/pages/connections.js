// Connections: every client connection, with what the client says it is.

import { enc } from "../api.js";
import { Table } from "../table.js";
import { h, num, when, badge, route, section } from "../ui.js";

/** The name the client gave its connection, if any, then its library and version. */
export const client = (c) => {
  const p = c.client_properties || {};
  const library = [p.product, p.version].filter(Boolean).join(" ");
  if (!p.connection_name) return library;
  return [h("strong", {}, p.connection_name), library ? h("span.muted", {}, ` · ${library}`) : ""];
};

export default function connections(main, _params, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `vhosts/${enc(vhost)}/connections` : "connections", label: "connections", defaultSort: "name",
    empty: "No client is connected.",
    columns: [
      { key: "name", label: "Name", render: (c) => h("a", { href: route("connections", c.name) }, c.name) },
      { key: "client_properties.connection_name", label: "Client", render: client },
      { key: "user", label: "User" },
      !vhost && { key: "vhost", label: "Vhost" },
      { key: "channels", label: "Channels", num: true },
      { key: "timeout", label: "Heartbeat", num: true, render: (c) => (c.timeout ? `${num(c.timeout)} s` : "off") },
      { key: "state", label: "State", render: (c) => badge(c.state, c.state === "running" ? "good" : "warn") },
      { key: "connected_at", label: "Since", render: (c) => when(c.connected_at) },
    ].filter(Boolean),
  });
  main.append(h("h1", {}, "Connections"), section("", table.element));
  return { refresh: () => table.refresh() };
}
