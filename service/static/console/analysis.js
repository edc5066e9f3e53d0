// The analysis screens' charts (service/console/analysis.py): each `[data-chart]` element is drawn by the
// vendored Apache ECharts, SVG renderer with its `aria` option on, from the JSON block it names (no
// inline script: CSP). The numbers come from the server as they are; nothing is computed here. A chart
// downloads as SVG (the SVG renderer's own picture) or PNG (the same option drawn once more on an
// off-screen canvas); [data-print] buttons print the page (the browser's "save as PDF").
"use strict";
(function () {
  var charts = {};

  function read(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function bars(d) {
    return {
      title: { show: false },
      tooltip: { trigger: "item" },
      grid: { left: 48, right: 16, top: 24, bottom: 72 },
      xAxis: {
        type: "category",
        data: d.points.map(function (p) { return p.withheld ? p.name + " (" + d.withheld + ")" : p.name; }),
        axisLabel: { interval: 0, rotate: d.points.length > 4 ? 30 : 0 },
      },
      yAxis: { type: "value", min: 0, max: 100, name: d.axis },
      series: [{
        type: "bar",
        name: d.title,
        data: d.points.map(function (p) { return p.value; }),
        label: { show: true, position: "top", formatter: function (p) { return p.value == null ? "" : p.value.toFixed(1); } },
        cursor: "pointer",
      }],
    };
  }

  function trend(d) {
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 48, right: 16, top: 24, bottom: 80 },
      xAxis: {
        type: "category",
        data: d.periods.map(function (p, i) { return p + "\nn=" + (d.n[i] == null ? d.withheld : d.n[i]); }),
      },
      yAxis: { type: "value", min: 0, max: 100, name: d.axis },
      series: d.series.map(function (s) {
        return { type: "line", name: s.name, data: s.values, connectNulls: false, symbolSize: 7 };
      }),
    };
  }

  function effect(d) {
    var names = d.points.map(function (p) { return p.name; });
    return {
      tooltip: { trigger: "item" },
      grid: { left: 120, right: 24, top: 24, bottom: 40 },
      yAxis: { type: "category", data: names, inverse: true },
      xAxis: { type: "value", name: d.axis, nameLocation: "middle", nameGap: 26 },
      series: [
        {
          type: "custom",
          name: "95%",
          data: d.points.map(function (p, i) { return [i, p.low, p.high]; }),
          encode: { y: 0, x: [1, 2] },
          renderItem: function (params, api) {
            if (api.value(1) == null || isNaN(api.value(1))) { return null; }
            var low = api.coord([api.value(1), api.value(0)]);
            var high = api.coord([api.value(2), api.value(0)]);
            var cap = api.size([0, 1])[1] * 0.2;
            var style = { stroke: "#0b5cad", lineWidth: 2 };
            return {
              type: "group",
              children: [
                { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: style },
                { type: "line", shape: { x1: low[0], y1: low[1] - cap, x2: low[0], y2: low[1] + cap }, style: style },
                { type: "line", shape: { x1: high[0], y1: high[1] - cap, x2: high[0], y2: high[1] + cap }, style: style },
              ],
            };
          },
        },
        {
          type: "scatter",
          name: d.axis,
          symbolSize: 10,
          data: d.points.map(function (p, i) { return [p.gain, i]; }),
          markLine: { silent: true, symbol: "none", data: [{ xAxis: 0 }], lineStyle: { color: "#4b5563", type: "dashed" } },
        },
      ],
    };
  }

  function items(d) {
    return {
      tooltip: { trigger: "axis" },
      legend: { bottom: 0 },
      grid: { left: 48, right: 16, top: 24, bottom: 80 },
      xAxis: { type: "category", data: d.items, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", min: -1, max: 1 },
      series: [
        { type: "bar", name: d.facility, data: d.values.map(function (v) { return v[0]; }) },
        {
          type: "bar",
          name: d.discrimination,
          data: d.values.map(function (v) {
            return { value: v[1], itemStyle: v[2] ? { color: "#a40e26" } : undefined };
          }),
        },
      ],
    };
  }

  var KINDS = { bars: bars, trend: trend, effect: effect, items: items };

  function optionOf(d) {
    var option = KINDS[d.kind](d);
    option.aria = { enabled: true, label: { enabled: true }, decal: { show: false } };
    option.title = { text: d.title, show: false };
    return option;
  }

  function save(url, name) {
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function download(button) {
    var id = button.getAttribute("data-for");
    var chart = charts[id];
    if (!chart) { return; }
    var kind = button.getAttribute("data-download");
    var name = (button.getAttribute("data-name") || id) + "." + kind;
    if (kind === "svg") {
      save(chart.instance.getDataURL({ type: "svg" }), name);
      return;
    }
    var box = document.createElement("div");
    box.className = "chart offscreen";
    box.setAttribute("aria-hidden", "true");
    document.body.appendChild(box);
    var width = chart.element.clientWidth || 800;
    var height = chart.element.clientHeight || 320;
    var canvas = echarts.init(box, null, { renderer: "canvas", width: width, height: height });
    var option = optionOf(chart.data);
    option.animation = false;
    canvas.setOption(option);
    save(canvas.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" }), name);
    canvas.dispose();
    box.remove();
  }

  function draw(element) {
    var data = read(element.getAttribute("data-chart"));
    var instance = echarts.init(element, null, { renderer: "svg" });
    instance.setOption(optionOf(data));
    if (data.kind === "bars") {
      instance.on("click", function (params) {
        var point = data.points[params.dataIndex];
        if (point && point.href) { window.location.href = point.href; }
      });
    }
    charts[element.id] = { instance: instance, element: element, data: data };
    element.setAttribute("data-drawn", "true");
  }

  function start() {
    if (typeof echarts === "undefined") { return; }
    document.querySelectorAll("[data-chart]").forEach(draw);
    document.querySelectorAll("[data-download]").forEach(function (button) {
      button.addEventListener("click", function () { download(button); });
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (id) { charts[id].instance.resize(); });
    });
    window.addEventListener("beforeprint", function () {
      Object.keys(charts).forEach(function (id) { charts[id].instance.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
