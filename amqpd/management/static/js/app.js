// The shell: login, navigation by the URL's hash, the vhost picker, the live
// refresh, keyboard shortcuts and the banner that says the broker is unreachable.

import { api, credentials, logIn, logOut, onReachability } from "./api.js";
import { h, clear } from "./ui.js";

const REFRESH_MS = 5000;
const VHOST_KEY = "amqpd.vhost";
const $ = (id) => document.getElementById(id);

// "#/queues/%2F/orders?sort=name" -> section "queues", params ["/", "orders"]
const SECTIONS = {
  "": "overview", queues: "queues", exchanges: "exchanges", connections: "connections",
  channels: "channels", consumers: "consumers", admin: "admin",
};
const DETAIL = { queues: "queue", exchanges: "exchange", connections: "connection" };

let current = null; // { key, page }
let whoami = null;

function parseHash() {
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  const [section = "", ...rest] = path.split("/").filter((p, i) => i === 0 || p !== "");
  const params = rest.map(decodeURIComponent);
  const list = SECTIONS[section] ?? "overview";
  const module = params.length && DETAIL[section] ? DETAIL[section] : list;
  return { section: list, module, params, key: `${module}/${rest.join("/")}` };
}

export const context = {
  get vhost() { return sessionStorage.getItem(VHOST_KEY) || ""; },
  get user() { return whoami; },
  isAdmin() { return whoami && whoami.tags.includes("administrator"); },
};

async function show(force = false) {
  const { section, module, params, key } = parseHash();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.section === section);
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!force && current && current.key === key) return; // only the query changed
  const main = $("main");
  const { default: page } = await import(`./pages/${module}.js`);
  clear(main);
  current = { key, page: page(main, params, context) || {} };
  document.title = `${main.querySelector("h1")?.textContent || "amqpd"} · amqpd`;
  await refresh();
}

async function refresh() {
  try {
    if (current && current.page.refresh) await current.page.refresh();
    else await api("whoami");
    $("refreshed").textContent = `Updated ${new Date().toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`;
  } catch (err) {
    // A page shows its own errors; the banner shows an unreachable broker.
  }
}

function showBanner(ok, detail) {
  const banner = $("banner");
  banner.hidden = ok;
  if (!ok) clear(banner, h("strong", {}, "Broker unreachable. "),
    `${detail} Showing what was last seen; retrying every ${REFRESH_MS / 1000} s.`);
}

async function loadVhosts() {
  const picker = $("vhost-select");
  let names = [];
  try { names = (await api("vhosts?columns=name")).map((v) => v.name); } catch { /* shown elsewhere */ }
  clear(picker, h("option", { value: "" }, "All vhosts"),
    names.map((n) => h("option", { value: n, selected: n === context.vhost }, n)));
}

async function enter() {
  whoami = await api("whoami");
  $("login").hidden = true;
  $("login-password").value = "";
  $("shell").hidden = false;
  $("whoami").textContent = `${whoami.name} (${whoami.tags.join(", ") || "no tags"})`;
  await loadVhosts();
  current = null;
  await show();
}

function leave(message = "") {
  logOut();
  whoami = null;
  current = null;
  $("shell").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message;
  $("login-password").value = ""; // never left in the page
  ($("login-username").value ? $("login-password") : $("login-username")).focus();
}

async function submitLogin(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  logIn(data.get("username"), data.get("password"));
  try {
    await enter();
  } catch (err) {
    leave(err.status === 401 ? (err.body?.reason || "Login failed") : err.message);
  }
}

let pendingG = false;
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || $("shell").hidden) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const go = { o: "#/", q: "#/queues", e: "#/exchanges", c: "#/connections", h: "#/channels", u: "#/consumers", a: "#/admin" };
  if (pendingG && go[event.key]) {
    location.hash = go[event.key];
  } else if (event.key === "/") {
    const filter = $("main").querySelector("[data-filter]");
    if (filter) { event.preventDefault(); filter.focus(); filter.select(); }
  } else if (event.key === "r") {
    refresh();
  }
  pendingG = event.key === "g";
}

function start() {
  $("login-form").addEventListener("submit", submitLogin);
  $("logout").addEventListener("click", () => leave());
  $("vhost-select").addEventListener("change", (e) => {
    sessionStorage.setItem(VHOST_KEY, e.target.value);
    show(true);
  });
  window.addEventListener("hashchange", () => show());
  window.addEventListener("amqpd:login-failed", () => { if (whoami) leave("Your login no longer works; log in again."); });
  document.addEventListener("keydown", onKey);
  onReachability(showBanner);
  setInterval(() => { if (whoami && !document.hidden) refresh(); }, REFRESH_MS);
  if (credentials()) enter().catch((err) => leave(err.status === 401 ? "" : err.message));
  else leave();
}

start();
