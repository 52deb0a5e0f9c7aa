/* Backtest pages: the run page's equity and drawdown charts and progress polling, and the
   comparison page's overlaid curves. Chart.js 4 (no date adapter): x is a linear axis of epoch
   milliseconds whose ticks are formatted as UTC dates. */
(function () {
  "use strict";

  var COLORS = ["#2a6ebb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285",
                "#c2255c", "#5c940d", "#364fc7", "#495057"];

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  var DAY = 86400000;
  var STEPS = [300000, 900000, 1800000, 3600000, 3 * 3600000, 6 * 3600000, 12 * 3600000,
               DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];

  /* A UTC date, with the time of day when ``step`` (ms between ticks) is under a day. */
  function dateText(ms, step) {
    var d = new Date(ms);
    var day = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    if (step !== undefined && step >= DAY) { return day; }
    return day + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  /* Tick step for [min, max]: the smallest round UTC step giving at most ``count`` ticks. */
  function tickStep(min, max, count) {
    for (var i = 0; i < STEPS.length; i++) {
      if ((max - min) / STEPS[i] <= count) { return STEPS[i]; }
    }
    return STEPS[STEPS.length - 1];
  }

  function numberText(value, places) {
    return value.toLocaleString("en-US", {minimumFractionDigits: places, maximumFractionDigits: places});
  }

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function points(xs, ys) {
    var out = new Array(xs.length);
    for (var i = 0; i < xs.length; i++) { out[i] = {x: xs[i], y: ys[i]}; }
    return out;
  }

  /* x axis: epoch ms, ticks on round UTC boundaries (midnight for daily steps). */
  function timeAxis(min, max) {
    var step = tickStep(min, max, 8);
    return {
      type: "linear", min: min, max: max,
      title: {display: true, text: "date (UTC)"},
      afterBuildTicks: function (scale) {
        var ticks = [];
        for (var t = Math.ceil(min / step) * step; t <= max; t += step) { ticks.push({value: t}); }
        scale.ticks = ticks;
      },
      ticks: {maxRotation: 0, autoSkip: true, callback: function (v) { return dateText(v, step); }},
      grid: {color: "rgba(0,0,0,0.06)"}
    };
  }

  function valueAxis(title, places, suffix) {
    return {
      type: "linear",
      afterFit: function (scale) { scale.width = Math.max(scale.width, 96); },  // stacked charts line up
      title: {display: true, text: title},
      ticks: {callback: function (v) { return numberText(v, places) + (suffix || ""); }},
      grid: {color: "rgba(0,0,0,0.06)"}
    };
  }

  function baseOptions(xAxis, yAxis, legend, tooltipPlaces, tooltipSuffix) {
    return {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      interaction: {mode: "nearest", axis: "x", intersect: false},
      scales: {x: xAxis, y: yAxis},
      plugins: {
        legend: {display: legend},
        tooltip: {callbacks: {
          title: function (items) { return items.length ? dateText(items[0].parsed.x) + " UTC" : ""; },
          label: function (item) {
            return item.dataset.label + ": " + numberText(item.parsed.y, tooltipPlaces) + (tooltipSuffix || "");
          }
        }}
      }
    };
  }

  function runPage() {
    var data = readJson("run-chart-data");
    if (data && document.getElementById("equity-chart")) {
      var min = data.x[0], max = data.x[data.x.length - 1];
      if (max === min) { max = min + 1; }
      var equityOptions = baseOptions(timeAxis(min, max), valueAxis("equity (" + data.quote + ")", 0), true, 2, " " + data.quote);
      new Chart(document.getElementById("equity-chart"), {
        type: "line",
        data: {datasets: [
          {label: "equity", data: points(data.x, data.equity), borderColor: COLORS[0],
           backgroundColor: COLORS[0], borderWidth: 1.5, pointRadius: 0},
          {label: "initial cash", data: [{x: min, y: data.initial_cash}, {x: max, y: data.initial_cash}],
           borderColor: "#868e96", borderDash: [6, 4], borderWidth: 1, pointRadius: 0}
        ]},
        options: equityOptions
      });
      var ddAxis = valueAxis("drawdown (%)", 1, " %");
      ddAxis.max = 0;
      new Chart(document.getElementById("drawdown-chart"), {
        type: "line",
        data: {datasets: [
          {label: "drawdown", data: points(data.x, data.drawdown), borderColor: "#cf222e",
           backgroundColor: "rgba(207,34,46,0.18)", fill: "origin", borderWidth: 1, pointRadius: 0}
        ]},
        options: baseOptions(timeAxis(min, max), ddAxis, false, 2, " %")
      });
    }
    var status = document.getElementById("run-status");
    if (status && status.dataset.running === "true") { poll(status); }
  }

  function poll(status) {
    var url = status.dataset.progressUrl;
    var timer = setInterval(function () {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          if (p.done || p.status !== status.dataset.status) {
            clearInterval(timer);
            window.location.reload();
            return;
          }
          var bar = document.getElementById("run-progress");
          var text = document.getElementById("run-progress-text");
          if (bar) { bar.value = p.progress_pct; }
          if (text) { text.textContent = p.progress_pct + " %" + (p.progress_pct === 100 ? " · storing results" : ""); }
        })
        .catch(function () { /* the next tick retries */ });
    }, 2000);
  }

  function comparePage() {
    var series = readJson("compare-series");
    var canvas = document.getElementById("compare-chart");
    if (!series || !canvas) { return; }
    var options = readJson("compare-options") || {normalize: true, quote: ""};
    var min = Infinity, max = -Infinity;
    series.forEach(function (s) {
      if (s.x.length) { min = Math.min(min, s.x[0]); max = Math.max(max, s.x[s.x.length - 1]); }
    });
    if (!isFinite(min)) { return; }
    if (max === min) { max = min + 1; }

    function config(normalize) {
      var unit = options.quote ? " " + options.quote : "";
      var yAxis = normalize ? valueAxis("return from start (%)", 1, " %")
                            : valueAxis("equity" + (options.quote ? " (" + options.quote + ")" : ""), 0);
      return {
        datasets: series.map(function (s, i) {
          var color = COLORS[i % COLORS.length];
          return {label: s.label, data: points(s.x, normalize ? s.return_pct : s.equity),
                  borderColor: color, backgroundColor: color, borderWidth: 1.5, pointRadius: 0};
        }),
        options: baseOptions(timeAxis(min, max), yAxis, true, 2, normalize ? " %" : unit)
      };
    }

    var first = config(options.normalize);
    var chart = new Chart(canvas, {type: "line", data: {datasets: first.datasets}, options: first.options});
    var toggle = document.getElementById("compare-mode");
    if (toggle) {
      toggle.addEventListener("click", function (event) {
        var link = event.target.closest("a[data-mode]");
        if (!link) { return; }
        event.preventDefault();
        var normalize = link.dataset.mode === "return";
        var next = config(normalize);
        chart.data.datasets = next.datasets;
        chart.options = next.options;
        chart.update();
        toggle.querySelectorAll("a").forEach(function (a) { a.classList.toggle("active", a === link); });
        if (window.history && window.history.replaceState) { window.history.replaceState(null, "", link.href); }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    runPage();
    comparePage();
  });
})();
