// Small DOM and formatting helpers every page shares.

/** h("a.cls", {href}, children...): an element; strings become text, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const integer = new Intl.NumberFormat();
export const num = (n) => (n === undefined || n === null ? "" : integer.format(n));

export function rate(details) {
  const r = details && details.rate;
  if (r === undefined || r === null) return "";
  return `${r.toFixed(r >= 10 || r === 0 ? 0 : 1)}/s`;
}

export function bytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(ms) {
  let s = Math.floor((ms || 0) / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (s >= size) { parts.push(`${Math.floor(s / size)}${unit}`); s %= size; }
  }
  if (parts.length < 2) parts.push(`${s}s`);
  return parts.slice(0, 2).join(" ");
}

export const when = (ms) => (ms ? new Date(ms).toLocaleString() : "");

/** A value of any JSON shape as short readable text. */
export function show(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Key/value rows of an object, for arguments, properties and headers. */
export function kv(object, empty = "none") {
  const entries = Object.entries(object || {});
  if (!entries.length) return h("span.muted", {}, empty);
  return h("dl.kv", {}, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, show(v))]));
}

export function badge(text, kind = "") {
  return h(`span.badge${kind ? "." + kind : ""}`, {}, text);
}

let toastTimer;
export function toast(text, kind = "ok") {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

/** A modal confirmation; resolves true when confirmed (Escape cancels). */
export function confirmAction(text, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  document.getElementById("confirm-ok").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** A form whose submit runs `action(values)`, reporting its outcome next to the button. */
export function form(attrs, fields, label, action) {
  const status = h("span.form-status", { role: "status" });
  const button = h("button.primary", { type: "submit" }, label);
  const el = h("form.stack", attrs, fields, h("div.row", {}, button, status));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.className = "form-status";
    status.textContent = "";
    try {
      const message = await action(Object.fromEntries(new FormData(el)), el);
      if (message) status.textContent = message;
    } catch (err) {
      status.className = "form-status error";
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function field(label, input) {
  return h("label.field", {}, h("span", {}, label), input);
}

export function select(name, options, value) {
  return h("select", { name },
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: v, selected: v === value }, text);
    }));
}

export function section(title, ...body) {
  return h("section.card", {}, h("h2", {}, title), ...body);
}

/** A link inside the page: hash routes with each part encoded once. */
export const route = (...parts) => `#/${parts.map(encodeURIComponent).join("/")}`;
