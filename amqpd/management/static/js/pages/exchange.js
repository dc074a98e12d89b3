// One exchange: details, bindings from and to it (add, remove), publish, delete.

import { api, enc } from "../api.js";
import { h, clear, kv, section, toast, confirmAction } from "../ui.js";
import { bindingsTable, bindForm, publishForm } from "../forms.js";
import { displayName, features } from "./exchanges.js";

export default function exchange(main, [vhost, name]) {
  const path = `exchanges/${enc(vhost)}/${enc(name)}`;
  const isDefault = name === "amq.default" || name === "";
  const builtIn = isDefault || name.startsWith("amq.");
  const details = h("div");
  const outgoing = bindingsTable(`${path}/bindings/source`, { prefix: "out", showSource: false, after: () => outgoing.refresh() });
  const incoming = bindingsTable(`${path}/bindings/destination`, { prefix: "in", showDestination: false, after: () => incoming.refresh() });
  main.append(
    h("p.crumbs", {}, h("a", { href: "#/exchanges" }, "Exchanges"), " in vhost ", h("code", {}, vhost)),
    h("h1", {}, displayName(isDefault ? "" : name)),
    h("div.cols", {}, section("Details", details), section("Publish", publishForm(vhost, isDefault ? "" : name))),
    section("Bindings from this exchange", outgoing.element,
      isDefault ? h("p.muted", {}, "Every queue is bound to the default exchange by its name; these bindings cannot change.")
        : bindForm(vhost, { source: name }, () => outgoing.refresh())),
    isDefault ? null : section("Bindings to this exchange", incoming.element,
      bindForm(vhost, { destination: name, kind: "e" }, () => incoming.refresh())),
    builtIn ? null : section("Danger zone", h("button.danger", {
      type: "button", dataset: { action: "delete" }, onclick: () => remove(path, name).catch((e) => toast(e.message, "bad")),
    }, "Delete exchange")));

  async function refresh() {
    const x = await api(path);
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    clear(details, h("dl.kv", {},
      row("Vhost", vhost), row("Type", x.type),
      row("Features", features(x).length ? features(x) : h("span.muted", {}, "transient")),
      row("Arguments", kv(x.arguments)), row("Policy", x.policy || h("span.muted", {}, "none"))));
    await Promise.all([outgoing.refresh(), isDefault ? null : incoming.refresh()]);
  }
  return { refresh };
}

async function remove(path, name) {
  if (!(await confirmAction(`Delete the exchange ${name} and its bindings?`, "Delete"))) return;
  await api(path, { method: "DELETE" });
  toast(`Exchange ${name} deleted.`);
  location.hash = "#/exchanges";
}
