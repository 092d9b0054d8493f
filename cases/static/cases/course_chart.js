// The case's calcium course, drawn by ECharts (vendor/echarts) from the data cases/course_chart.py prepares
// (json_script "calcium-course-data"). Days on one axis, undated items on a separate timeline-order axis;
// the reference band only between two known limits; interventions one per lane below, so labels never overprint.
"use strict";
(function () {
  const COLOURS = {calcium_total: "#1f5fa8", calcium_corrected: "#b0451c", calcium_ionized: "#2e7d32"};
  const LANE = 22, PLOT = 220;

  function esc(text) { return echarts.format.encodeHTML(String(text == null ? "" : text)); }

  function valueText(p, unit) {
    const lo = p.low[unit].text, hi = p.high[unit].text;
    return p.comparator + (lo === hi ? lo : lo + "–" + hi) + " " + unit;
  }

  function build(data, unit, width) {
    const narrow = width < 600, LABELS = narrow ? 96 : 190;
    const other = unit === data.unit ? data.other_unit : data.unit;
    const hasDay = data.axes.day, order = data.axes.order, hasOrder = order.length > 0;
    const lanes = data.interventions.length;
    const top = 34, ganttTop = top + PLOT + 46, ganttHeight = Math.max(lanes, 1) * LANE;
    // Side by side: days on the left, the undated items (timeline order) on the right, clearly apart.
    const split = hasDay && hasOrder ? (narrow ? 0.6 : 0.72) : null;
    const areas = [];
    if (hasDay) areas.push({axis: "day", left: LABELS, right: split ? (100 - split * 100 + 3) + "%" : 24});
    if (hasOrder) areas.push({axis: "order", left: split ? (split * 100 + 2) + "%" : LABELS, right: 24});

    const values = [];
    data.series.forEach(s => s.points.forEach(p => values.push(p.low[unit].v, p.high[unit].v)));
    const ref = data.reference;
    if (ref && ref.low) values.push(ref.low[unit].v);
    if (ref && ref.high) values.push(ref.high[unit].v);
    const pad = Math.max((Math.max(...values) - Math.min(...values)) * 0.12, unit === "mg/dL" ? 0.5 : 0.12);
    const yMin = Math.max(0, Math.min(...values) - pad), yMax = Math.max(...values) + pad;
    const step = unit === "mg/dL" ? 1 : 0.25;  // axis ends on round numbers
    const floorTo = v => Math.floor(v / step) * step, ceilTo = v => Math.ceil(v / step) * step;

    const days = [];
    data.series.forEach(s => s.points.forEach(p => { if (p.axis === "day") days.push(p.x); }));
    data.interventions.forEach(b => { if (b.axis === "day") { days.push(b.x); if (b.end !== null) days.push(b.end); } });
    const dayPad = Math.max(1, Math.round((Math.max(...days) - Math.min(...days)) * 0.04));

    const grid = [], xAxis = [], yAxis = [], series = [];
    areas.forEach((area, n) => {
      const isDay = area.axis === "day";
      grid.push({left: area.left, right: area.right, top: top, height: PLOT});
      grid.push({left: area.left, right: area.right, top: ganttTop, height: ganttHeight});
      const x = isDay
        ? {type: "value", min: Math.min(...days) - dayPad, max: Math.max(...days) + dayPad, minInterval: 1,
           name: narrow ? "Day" : "Day (0 = index event)", axisLabel: {formatter: v => Number.isInteger(v) ? String(v) : ""}}
        : {type: "category", data: order.map(o => String(o.x)), boundaryGap: true,
           name: narrow ? "Order (no day)" : "Timeline order (no day given)"};
      xAxis.push(Object.assign({gridIndex: 2 * n, nameLocation: "middle", nameGap: 26,
                                axisLine: {onZero: false}}, x));
      xAxis.push(Object.assign({gridIndex: 2 * n + 1, axisLine: {onZero: false}}, x, {name: "", axisLabel: {show: false}}));
      yAxis.push({type: "value", gridIndex: 2 * n, min: floorTo(yMin), max: ceilTo(yMax),
                  name: n === 0 ? "Calcium (" + unit + ")" : "", nameLocation: "middle", nameGap: narrow ? 30 : 40,
                  axisLabel: {show: n === 0 || !hasDay}});
      yAxis.push({type: "category", gridIndex: 2 * n + 1, inverse: true,
                  data: data.interventions.map(b => b.label),
                  axisLabel: {show: n === 0, width: LABELS - 14, overflow: "truncate", fontSize: narrow ? 10 : 11},
                  axisTick: {show: false}});
      const xi = 2 * n, gi = 2 * n + 1;
      const xOf = item => isDay ? item.x : item.x - 1;  // category index on the order axis

      // The reference: a band between two known limits, otherwise the one known limit as a line.
      const mark = {type: "line", xAxisIndex: xi, yAxisIndex: xi, data: [], silent: true, name: "reference"};
      if (ref && ref.low && ref.high) {
        mark.markArea = {silent: true, itemStyle: {color: "rgba(46,125,50,0.10)"},
          label: {show: n === 0, position: "insideTopLeft", color: "#2e7d32", fontSize: 10},
          data: [[{yAxis: ref.low[unit].v, name: "reference " + ref.low[unit].text + "–" + ref.high[unit].text +
                   " " + unit + " (" + ref.source + ")"}, {yAxis: ref.high[unit].v}]]};
      } else if (ref) {
        const limit = ref.high ? ref.high : ref.low, which = ref.high ? "upper limit " : "lower limit ";
        mark.markLine = {silent: true, symbol: "none", lineStyle: {color: "#2e7d32", type: "dashed"},
          label: {show: n === 0, position: "insideStartTop", color: "#2e7d32", fontSize: 10,
                  formatter: which + limit[unit].text + " " + unit + " (" + ref.source + ")"},
          data: [{yAxis: limit[unit].v}]};
      }
      series.push(mark);

      data.series.forEach(s => {
        const pts = s.points.filter(p => p.axis === area.axis);
        if (!pts.length) return;
        const colour = COLOURS[s.basis];
        series.push({
          type: "line", name: s.label, xAxisIndex: xi, yAxisIndex: xi, color: colour, symbolSize: 9,
          lineStyle: {type: s.basis === "calcium_total" ? "solid" : "dashed"},
          data: pts.map(p => ({
            value: [xOf(p), (p.low[unit].v + p.high[unit].v) / 2], point: p, series: s.label,
            symbol: p.comparator ? "emptyCircle" : "circle",
          })),
          label: {show: true, position: "top", fontSize: 10, formatter: d => d.data.point.comparator +
                  (d.data.point.low[unit].text === d.data.point.high[unit].text ? d.data.point.low[unit].text
                    : d.data.point.low[unit].text + "–" + d.data.point.high[unit].text)},
          labelLayout: {hideOverlap: true},
        });
        const ranges = pts.filter(p => p.low[unit].v !== p.high[unit].v);
        if (ranges.length) series.push({
          type: "custom", name: s.label + " (range)", xAxisIndex: xi, yAxisIndex: xi, silent: true,
          data: ranges.map(p => [xOf(p), p.low[unit].v, p.high[unit].v]),
          renderItem: (params, api) => {
            const a = api.coord([api.value(0), api.value(1)]), b = api.coord([api.value(0), api.value(2)]);
            return {type: "line", shape: {x1: a[0], y1: a[1], x2: b[0], y2: b[1]},
                    style: {stroke: colour, lineWidth: 4, lineCap: "round", opacity: 0.6}};
          },
        });
      });

      const bars = data.interventions.filter(b => b.axis === area.axis);
      series.push({
        type: "custom", name: "Interventions", xAxisIndex: gi, yAxisIndex: gi,
        data: bars.map(b => ({value: [xOf(b), b.lane, b.end === null ? xOf(b) : b.end], bar: b})),
        encode: {x: [0, 2], y: 1},
        renderItem: (params, api) => {
          const b = bars[params.dataIndex];
          const start = api.coord([api.value(0), api.value(1)]), end = api.coord([api.value(2), api.value(1)]);
          const h = api.size([0, 1])[1] * 0.6, colour = b.calcium_directed ? "#7b1fa2" : "#616161";
          const style = b.administered ? {fill: colour, stroke: colour}
                                       : {fill: "#fff", stroke: colour, lineDash: [4, 3], lineWidth: 1.5};
          const width = Math.max(end[0] - start[0], 0);
          if (width < 6) {  // one day (or no end): a diamond marker
            return {type: "polygon", shape: {points: [[start[0], start[1] - h / 2], [start[0] + h / 2, start[1]],
                    [start[0], start[1] + h / 2], [start[0] - h / 2, start[1]]]}, style: style};
          }
          return {type: "rect", shape: {x: start[0], y: start[1] - h / 2, width: width, height: h}, style: style};
        },
      });
    });

    return {
      animation: false,
      color: Object.values(COLOURS),
      legend: {top: 0, left: LABELS, data: data.series.map(s => s.label), textStyle: {fontSize: 11}},
      grid: grid, xAxis: xAxis, yAxis: yAxis, series: series,
      tooltip: {
        trigger: "item", confine: true, className: "calcium-course-tooltip",
        extraCssText: "max-width: 360px; white-space: normal;",
        formatter: params => {
          const d = params.data || {};
          if (d.point) {
            const p = d.point;
            const when = p.day !== null ? "day " + p.day : "day not given (timeline position " + p.sequence + ")";
            return "<b>" + esc(d.series) + ": " + esc(valueText(p, unit)) + "</b> = " + esc(valueText(p, other)) +
              "<br>entered: " + esc(p.entered) + "<br>" + esc(when) +
              (p.quote ? "<br><i>“" + esc(p.quote) + "”</i>" : "");
          }
          if (d.bar) {
            const b = d.bar;
            const when = b.axis === "day" ? "day " + b.x + (b.end !== null && b.end !== b.x ? " to " + b.end : "")
                                          : "day not given (timeline position " + b.sequence + ")";
            return "<b>" + esc(b.label) + "</b><br>" + esc(b.status) + (b.calcium_directed ? ", calcium-directed" : "") +
              "<br>" + esc(when) + (b.timing ? "<br>“" + esc(b.timing) + "”" : "");
          }
          return "";
        },
      },
    };
  }

  function draw() {
    const holder = document.getElementById("calcium-course");
    const source = document.getElementById("calcium-course-data");
    if (!holder || !source || typeof echarts === "undefined") return;
    const data = JSON.parse(source.textContent);
    if (data.empty) { holder.textContent = "No calcium values to plot."; holder.classList.add("empty"); return; }
    holder.style.height = (34 + PLOT + 46 + Math.max(data.interventions.length, 1) * LANE + 40) + "px";
    const chart = echarts.init(holder);
    let unit = data.unit;
    const buttons = document.querySelectorAll("#calcium-course-units button");
    function show() {
      chart.setOption(build(data, unit, holder.clientWidth), true);
      buttons.forEach(b => b.setAttribute("aria-pressed", String(b.dataset.unit === unit)));
    }
    buttons.forEach(b => b.addEventListener("click", event => { event.preventDefault(); unit = b.dataset.unit; show(); }));
    show();
    window.addEventListener("resize", () => { chart.resize(); show(); });
    holder.calciumChart = chart;  // for the browser tests
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
