/* The cohort dashboard's charts, drawn with Apache ECharts from the payload api/dashboard.py computes.
   Every mark carries `url` (its case, or the list of the cases in a cell); a click opens it. The calcium unit
   switch converts mg/dL to mmol/L with the factor the server sends (domain.md's). */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const charts = [];
  let unit = new URLSearchParams(window.location.search).get("unit") === "mmol/L" ? "mmol/L" : "mg/dL";

  const narrow = () => window.innerWidth < 600;
  const calcium = (mgdl) => (unit === "mg/dL" ? mgdl : Math.round(mgdl * data.mmol_per_mg_dl * 100) / 100);
  const labelWidth = () => (narrow() ? 96 : 170);
  const categoryLabels = () => ({
    width: labelWidth(), overflow: "break", fontSize: narrow() ? 10 : 12, lineHeight: narrow() ? 12 : 14,
  });
  // A value axis named along its side: room on the left for the name (containLabel counts only the ticks).
  const sideNamed = () => Object.assign(base().grid, { left: 30 });
  const base = () => ({
    animation: false,
    grid: { left: 8, right: narrow() ? 12 : 24, top: 56, bottom: 44, containLabel: true },
    tooltip: { confine: true },
  });
  const empty = (text) => ({ title: { text: text, left: "center", top: "middle", textStyle: { fontSize: 13, fontWeight: "normal" } } });

  // rows: how many categories the chart lists down its side (0 for a plot), so that labels never overprint.
  function chart(id, build, rows) {
    const element = document.getElementById(id);
    const instance = echarts.init(element, null, { renderer: "svg" });
    instance.on("click", (params) => {
      const url = (params.data && params.data.url) || (params.seriesId && params.seriesId.startsWith("/") ? params.seriesId : null);
      if (url) window.location.href = url;
    });
    charts.push({ element: element, instance: instance, build: build, rows: rows || 0 });
  }

  function crosstab() {
    const c = data.crosstab;
    if (!c.cells.length) return empty("No cases in this cohort");
    const max = Math.max(...c.cells.map((cell) => cell.value[2]));
    return Object.assign(base(), {
      grid: Object.assign(base().grid, { top: 64 }),
      tooltip: { confine: true, formatter: (p) => `${c.rows[p.value[1]]} × ${c.columns[p.value[0]]}: ${p.value[2]} case${p.value[2] === 1 ? "" : "s"}<br>${p.data.cases.length ? p.data.cases.join(", ") : "click to open them in the case list"}` },
      xAxis: { type: "category", data: c.columns, name: "Tumor site", nameLocation: "middle", nameGap: narrow() ? 56 : 30,
               axisLabel: { interval: 0, rotate: narrow() ? 40 : 0, width: narrow() ? 70 : 110, overflow: "break", fontSize: narrow() ? 10 : 12 } },
      yAxis: { type: "category", data: c.rows, name: "Main mechanism", axisLabel: categoryLabels() },
      visualMap: { min: 0, max: max, calculable: false, orient: "horizontal", left: "center", top: 0, itemHeight: 120,
                   text: [`${max} cases`, "0"], inRange: { color: ["#e8f1fa", "#205493"] } },
      series: [{ type: "heatmap", data: c.cells, label: { show: true }, emphasis: { itemStyle: { borderColor: "#000", borderWidth: 1 } } }],
    });
  }

  function peaks() {
    const p = data.peaks;
    if (!p.points.length) return empty("No case in this cohort has a calcium value");
    return Object.assign(base(), {
      tooltip: { confine: true, formatter: (q) => `${q.data.case}: peak ${q.value[0]} ${unit}<br>${p.categories[q.value[1]]}` },
      xAxis: { type: "value", name: `Peak calcium (${unit})`, nameLocation: "middle", nameGap: 28, scale: true },
      yAxis: { type: "category", data: p.categories, name: "Main mechanism", axisLabel: categoryLabels() },
      series: [{ type: "scatter", name: "Case", symbolSize: 12, itemStyle: { opacity: 0.8 },
                 data: p.points.map((pt) => Object.assign({}, pt, { value: [calcium(pt.value[0]), pt.value[1]] })) }],
    });
  }

  function responses(r, axis) {
    return function () {
      if (!r.categories.length) return empty("No administered intervention with an assessed calcium response");
      return Object.assign(base(), {
        legend: { top: 0, type: "scroll" },
        tooltip: { confine: true, formatter: (q) => r.counted ? `${r.categories[q.dataIndex]}: ${q.value} ${q.seriesName.toLowerCase()}`
                                                              : `${q.data.case}: ${q.data.what}<br>${q.seriesName}` },
        xAxis: { type: "value", name: "Interventions (count)", nameLocation: "middle", nameGap: 28, minInterval: 1, min: 0 },
        yAxis: { type: "category", data: r.categories, name: axis, axisLabel: categoryLabels() },
        // Too many interventions for a square each (payload.administered): the same stacks as bars of the counts.
        series: r.counted
          ? r.series.map((s) => ({ type: "bar", name: s.name, stack: "responses", data: s.counts }))
          : r.series.map((s) => ({ type: "scatter", name: s.name, symbol: "rect", symbolSize: 14, data: s.points })),
      });
    };
  }

  function timeToNormal() {
    const groups = data.time_to_normal;
    if (!groups.length) return empty("No administered calcium-directed intervention");
    const palette = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];
    const series = [];
    groups.forEach((g, n) => {
      const name = `${g.agent} (n=${g.n}, ${g.events} normalised)`;
      const color = palette[n % palette.length];
      series.push({ type: "line", name: name, step: "end", symbol: "none", data: g.steps, color: color, z: 2 });
      series.push({ type: "scatter", name: name, symbol: "circle", symbolSize: 9, data: g.normalised, color: color, z: 3 });
      series.push({ type: "scatter", name: name, symbol: "path://M0,0L10,10M10,0L0,10", symbolSize: 10, color: color,
                    itemStyle: { borderWidth: 2, borderColor: color }, data: g.censored, z: 3 });
    });
    return Object.assign(base(), {
      legend: { top: 0, type: "scroll" },
      grid: Object.assign(sideNamed(), { top: 64 }),
      tooltip: { confine: true, formatter: (q) => q.data && q.data.case ? `${q.data.case}: ${q.data.what}<br>day ${q.value[0]}, ${Math.round(q.value[1] * 100)}% still not normal` : q.seriesName },
      xAxis: { type: "value", name: "Days after the intervention started", nameLocation: "middle", nameGap: 28, min: 0 },
      yAxis: { type: "value", name: "Share without a normal calcium", nameLocation: "middle", nameGap: 44, min: 0, max: 1,
               axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
      series: series,
    });
  }

  function trajectories() {
    const t = data.trajectories;
    if (!t.drawn.length) return empty("No case with a dated calcium-directed intervention");
    return Object.assign(base(), {
      tooltip: { confine: true, trigger: "item", formatter: (q) => `${q.seriesName.split(" · ")[0]}: ${q.value[1]} ${unit} on day ${q.value[0]}` },
      legend: { show: !narrow() && t.drawn.length <= 12, top: 0, type: "scroll" },
      grid: sideNamed(),
      xAxis: { type: "value", name: "Days from the first calcium-directed intervention", nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", name: `Calcium (${unit})`, nameLocation: "middle", nameGap: 36, scale: true },
      series: t.drawn.map((s) => ({
        type: "line", id: s.url, name: `${s.case} · ${s.mechanism}`, symbolSize: 7, triggerLineEvent: true,
        data: s.points.map((p) => ({ value: [p[0], calcium(p[1])], url: s.url, case: s.case })),
      })),
    });
  }

  chart("chart-crosstab", crosstab, data.crosstab.rows.length);
  chart("chart-peaks", peaks, data.peaks.categories.length);
  chart("chart-response-agent", responses(data.response_by_agent, "Agent"), data.response_by_agent.categories.length);
  chart("chart-response-mechanism", responses(data.response_by_mechanism, "Main mechanism"),
        data.response_by_mechanism.categories.length);
  chart("chart-time-to-normal", timeToNormal);
  chart("chart-trajectories", trajectories);

  function draw() {
    charts.forEach((c) => {
      c.element.style.height = `${Math.max(narrow() ? 300 : 340, 150 + c.rows * (narrow() ? 52 : 40))}px`;
      c.instance.resize();
      c.instance.setOption(c.build(), true);
    });
  }
  document.querySelectorAll("#unit-switch input[name=unit]").forEach((input) => {
    input.checked = input.value === unit;
    input.addEventListener("change", () => { unit = input.value; draw(); });
  });
  // Redraw when the page's width changes (a window resize, the admin's sidebar opening or closing).
  let pending = null;
  let width = document.getElementById("chart-crosstab").clientWidth;
  new ResizeObserver(() => {
    const now = document.getElementById("chart-crosstab").clientWidth;
    if (now !== width) { width = now; clearTimeout(pending); pending = setTimeout(draw, 50); }
  }).observe(document.querySelector(".dashboard-grid"));
  draw();
  document.body.dataset.dashboardReady = "1";
})();
