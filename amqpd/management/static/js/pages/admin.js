// Admin: vhosts, users and their tags, permissions, policies.

import { api, enc } from "../api.js";
import { Table } from "../table.js";
import { h, num, badge, field, form, select, section, toast, confirmAction } from "../ui.js";

const TABS = {
  users: "Users", vhosts: "Virtual hosts", permissions: "Permissions", policies: "Policies",
  definitions: "Definitions",
};

export default function admin(main, [tab = "users"], ctx) {
  main.append(
    h("h1", {}, "Admin"),
    h("nav.tabs", { "aria-label": "Admin sections" }, Object.entries(TABS).map(([key, label]) =>
      h("a", { href: `#/admin/${key}`, class: key === tab ? "active" : "", "aria-current": key === tab ? "page" : null }, label))));
  if (!ctx.isAdmin() && tab !== "policies") {
    main.append(section("", h("p.muted", {}, "Only users tagged administrator manage users, vhosts and permissions.")));
    return {};
  }
  const build = { users, vhosts, permissions, policies, definitions }[tab] || users;
  const table = build(main, ctx);
  return { refresh: () => table.refresh() };
}

const report = (e) => toast(e.message, "bad");

function deleteButton(what, path, after) {
  return h("button.small", { type: "button", onclick: async () => {
    if (!(await confirmAction(`Delete ${what}?`, "Delete"))) return;
    await api(path, { method: "DELETE" }).then(() => { toast(`Deleted ${what}.`); return after(); }).catch(report);
  } }, "Delete");
}

function users(main) {
  const table = new Table({
    source: "users", label: "users", defaultSort: "name",
    columns: [
      { key: "name", label: "Name" },
      { key: "tags", label: "Tags", render: (u) => (u.tags.length ? u.tags.map((t) => badge(t, "dim")) : h("span.muted", {}, "none: cannot log in here")) },
      { key: "limits", label: "Limits", sort: false, render: (u) => Object.entries(u.limits || {}).map(([k, v]) => `${k}=${v}`).join(", ") },
      { key: "actions", label: "", sort: false, render: (u) => deleteButton(`user ${u.name}`, `users/${enc(u.name)}`, () => table.refresh()) },
    ],
  });
  const add = form({ class: "stack", dataset: { form: "user" } }, h("div.row", {},
    field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password" })),
    field("Tags", select("tags", ["administrator", "monitoring", "policymaker", "management", ["", "none"]], "management"))),
  "Add or update user", async (v) => {
    const body = { tags: v.tags };
    if (v.password) body.password = v.password;
    await api(`users/${enc(v.name)}`, { method: "PUT", body });
    toast(`User ${v.name} saved.`);
    await table.refresh();
  });
  main.append(section("Users", table.element), section("Add or update a user", add,
    h("p.muted", {}, "Saving without a password leaves the user with none it can log in with, as in RabbitMQ.")));
  return table;
}

function vhosts(main) {
  const table = new Table({
    source: "vhosts", label: "vhosts", defaultSort: "name",
    columns: [
      { key: "name", label: "Name" },
      { key: "description", label: "Description" },
      { key: "tags", label: "Tags", render: (v) => (v.tags || []).map((t) => badge(t, "dim")) },
      { key: "messages_ready", label: "Ready", num: true },
      { key: "messages_unacknowledged", label: "Unacked", num: true },
      { key: "actions", label: "", sort: false, render: (v) => deleteButton(`vhost ${v.name} and everything in it`, `vhosts/${enc(v.name)}`, () => table.refresh()) },
    ],
  });
  const add = form({ class: "stack", dataset: { form: "vhost" } }, h("div.row", {},
    field("Name", h("input", { name: "name", required: true })),
    field("Description", h("input", { name: "description" }))),
  "Add vhost", async (v) => {
    await api(`vhosts/${enc(v.name)}`, { method: "PUT", body: { description: v.description } });
    toast(`Vhost ${v.name} added.`);
    await table.refresh();
  });
  main.append(section("Virtual hosts", table.element), section("Add a vhost", add));
  return table;
}

function permissions(main) {
  const table = new Table({
    source: "permissions", label: "permissions", defaultSort: "user", filterable: false,
    rowKey: (p) => `${p.user}|${p.vhost}`,
    columns: [
      { key: "user", label: "User" }, { key: "vhost", label: "Vhost" },
      { key: "configure", label: "Configure", render: (p) => h("code", {}, p.configure) },
      { key: "write", label: "Write", render: (p) => h("code", {}, p.write) },
      { key: "read", label: "Read", render: (p) => h("code", {}, p.read) },
      { key: "actions", label: "", sort: false, render: (p) => deleteButton(`${p.user}'s permissions on ${p.vhost}`, `permissions/${enc(p.vhost)}/${enc(p.user)}`, () => table.refresh()) },
    ],
  });
  const add = form({ class: "stack", dataset: { form: "permission" } }, h("div.row", {},
    field("User", h("input", { name: "user", required: true })),
    field("Vhost", h("input", { name: "vhost", value: "/", required: true })),
    field("Configure", h("input", { name: "configure", value: ".*" })),
    field("Write", h("input", { name: "write", value: ".*" })),
    field("Read", h("input", { name: "read", value: ".*" }))),
  "Set permissions", async (v) => {
    await api(`permissions/${enc(v.vhost)}/${enc(v.user)}`, { method: "PUT", body: { configure: v.configure, write: v.write, read: v.read } });
    toast(`Permissions of ${v.user} on ${v.vhost} set.`);
    await table.refresh();
  });
  main.append(section("Permissions", table.element), section("Set permissions", add));
  return table;
}

function policies(main, ctx) {
  const vhost = ctx.vhost;
  const table = new Table({
    source: vhost ? `policies/${enc(vhost)}` : "policies", label: "policies", defaultSort: "name",
    rowKey: (p) => `${p.vhost}|${p.name}`, empty: "No policies.",
    columns: [
      { key: "vhost", label: "Vhost" }, { key: "name", label: "Name" },
      { key: "pattern", label: "Pattern", render: (p) => h("code", {}, p.pattern) },
      { key: "apply-to", label: "Applies to" },
      { key: "priority", label: "Priority", num: true, render: (p) => num(p.priority) },
      { key: "definition", label: "Definition", sort: false, render: (p) => h("code", {}, JSON.stringify(p.definition)) },
      { key: "actions", label: "", sort: false, render: (p) => deleteButton(`policy ${p.name}`, `policies/${enc(p.vhost)}/${enc(p.name)}`, () => table.refresh()) },
    ],
  });
  const add = form({ class: "stack", dataset: { form: "policy" } }, [
    h("div.row", {},
      field("Vhost", h("input", { name: "vhost", value: vhost || "/", required: true })),
      field("Name", h("input", { name: "name", required: true })),
      field("Pattern", h("input", { name: "pattern", required: true, placeholder: "^orders\\." })),
      field("Applies to", select("apply-to", ["queues", "exchanges", "all"], "queues")),
      field("Priority", h("input", { name: "priority", type: "number", value: 0 }))),
    field("Definition (JSON)", h("textarea", { name: "definition", rows: 2, spellcheck: false, placeholder: '{"max-length": 1000}', required: true })),
  ], "Set policy", async (v) => {
    await api(`policies/${enc(v.vhost)}/${enc(v.name)}`, { method: "PUT", body: {
      pattern: v.pattern, "apply-to": v["apply-to"], priority: Number(v.priority || 0), definition: JSON.parse(v.definition),
    } });
    toast(`Policy ${v.name} set.`);
    await table.refresh();
  });
  main.append(section("Policies", table.element), section("Add or update a policy", add));
  return table;
}

/** Every definition (or one vhost's) as a file, and a file's definitions merged in. */
function definitions(main, ctx) {
  const vhost = ctx.vhost;
  const path = vhost ? `definitions/${enc(vhost)}` : "definitions";
  const scope = vhost ? `the vhost ${vhost}` : "the whole broker";
  const exportForm = form({ class: "stack", dataset: { form: "export" } },
    h("p.muted", {}, `Users, vhosts, permissions, policies, exchanges, queues and bindings of ${scope}, as RabbitMQ writes them.`),
    "Download definitions", async () => {
      const answer = await api(path, { raw: true });
      const stamp = new Date().toISOString().slice(0, 10);
      const name = `amqpd${vhost ? "-" + vhost.replace(/[^\w.-]/g, "_") : ""}-${stamp}.json`;
      const url = URL.createObjectURL(new Blob([answer.text], { type: "application/json" }));
      const link = h("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      return `Saved ${name}.`;
    });
  const importForm = form({ class: "stack", dataset: { form: "import" } },
    field("Definitions file (JSON, from amqpd or RabbitMQ)", h("input", { name: "file", type: "file", accept: ".json,application/json", required: true })),
    "Import definitions", async (_values, el) => {
      const file = el.querySelector("[name=file]").files[0];
      const text = await file.text();
      try { JSON.parse(text); } catch { throw new Error(`${file.name} is not JSON.`); }
      await api(path, { method: "POST", body: text });
      toast(`Imported ${file.name}.`);
      return `Imported ${file.name} into ${scope}.`;
    });
  main.append(h("div.cols", {}, section("Export", exportForm), section("Import", importForm,
    h("p.muted", {}, "Objects that exist already are left as they are; the rest are created."))));
  return { refresh: () => api("whoami") };
}
