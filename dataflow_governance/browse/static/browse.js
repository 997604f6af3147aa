// The lineage browser's page: asks the server for a neighbourhood, lays it out with dagre (layered,
// left to right: upstream on the left) and draws it as SVG. Every name is set as text, never as
// markup. The server bounds every answer; the page shows what it says about the bounds.
"use strict";
(function () {
  const DIRECT = ["identity", "transformation", "aggregation", "masking"];
  const INDIRECT = ["join", "filter", "group_by", "window", "conditional", "sort"];
  const LEVEL_COLOURS = { public: "#dff3df", internal: "#e6e6e6", confidential: "#ffe3a8", restricted: "#f6b0b0" };
  const PALETTE = ["#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99", "#8dd3c7", "#bebada",
                   "#80b1d3", "#fccde5", "#ccebc5", "#ffed6f"];
  const NONE = "#f2f2f2";
  const state = { asset: null, column: null, view: "column", hops: 2, colour: "level",
                  kinds: new Set([...DIRECT, ...INDIRECT]), data: null };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({ error: "the server's answer could not be read" }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined) search.set(key, value);
    return search.toString();
  }

  function linkOf(asset, column) {
    const path = "/asset/" + asset.split("/").map(encodeURIComponent).join("/");
    return column === null || column === undefined ? path : path + "/column/" + encodeURIComponent(column);
  }

  function hash(text) {
    let h = 0;
    for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
    return Math.abs(h);
  }

  function paletteOf(text) { return text ? PALETTE[hash(text) % PALETTE.length] : NONE; }

  // --- colour -------------------------------------------------------------------------------
  function factsOf(node) { return state.view === "table" ? node : (state.data.assets[node.asset] || {}); }

  function colourOf(node) {
    const facts = factsOf(node);
    switch (state.colour) {
      case "level": return LEVEL_COLOURS[node.level] || NONE;
      case "category": {
        const personal = (node.categories || []).filter((c) => c.startsWith("user"));
        return node.anonymous ? NONE : paletteOf(personal.sort()[0] || "");
      }
      case "pci": return { cde: "#f28b82", connected: "#fbbc04" }[facts.pci] || NONE;
      case "phi": return facts.phi ? "#c58af9" : NONE;
      case "tenancy": return facts.tenancy ? "#81c995" : NONE;
      case "region": return paletteOf(facts.region || "");
      case "processors": return paletteOf((facts.processors || []).join(","));
      default: return NONE;
    }
  }

  function colourKey(node) {
    const facts = factsOf(node);
    switch (state.colour) {
      case "level": return node.level;
      case "category": return node.anonymous ? "anonymous" : ((node.categories || []).filter((c) => c.startsWith("user")).sort()[0] || "no personal category");
      case "pci": return facts.pci === "cde" ? "PCI: cardholder data environment" : facts.pci === "connected" ? "PCI: connected" : "out of PCI scope";
      case "phi": return facts.phi ? "PHI (HIPAA)" : "no PHI";
      case "tenancy": return facts.tenancy ? "tenant-scoped: " + facts.tenancy : "not tenant-scoped";
      case "region": return facts.region || "no region declared";
      case "processors": return (facts.processors || []).join(", ") || "no processor";
      default: return "";
    }
  }

  // An edge crosses a boundary when the two ends differ in the fact the nodes are coloured by.
  function crossing(source, target) {
    if (!["region", "processors", "pci", "phi", "tenancy"].includes(state.colour)) return false;
    return colourKey(source) !== colourKey(target);
  }

  // --- the graph ------------------------------------------------------------------------------
  // A node shows at most NODE_CHARS of a name (the whole name is its tooltip and in the panel).
  const NODE_CHARS = 40;
  const fit = (text) => (text.length > NODE_CHARS ? text.slice(0, NODE_CHARS - 1) + "…" : text);

  function nodeText(node) {
    return (state.view === "table" ? [node.label, `${node.columns} columns`] : [node.asset_label, node.label]).map(fit);
  }

  function width(lines) { return Math.min(280, 16 + 6.6 * Math.max(...lines.map((l) => l.length))); }

  async function drawGraph() {
    const notes = $("notes");
    notes.textContent = "";
    if (!state.asset) return;
    const params = { asset: state.asset, column: state.view === "column" ? state.column : null, view: state.view,
                     hops: state.hops, kinds: [...state.kinds].join(",") };
    let data;
    try {
      data = await getJSON("/api/graph?" + query(params));
    } catch (error) {
      notes.textContent = error.message;
      return;
    }
    state.data = data;
    const started = performance.now();
    render(data);
    const elapsed = performance.now() - started;
    $("graph").dataset.renderMs = elapsed.toFixed(1);
    $("graph").dataset.nodes = String(data.nodes.length);
    notes.textContent = data.bounded.join("; ");
  }

  // Left to right, upstream first. Network simplex ranks the nicest layouts but costs seconds on
  // hundreds of nodes; past LARGE the tight-tree ranker keeps a 500-node view well under a second.
  const LARGE = 150;
  function layoutOptions(count) {
    return { rankdir: "LR", nodesep: 10, ranksep: 70, edgesep: 6, marginx: 10, marginy: 10,
             ranker: count > LARGE ? "tight-tree" : "network-simplex" };
  }

  function render(data) {
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph(layoutOptions(data.nodes.length));
    g.setDefaultEdgeLabel(() => ({}));
    for (const node of data.nodes) {
      const lines = nodeText(node);
      g.setNode(String(node.id), { width: width(lines), height: 36, node });
    }
    data.edges.forEach((edge, i) => g.setEdge(String(edge.source), String(edge.target), { edge }, "e" + i));
    dagre.layout(g);
    const box = g.graph();
    const canvas = svg("svg", { width: Math.max(box.width, 200), height: Math.max(box.height, 80), role: "img",
                                "aria-label": "lineage graph" });
    const defs = svg("defs", {});
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "8",
                                   markerHeight: "8", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
    defs.append(marker);
    canvas.append(defs);
    const byId = new Map(data.nodes.map((n) => [n.id, n]));
    for (const key of g.edges()) {
      const { edge } = g.edge(key);
      const points = g.edge(key).points;
      const kinds = edge.kinds || [edge.kind];
      const indirect = kinds.every((k) => INDIRECT.includes(k));
      const path = svg("path", {
        d: "M " + points.map((p) => `${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" L "),
        class: `edge ${indirect ? "indirect" : "direct"} ${kinds.map((k) => "kind-" + k).join(" ")}` +
               (crossing(byId.get(edge.source), byId.get(edge.target)) ? " crossing" : "") +
               (edge.unverified ? " unverified" : ""),
        "marker-end": "url(#arrow)", "data-kinds": kinds.join(" "),
      });
      const title = svg("title", {});
      title.textContent = kinds.join(", ") + (edge.unverified ? " (unverified: the schema does not list this source)" : "");
      path.append(title);
      canvas.append(path);
    }
    for (const id of g.nodes()) {
      const laid = g.node(id);
      const node = laid.node;
      const group = svg("g", { class: "node" + (node.distance === 0 ? " focus" : "") + (node.known === false ? " external" : ""),
                               transform: `translate(${(laid.x - laid.width / 2).toFixed(1)},${(laid.y - laid.height / 2).toFixed(1)})`,
                               tabindex: "0", role: "button" });
      group.dataset.asset = node.asset || node.key;
      if (state.view === "column") group.dataset.column = node.column;
      group.dataset.distance = String(node.distance);
      group.append(svg("rect", { width: laid.width, height: laid.height, rx: 5, fill: colourOf(node) }));
      const [top, bottom] = nodeText(node);
      const first = svg("text", { x: 8, y: 14, class: "asset-name" });
      first.textContent = top;
      const second = svg("text", { x: 8, y: 29, class: "column-name" });
      second.textContent = bottom;
      const title = svg("title", {});
      title.textContent = `${node.asset || node.key}${state.view === "column" ? "." + node.column : ""} — ${colourKey(node)}`;
      group.append(first, second, title);
      const open = () => openFocus(node.asset || node.key, state.view === "column" ? node.column : null, true);
      group.addEventListener("click", open);
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
      canvas.append(group);
    }
    const holder = $("graph");
    holder.replaceChildren(canvas);
    drawLegend(data);
  }

  function drawLegend(data) {
    const seen = new Map();
    for (const node of data.nodes) seen.set(colourKey(node), colourOf(node));
    const items = [...seen.entries()].sort().map(([key, colour]) =>
      el("li", {}, el("span", { class: "swatch", "data-colour": colour }), key));
    const legend = $("legend");
    legend.replaceChildren(el("ul", {}, ...items));
    // Colours are set as properties, not as style attributes (the page's policy allows no inline style).
    legend.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.colour; });
  }

  // --- the panel ------------------------------------------------------------------------------
  function fact(name, value) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
    return el("div", { class: "fact" }, el("dt", {}, name), el("dd", {}, Array.isArray(value) ? value.join(", ") : String(value)));
  }

  async function showDetails() {
    const details = $("details"), why = $("why"), impact = $("impact");
    why.replaceChildren();
    if (!state.asset) { details.replaceChildren(); impact.replaceChildren(); return; }
    const facts = (state.data && state.data.view === "column" ? state.data.assets[state.asset] :
                   state.data && state.data.nodes.find((n) => n.key === state.asset)) || {};
    // A column's own level and categories; the rest (region, processors, scope) are its asset's.
    const own = (state.column !== null && state.data && state.data.view === "column" &&
                 state.data.nodes.find((n) => n.asset === state.asset && n.column === state.column)) || facts;
    const title = state.column === null ? state.asset : `${state.asset}.${state.column}`;
    const flags = own === facts ? null : ["personal", "pseudonymized", "anonymous", "subject_linked"].filter((f) => own[f])
      .map((f) => f.replace("_", " "));
    details.replaceChildren(
      el("h2", { id: "selected" }, title),
      el("dl", {}, ...[fact("level", own.level), fact("categories", own.categories), fact("column is", flags),
                       fact("region", facts.region),
                       fact("processors", facts.processors), fact("regimes", facts.regimes), fact("PCI scope", facts.pci),
                       fact("PHI", facts.phi ? "yes" : null), fact("tenancy", facts.tenancy), fact("purposes", facts.purposes),
                       fact("owner", facts.owner), fact("defined by", facts.kind), fact("not traced", facts.lineage_error),
                       fact("best effort", facts.warnings)].filter(Boolean)));
    const params = query({ asset: state.asset, column: state.column });
    impact.replaceChildren(el("h3", {}, "Impact"),
      el("p", {}, "Everything downstream of " + (state.column === null ? "this asset" : "this column") +
         ", with its categories, processors and regimes:"),
      el("a", { id: "export-csv", class: "button", href: "/api/impact.csv?" + params, download: "" }, "Export CSV"),
      " ",
      el("a", { id: "export-json", class: "button", href: "/api/impact.json?" + params, download: "" }, "Export JSON"));
    if (state.column === null) return;
    let answer;
    try {
      answer = await getJSON("/api/why?" + params);
    } catch (error) {
      why.replaceChildren(el("p", { class: "error" }, error.message));
      return;
    }
    why.replaceChildren(...[el("h3", {}, "Why"),
      el("p", { class: "verdict verdict-" + answer.verdict.replace(" ", "-") }, answer.verdict),
      el("p", { class: "reason" }, answer.reason),
      answer.chain && answer.chain.children.length ? el("ul", { class: "chain" }, ...answer.chain.children.map(chainItem)) : null,
      answer.cut ? el("p", { class: "note" }, "The chain is longer than is shown here.") : null].filter(Boolean));
  }

  function chainItem(item) {
    const via = item.via ? ` (${item.via.kind.replace("_", " ")}${item.via.reveals_values ? ", returns input values" : ""})` : "";
    const text = `from ${item.label}${via}` + (item.categories.length ? `: ${item.categories.join(", ")}` : "") +
                 (item.declared ? ", declared there" : "") + (item.repeated ? " (see above)" : "");
    const link = el("a", { href: linkOf(item.asset, item.column), class: "chain-link" }, text);
    link.addEventListener("click", (event) => { event.preventDefault(); openFocus(item.asset, item.column, true); });
    return el("li", {}, link, item.children.length ? el("ul", {}, ...item.children.map(chainItem)) : null);
  }

  // --- navigation -----------------------------------------------------------------------------
  async function openFocus(asset, column, push) {
    state.asset = asset;
    state.column = column;
    if (push) history.pushState({ asset, column }, "", linkOf(asset, column));
    document.title = `Column lineage · ${column === null ? asset : asset + "." + column}`;
    await drawGraph();
    await showDetails();
    document.body.dataset.ready = "1";
  }

  function kindToggles() {
    const box = $("kinds");
    const group = (name, kinds) => {
      const all = el("input", { type: "checkbox", id: "toggle-" + name, checked: true });
      all.addEventListener("change", () => {
        for (const kind of kinds) {
          $("kind-" + kind).checked = all.checked;
          if (all.checked) state.kinds.add(kind); else state.kinds.delete(kind);
        }
        drawGraph();
      });
      const each = kinds.map((kind) => {
        const input = el("input", { type: "checkbox", id: "kind-" + kind, checked: true });
        input.addEventListener("change", () => {
          if (input.checked) state.kinds.add(kind); else state.kinds.delete(kind);
          all.checked = kinds.every((k) => state.kinds.has(k));
          drawGraph();
        });
        return el("label", { class: "kind kind-" + kind }, input, kind.replace("_", " "));
      });
      return el("div", { class: "kind-group" }, el("label", { class: "group" }, all, name), ...each);
    };
    box.append(group("direct", DIRECT), group("indirect", INDIRECT));
  }

  function searchBox() {
    const input = $("search"), results = $("results");
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (!input.value.trim()) { results.replaceChildren(); return; }
        let found;
        try { found = await getJSON("/api/search?" + query({ q: input.value })); } catch (error) { return; }
        results.replaceChildren(...found.results.map((r) => {
          const item = el("li", {}, el("button", { type: "button", class: "result" }, r.label));
          item.firstChild.addEventListener("click", () => { results.replaceChildren(); input.value = "";
                                                              openFocus(r.asset, r.column, true); });
          return item;
        }), ...(found.more ? [el("li", { class: "more" }, "more results: type more of the name")] : []));
      }, 120);
    });
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const first = results.querySelector("button");
      if (first) first.click();
    });
  }

  function controls() {
    $("view").addEventListener("change", (e) => { state.view = e.target.value; drawGraph().then(showDetails); });
    $("hops").addEventListener("change", (e) => {
      state.hops = Math.max(1, parseInt(e.target.value, 10) || 1);
      drawGraph();
    });
    $("colour").addEventListener("change", (e) => { state.colour = e.target.value; if (state.data) render(state.data); });
    window.addEventListener("popstate", (event) => {
      if (event.state) openFocus(event.state.asset, event.state.column, false);
    });
  }

  kindToggles();
  searchBox();
  controls();
  const focus = JSON.parse($("focus").textContent);
  if (focus.asset) {
    history.replaceState({ asset: focus.asset, column: focus.column ?? null }, "");
    openFocus(focus.asset, focus.column ?? null, false);
  } else {
    document.body.dataset.ready = "1";
  }
  // The benchmark lays out generated graphs with the same code the page uses.
  window.dfgRender = (data) => { state.data = data; render(data); };
  window.dfgLayoutOptions = layoutOptions;
})();
