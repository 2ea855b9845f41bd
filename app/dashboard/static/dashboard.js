// The dashboard's one script: reads the JSON API (/api/v1) and fills the page shell.
// The token, when public read is off, is typed once and kept in sessionStorage for the browser session;
// it is sent as a Bearer header and never put in a URL or a cookie.
"use strict";
(function () {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const M = JSON.parse(document.getElementById("messages").textContent);
  const TOKEN_KEY = "indicators-token";
  const API = "/api/v1";
  const MAX_TRACES = 40;
  const EN = page.lang === "en";

  function t(key, values) {
    let text = M[key] === undefined ? key : M[key];
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  class NeedToken extends Error {}
  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(path, params) {
    const url = new URL(API + path, location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      for (const one of [].concat(value)) if (one !== undefined && one !== null) url.searchParams.append(name, one);
    }
    const headers = { Accept: "application/json" };
    const secret = token();
    if (secret) headers.Authorization = "Bearer " + secret;
    const response = await fetch(url, { headers, credentials: "omit" });
    if (response.status === 401) throw new NeedToken();
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) {
        // not a problem document: the status text says enough
      }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  // Every item of a list, following next_cursor a page of 1,000 at a time.
  async function all(path, params) {
    const items = [];
    let cursor = null;
    do {
      const answer = await api(path, Object.assign({}, params, { limit: 1000, cursor }));
      items.push(...answer.items);
      cursor = answer.next_cursor;
    } while (cursor);
    return items;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A table with a caption and header cells; the first cell of a row heads the row. It scrolls
  // within its own region, so that a narrow window (or 200% zoom) never widens the page.
  function table(caption, headers, rows) {
    return el(
      "div",
      { class: "table-wrap", role: "region", tabindex: "0", "aria-label": caption },
      el(
        "table",
        {},
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          rows.map((row) =>
            el("tr", {}, row.map((cell, i) => (i === 0 ? el("th", { scope: "row" }, cell) : el("td", {}, cell))))
          )
        )
      )
    );
  }

  const note = (text) => el("p", { class: "note" }, text);
  const notAvailable = () => note(t("not_available"));

  // Figures as people write them: ≥ 75, > 1000, ≈ 74.9.
  const QUALIFIER = { exact: "", at_least: "≥ ", more_than: "> ", approximately: "≈ " };
  const OPERATOR = { at_least: "≥ ", at_most: "≤ ", exactly: "= " };
  const figure = (value, qualifier) =>
    value === null || value === undefined ? "—" : (QUALIFIER[qualifier] || "") + String(value);
  function target(tg) {
    if (!tg) return "—";
    if (tg.operator === "between") return String(tg.value) + " – " + String(tg.upper);
    return (OPERATOR[tg.operator] || "") + String(tg.value);
  }
  const percent = (rate) => (rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%");
  const badge = (kind, value) => el("span", { class: "badge " + kind + "-" + value }, t(kind + "_" + value));
  const nameOf = (thing) => (thing ? (EN && thing.name_en) || thing.name || thing.code : "");

  function pageUrl(kind, code, year) {
    const query = new URLSearchParams({ lang: page.lang });
    if (year) query.set("year", year);
    return "/dashboard/" + kind + "/" + encodeURIComponent(code) + "?" + query;
  }
  const deptLink = (code, names, year) => el("a", { href: pageUrl("departments", code, year) }, names.get(code) || code);

  async function departments() {
    const items = await all("/departments");
    return { items, names: new Map(items.map((d) => [d.code, nameOf(d)])) };
  }

  // Fill one region; a failure shows there, except a missing token, which the whole page handles.
  async function fill(id, build) {
    const box = document.getElementById(id);
    try {
      box.replaceChildren(await build());
    } catch (error) {
      if (error instanceof NeedToken) throw error;
      const text = error instanceof ApiError ? t("load_error", { detail: error.message }) : String(error);
      box.replaceChildren(el("p", { class: "error", role: "alert" }, text));
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  async function overview() {
    const year = page.year;
    const depts = departments();
    await Promise.all([
      fill("completeness", async () => {
        const { items, names } = await depts;
        if (!page.available.completeness) {
          const rows = items.map((d) => [deptLink(d.code, names, year), d.code, d.parent ? names.get(d.parent) || d.parent : "—"]);
          return el("div", {}, notAvailable(), table(t("departments_heading"), [t("col_department"), t("col_code"), t("col_parent")], rows));
        }
        const report = await api("/completeness", { year });
        const rows = report.items.map((item) => [
          deptLink(item.department, names, year),
          item.expected,
          item.reported,
          item.missing.length,
          percent(item.rate),
          badge("state", item.state),
          item.late ? t("yes") : t("no"),
        ]);
        const headers = ["col_department", "col_expected", "col_reported", "col_missing", "col_rate", "col_state", "col_late"];
        return table(t("completeness_caption", { year }), headers.map((h) => t(h)), rows);
      }),
      fill("compliance", async () => {
        const report = await api("/compliance", { year, limit: 1 });
        const s = report.summary;
        const rows = ["met", "not_met", "indeterminate", "no_data"].map((status) => [badge("status", status), s[status]]);
        rows.push([t("summary_targets"), s.targets]);
        rows.push([t("summary_rate"), percent(s.rate)]);
        if ("reported_rate" in s) rows.push([t("summary_reported_rate"), percent(s.reported_rate)]);
        return table(t("compliance_caption", { year }), [t("col_status"), t("col_count")], rows);
      }),
      fill("validation", async () => {
        if (!page.available.validation) return notAvailable();
        const [{ names }, answer] = await Promise.all([depts, api("/validation", { year, limit: 100 })]);
        if (!answer.items.length) return note(t("none_found"));
        const rows = answer.items.map((v) => [v.rule, deptLink(v.department, names, year), badge("status", v.status)]);
        return table(t("validation_heading"), [t("col_rule"), t("col_department"), t("col_status")], rows);
      }),
      fill("outliers", async () => {
        if (!page.available.outliers) return notAvailable();
        const [{ names }, answer] = await Promise.all([depts, api("/outliers", { year })]);
        if (!answer.items.length) return note(t("none_found"));
        const rows = answer.items.map((o) => [
          el("a", { href: pageUrl("indicators", o.indicator) }, o.indicator),
          deptLink(o.department, names, year),
          String(o.value),
          o.lower_bound === null ? "—" : o.lower_bound + " – " + o.upper_bound,
        ]);
        return table(t("outliers_heading"), [t("col_indicator"), t("col_department"), t("col_value"), t("col_bounds")], rows);
      }),
    ]);
  }

  async function indicator() {
    const code = page.code;
    const heading = document.getElementById("indicator-heading");
    let ind;
    try {
      ind = await api("/indicators/" + encodeURIComponent(code));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        heading.textContent = t("not_found", { code });
        for (const id of ["chart-box", "figures"]) fill(id, async () => note(t("not_found", { code })));
        return;
      }
      throw error;
    }
    const name = nameOf(ind);
    heading.textContent = t("indicator_heading", { name });
    document.title = heading.textContent + " · " + t("app_title");
    if (ind.unit) document.getElementById("indicator-unit").textContent = t("indicator_unit", { unit: ind.unit });
    const seriesP = api("/series", { indicator: code });
    const targetsP = all("/targets", { indicator: code });
    const { items, names } = await departments();
    const parents = new Set(items.map((d) => d.parent).filter(Boolean));
    const roots = items.filter((d) => !d.parent && parents.has(d.code)).map((d) => d.code);
    const rolls = ind.aggregation !== "none" && roots.length > 0;
    const [series, rolled, targets] = await Promise.all([
      seriesP,
      rolls ? api("/series", { indicator: code, department: roots, rollup: true }) : { series: [] },
      targetsP,
    ]);
    const lines = [
      ...rolled.series.map((s) => ({ s, label: t("rollup_name", { name: names.get(s.department) || s.department }), rolled: true })),
      ...series.series.map((s) => ({ s, label: names.get(s.department) || s.department, rolled: false })),
    ];
    const years = [...new Set(lines.flatMap((l) => l.s.points.map((p) => p.year)))].sort((a, b) => a - b);
    await fill("figures", async () => {
      const rows = lines.map((l) => {
        const byYear = new Map(l.s.points.map((p) => [p.year, figure(p.value, p.qualifier)]));
        return [l.label, ...years.map((y) => byYear.get(y) || "—")];
      });
      return table(t("figures_caption", { name }), [t("col_department"), ...years.map(String)], rows);
    });
    await fill("chart-box", async () => {
      const trace = (l) => ({
        type: "scatter",
        mode: "lines+markers",
        name: l.label,
        x: l.s.points.map((p) => p.year),
        y: l.s.points.map((p) => p.value),
        text: l.s.points.map((p) => figure(p.value, p.qualifier)),
        hovertemplate: "%{fullData.name}<br>%{x}: %{text}<extra></extra>",
        line: l.rolled ? { width: 4, dash: "dash" } : { width: 2 },
      });
      const own = lines.filter((l) => !l.rolled);
      let traces = lines.map(trace);
      if (own.length > MAX_TRACES) {
        // Hundreds of departments: still a line each, but drawn as one trace (the lines separated by
        // gaps), or the chart takes seconds to draw and its legend fills the page.
        const x = [], y = [], text = [];
        for (const l of own) {
          for (const p of l.s.points) {
            x.push(p.year);
            y.push(p.value);
            text.push(l.label + ": " + figure(p.value, p.qualifier));
          }
          x.push(null);
          y.push(null);
          text.push("");
        }
        const many = {
          type: "scatter",
          mode: "lines+markers",
          name: t("departments_trace", { count: own.length }),
          x, y, text,
          hovertemplate: "%{text} (%{x})<extra></extra>",
          line: { width: 1, color: "rgba(82, 96, 109, 0.35)" },
          marker: { size: 3, color: "rgba(82, 96, 109, 0.6)" },
        };
        traces = [...lines.filter((l) => l.rolled).map(trace), many];
      }
      if (targets.length) {
        traces.push({
          type: "scatter",
          mode: "markers",
          name: t("target_name"),
          x: targets.map((tg) => tg.year),
          y: targets.map((tg) => tg.value),
          text: targets.map((tg) => (names.get(tg.department) || tg.department) + ": " + target(tg)),
          hovertemplate: "%{text} (%{x})<extra></extra>",
          marker: { symbol: "diamond", size: 12, color: "#b91c1c" },
        });
      }
      const chart = document.getElementById("chart");
      chart.hidden = false;
      chart.setAttribute("aria-label", t("chart_label", { name }));
      const layout = {
        autosize: true,
        margin: { l: 60, r: 20, t: 20, b: 50 },
        xaxis: { title: { text: t("col_year") }, dtick: 1 },
        yaxis: { title: { text: ind.unit || "" } },
        legend: { orientation: "h", y: -0.2 },
        font: { family: '"Noto Sans CJK SC", "Noto Sans SC", sans-serif' },
      };
      // The chart's own words (its toolbar) in the page's language, from the same catalogue.
      const dictionary = {
        "Download plot as a PNG": t("chart_download"),
        Zoom: t("chart_zoom"),
        Pan: t("chart_pan"),
        "Zoom in": t("chart_zoom_in"),
        "Zoom out": t("chart_zoom_out"),
        "Reset axes": t("chart_reset"),
        "Double-click to zoom back out": t("chart_double_click"),
      };
      await Plotly.newPlot(chart, traces, layout, {
        responsive: true,
        displaylogo: false,
        modeBarButtons: [["toImage", "zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "resetScale2d"]],
        toImageButtonOptions: { filename: code },
        locale: "dashboard",
        locales: { dashboard: { dictionary } },
      });
      return rolls ? el("span", {}) : note(t("rollup_none"));
    });
  }

  async function department() {
    const code = page.code;
    const year = page.year;
    const heading = document.getElementById("department-heading");
    const optional = (name, load) => (page.available[name] ? load() : Promise.resolve(null));
    const deptP = api("/departments/" + encodeURIComponent(code));
    const indicatorsP = all("/indicators");
    const figuresP = all("/observations", { department: code, year });
    const complianceP = all("/compliance", { year, department: code });
    const assignedP = optional("assignments", () => all("/assignments", { department: code, year }));
    const progressP = optional("progress", () => all("/progress", { year, department: code }));
    const approvalP = optional("approvals", () => api("/approvals/" + encodeURIComponent(code) + "/" + year));
    let dept;
    try {
      dept = await deptP;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        heading.textContent = t("not_found", { code });
        for (const id of ["assigned", "approval"]) fill(id, async () => note(t("not_found", { code })));
        return;
      }
      throw error;
    }
    heading.textContent = t("department_heading", { name: nameOf(dept) });
    document.title = heading.textContent + " · " + t("app_title");
    await Promise.all([
      fill("assigned", async () => {
        const [indicators, figures, compliance, assigned, progress] = await Promise.all([
          indicatorsP,
          figuresP,
          complianceP,
          assignedP,
          progressP,
        ]);
        const byCode = new Map(indicators.map((i) => [i.code, i]));
        const figureOf = new Map(figures.map((f) => [f.indicator, f]));
        const own = compliance.filter((c) => c.department === code);
        const statusOf = new Map(own.map((c) => [c.indicator, c]));
        const progressOf = new Map((progress || []).filter((p) => p.department === code).map((p) => [p.indicator, p]));
        const codes = assigned
          ? assigned.map((a) => a.indicator)
          : [...figureOf.keys(), ...statusOf.keys()];
        const rows = [...new Set(codes)].sort().map((ic) => {
          const f = figureOf.get(ic);
          const c = statusOf.get(ic);
          const p = progressOf.get(ic);
          return [
            el("a", { href: pageUrl("indicators", ic) }, nameOf(byCode.get(ic)) || ic),
            f ? figure(f.value, f.qualifier) : "—",
            c ? target(c.target) : "—",
            c ? badge("status", c.status) : "—",
            p ? badge("progress", p.status) : "—",
            (c && c.reason) || "",
          ];
        });
        const headers = ["col_indicator", "col_figure", "col_target", "col_status", "col_progress", "col_reason"];
        const result = el("div", {});
        if (!assigned) result.append(note(t("assigned_fallback")));
        if (!progress) result.append(note(t("progress_unavailable")));
        result.append(table(t("assigned_caption", { year }), headers.map((h) => t(h)), rows));
        return result;
      }),
      fill("approval", async () => {
        const approval = await approvalP;
        if (!approval) return notAvailable();
        const result = el("div", {}, el("p", {}, t("approval_state", { state: "" }), badge("state", approval.state)));
        if (!approval.history.length) result.append(note(t("no_history")));
        else {
          const when = (at) => new Date(at).toLocaleString(EN ? "en-GB" : "zh-CN");
          const rows = approval.history.map((h) => [t("action_" + h.action), h.by, when(h.at), h.reason || ""]);
          result.append(table(t("approval_heading"), [t("col_action"), t("col_by"), t("col_at"), t("col_reason")], rows));
        }
        return result;
      }),
    ]);
  }

  const PAGES = { overview, indicator, department };
  const panel = document.getElementById("token-panel");
  const content = document.getElementById("content");
  const forget = document.getElementById("forget-token");
  const input = document.getElementById("token-input");

  function askToken(rejected) {
    content.hidden = true;
    panel.hidden = false;
    forget.hidden = true;
    document.getElementById("token-error").hidden = !rejected;
    input.focus();
  }

  async function run(typed) {
    if (!page.public_read && !token()) {
      askToken(false);
      return;
    }
    panel.hidden = true;
    content.hidden = false;
    forget.hidden = !token();
    try {
      await PAGES[page.page]();
      document.body.dataset.ready = "true";
    } catch (error) {
      if (!(error instanceof NeedToken)) throw error;
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(Boolean(typed));
    }
  }

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const secret = input.value.trim();
    if (!secret) return;
    sessionStorage.setItem(TOKEN_KEY, secret);
    input.value = "";
    run(true);
  });
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  run(false);
})();
