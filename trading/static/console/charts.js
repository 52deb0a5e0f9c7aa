/* Meva console charts: equity (with the initial-cash baseline) and drawdown per account.
 *
 * Each <canvas data-equity-chart="ID"> / <canvas data-drawdown-chart="ID"> reads the JSON in
 * <script id="ID" type="application/json">: {quote, baseline, baseline_label, points: [{t (epoch
 * ms), equity (quote, string), drawdown (percent 0..100, string)}]}. The x axis is time (UTC,
 * ticks at round intervals), the y axes are the quote currency and percent.
 * Needs Chart.js 4 (static vendor/chartjs/chart.umd.min.js) loaded first.
 */
(function () {
  "use strict";
  const MINUTE = 60000, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
  const STEPS = [MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR,
    12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const Y_AXIS_WIDTH = 84; // the same on both charts, so their time axes line up
  const pad = (n) => String(n).padStart(2, "0");

  function timeLabel(ms, step) {
    const d = new Date(ms);
    const day = `${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]}`;
    const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (step >= 365 * DAY) return String(d.getUTCFullYear());
    if (step >= DAY) return `${day} ${d.getUTCFullYear()}`;
    if (step >= HOUR && d.getUTCHours() === 0 && d.getUTCMinutes() === 0) return day;
    return step >= HOUR ? `${day} ${clock}` : clock;
  }

  function niceStep(span, ticks) {
    const want = span / ticks;
    return STEPS.find((s) => s >= want) || STEPS[STEPS.length - 1];
  }

  function money(value, places) {
    return Number(value).toLocaleString("en-US", {
      minimumFractionDigits: places, maximumFractionDigits: places,
    });
  }

  function xAxis(first, last, ticks) {
    const span = Math.max(last - first, MINUTE);
    const step = niceStep(span, ticks);
    return {
      type: "linear",
      min: first,
      max: Math.max(last, first + MINUTE),
      title: { display: true, text: "time (UTC)" },
      ticks: {
        maxRotation: 0,
        autoSkip: true,
        callback: (value) => timeLabel(value, step),
      },
      // ticks at round UTC times (multiples of the step), not at the first data point
      afterBuildTicks: (scale) => {
        const ticks = [];
        for (let t = Math.ceil(scale.min / step) * step; t <= scale.max; t += step) ticks.push({ value: t });
        scale.ticks = ticks;
      },
    };
  }

  function read(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function equityChart(canvas, data, compact) {
    const pts = data.points.map((p) => ({ x: p.t, y: Number(p.equity) }));
    const first = pts[0].x, last = pts[pts.length - 1].x;
    const datasets = [{
      label: `equity (${data.quote})`,
      data: pts,
      borderColor: "#2a6ebb",
      backgroundColor: "rgba(42,110,187,0.08)",
      borderWidth: 1.5,
      pointRadius: 0,
      fill: false,
      tension: 0,
    }];
    if (data.baseline !== null) {
      datasets.push({
        label: `${data.baseline_label} ${money(data.baseline, 2)} ${data.quote}`,
        data: [{ x: first, y: Number(data.baseline) }, { x: last, y: Number(data.baseline) }],
        borderColor: "#888",
        borderDash: [6, 4],
        borderWidth: 1,
        pointRadius: 0,
      });
    }
    return new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { display: true, position: "top", align: "end", labels: { boxHeight: 2 } },
          tooltip: {
            callbacks: {
              title: (items) => items.length ? timeLabel(items[0].parsed.x, MINUTE * 2) + " UTC" : "",
              label: (item) => `${item.dataset.label.split(" ")[0]}: ${money(item.parsed.y, 2)} ${data.quote}`,
            },
          },
        },
        scales: {
          x: xAxis(first, last, compact ? 4 : 8),
          y: {
            title: { display: true, text: `equity (${data.quote})` },
            ticks: { callback: (value) => money(value, 0) },
            grace: "5%",
            afterFit: (scale) => { scale.width = Y_AXIS_WIDTH; },
          },
        },
      },
    });
  }

  function drawdownChart(canvas, data, compact) {
    const pts = data.points.map((p) => ({ x: p.t, y: -Number(p.drawdown) }));
    const first = pts[0].x, last = pts[pts.length - 1].x;
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [{
          label: "drawdown (%)",
          data: pts,
          borderColor: "#ba2121",
          backgroundColor: "rgba(186,33,33,0.15)",
          borderWidth: 1,
          pointRadius: 0,
          fill: "origin",
          tension: 0,
        }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => items.length ? timeLabel(items[0].parsed.x, MINUTE * 2) + " UTC" : "",
              label: (item) => `drawdown: ${money(-item.parsed.y, 2)} %`,
            },
          },
        },
        scales: {
          x: xAxis(first, last, compact ? 4 : 8),
          y: {
            max: 0,
            suggestedMin: -1,
            title: { display: true, text: "drawdown (%)" },
            ticks: { callback: (value) => `${money(value, 1)} %` },
            afterFit: (scale) => { scale.width = Y_AXIS_WIDTH; },
          },
        },
      },
    });
  }

  function init() {
    document.querySelectorAll("canvas[data-equity-chart], canvas[data-drawdown-chart]").forEach((canvas) => {
      const equity = canvas.dataset.equityChart;
      const data = read(equity || canvas.dataset.drawdownChart);
      if (!data || !data.points.length) return;
      const compact = canvas.dataset.compact === "true";
      (equity ? equityChart : drawdownChart)(canvas, data, compact);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

/* The dashboard's optional auto-refresh (off by default; the choice is kept in localStorage). */
(function () {
  "use strict";
  const KEY = "meva.console.autoRefresh";
  function init() {
    const box = document.getElementById("auto-refresh");
    if (!box) return;
    box.checked = window.localStorage.getItem(KEY) === "on";
    let timer = null;
    const arm = () => {
      if (timer) window.clearTimeout(timer);
      timer = box.checked ? window.setTimeout(() => window.location.reload(), 30000) : null;
    };
    box.addEventListener("change", () => {
      window.localStorage.setItem(KEY, box.checked ? "on" : "off");
      arm();
    });
    arm();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
