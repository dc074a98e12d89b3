// The one table every list uses: sort, filter and page live in the URL
// (#/queues?sort=messages&desc=1&q=orders&page=2), so a reload, a bookmark or
// the back button brings the same view back, and a refresh keeps them, the
// filter's focus and the scroll position: only rows that changed are replaced.

import { api } from "./api.js";
import { h, clear, num } from "./ui.js";

export function hashParams() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

function writeParams(params) {
  const base = location.hash.split("?")[0] || "#/";
  const query = params.toString();
  history.replaceState(null, "", query ? `${base}?${query}` : base);
}

export function field(row, dotted) {
  return dotted.split(".").reduce((v, k) => (v == null ? undefined : v[k]), row);
}

export class Table {
  /**
   * source: a function returning the API path to list (without query), or rows directly.
   * columns: [{ key, label, num, sort (false to disallow), render(row) }].
   * prefix: names this table's keys in the URL when a page has several tables.
   */
  constructor({ source, columns, rowKey = (r) => r.name, prefix = "", filterable = true,
                defaultSort = "", pageSize = 50, empty = "Nothing here yet.", label = "" }) {
    Object.assign(this, { source, columns, rowKey, prefix, filterable, pageSize, empty });
    this.defaultSort = defaultSort;
    this.rows = new Map(); // key -> { tr, signature }
    this.busy = false;
    this.filter = h("input.filter", {
      type: "search", placeholder: "Filter by name…", "aria-label": `Filter ${label}`.trim(),
      value: this.get("q"), dataset: { filter: "" },
      oninput: () => this.debounce(() => this.set({ q: this.filter.value, page: "" })),
    });
    this.regex = h("input", { type: "checkbox", checked: this.get("regex") === "1",
      onchange: () => this.set({ regex: this.regex.checked ? "1" : "", page: "" }) });
    this.count = h("span.count.muted");
    this.status = h("span.error", { role: "status" });
    this.head = h("tr");
    this.body = h("tbody");
    this.pager = h("div.pager");
    const tools = h("div.tools", {},
      filterable ? [this.filter, h("label.check", { title: "Filter is a regular expression" }, this.regex, ".*")] : null,
      this.count, this.status);
    this.element = h("div.table-wrap", {}, tools,
      h("div.scroll", {}, h("table.grid", {}, h("thead", {}, this.head), this.body)), this.pager);
    this.renderHead();
  }

  key(name) { return this.prefix ? `${this.prefix}.${name}` : name; }
  get(name) { return hashParams().get(this.key(name)) || ""; }

  set(changes) {
    this.write(changes);
    return this.refresh();
  }

  write(changes) {
    const params = hashParams();
    for (const [name, value] of Object.entries(changes)) {
      if (value) params.set(this.key(name), value);
      else params.delete(this.key(name));
    }
    writeParams(params);
    this.renderHead();
  }

  debounce(fn) {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, 200);
  }

  get sort() { return this.get("sort") || this.defaultSort; }

  renderHead() {
    const sort = this.sort;
    const desc = this.get("desc") === "1";
    clear(this.head, this.columns.map((col) => {
      const sorted = sort === col.key;
      const attrs = { class: col.num ? "num" : "", "aria-sort": sorted ? (desc ? "descending" : "ascending") : null };
      if (col.sort === false) return h("th", attrs, col.label);
      const arrow = sorted ? (desc ? " ▼" : " ▲") : "";
      return h("th", attrs, h("button.sort", {
        type: "button", dataset: { sort: col.key },
        onclick: () => this.set({ sort: col.key, desc: sorted && !desc ? "1" : "", page: "" }),
      }, col.label, arrow));
    }));
  }

  query() {
    const params = new URLSearchParams({ page: this.get("page") || "1", page_size: this.pageSize });
    if (this.sort) params.set("sort", this.sort);
    if (this.get("desc") === "1") params.set("sort_reverse", "true");
    if (this.filterable && this.get("q")) {
      params.set("name", this.get("q"));
      if (this.get("regex") === "1") params.set("use_regex", "true");
    }
    return params;
  }

  async refresh() {
    // One request at a time; a change made meanwhile (a sort, a filter) is
    // fetched as soon as the one in flight is answered.
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.again = false;
    try {
      const source = typeof this.source === "function" ? this.source() : this.source;
      const result = typeof source === "string" ? await this.fetchPage(source) : this.local(source);
      this.status.textContent = "";
      this.renderRows(result);
    } catch (err) {
      if (err.status === 400 && this.get("page") > 1) {
        this.write({ page: "" }); // past the last page (rows went away): back to the first
        this.again = true;
      } else {
        this.status.textContent = err.status ? err.message : "";
      }
    } finally {
      this.busy = false;
    }
    if (this.again) await this.refresh();
  }

  async fetchPage(path) {
    const answer = await api(`${path}?${this.query()}`);
    return Array.isArray(answer) ? this.local(answer) : answer;
  }

  /** The same envelope as the API's, for lists it does not page (bindings). */
  local(items) {
    const q = this.filterable ? this.get("q").toLowerCase() : "";
    let rows = q ? items.filter((r) => JSON.stringify(r).toLowerCase().includes(q)) : [...items];
    const sort = this.sort;
    if (sort) {
      rows.sort((a, b) => compare(field(a, sort), field(b, sort)));
      if (this.get("desc") === "1") rows.reverse();
    }
    const page = Number(this.get("page") || 1);
    const pageCount = Math.max(1, Math.ceil(rows.length / this.pageSize));
    return { items: rows.slice((page - 1) * this.pageSize, page * this.pageSize), page,
             page_count: pageCount, filtered_count: rows.length, total_count: items.length };
  }

  renderRows({ items, page, page_count, filtered_count, total_count }) {
    const seen = new Map();
    const trs = items.map((row) => {
      const key = this.rowKey(row);
      const signature = JSON.stringify(row);
      const old = this.rows.get(key);
      const tr = old && old.signature === signature ? old.tr : this.renderRow(row, key);
      seen.set(key, { tr, signature });
      return tr;
    });
    this.rows = seen;
    const same = trs.length === this.body.children.length && trs.every((tr, i) => this.body.children[i] === tr);
    if (!same) {
      if (trs.length) this.body.replaceChildren(...trs);
      else clear(this.body, h("tr.empty", {}, h("td", { colSpan: this.columns.length }, this.empty)));
    }
    this.count.textContent = filtered_count === total_count
      ? `${num(total_count)} total` : `${num(filtered_count)} of ${num(total_count)}`;
    this.renderPager(page, page_count);
  }

  renderRow(row, key) {
    return h("tr", { dataset: { key } }, this.columns.map((col) => {
      const value = col.render ? col.render(row) : field(row, col.key);
      return h("td", { class: col.num ? "num" : "" }, col.num && typeof value === "number" ? num(value) : value);
    }));
  }

  renderPager(page, pageCount) {
    if (pageCount <= 1) return clear(this.pager);
    const go = (p) => () => this.set({ page: p > 1 ? String(p) : "" });
    clear(this.pager,
      h("button", { type: "button", disabled: page <= 1, onclick: go(page - 1) }, "‹ Prev"),
      h("span.muted", {}, `Page ${page} of ${pageCount}`),
      h("button", { type: "button", disabled: page >= pageCount, onclick: go(page + 1) }, "Next ›"));
  }
}

function compare(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a ?? "").localeCompare(String(b ?? ""));
}
