/* isobench history: the timeline charts (uPlot, vendored in assets/). Each chart's data is inline in
   the page (a <script type="application/json">), so the pages work from file:// with no server.
   Drawn: each mode's level (the batch-means median) with its 95% CI as whiskers, change points as
   dashed lines labelled with their size and CI, drift windows shaded. Hover shows the set, its factor
   values and each mode's numbers; drag to zoom, double-click to zoom out; a click opens the set's report. */
(function () {
  "use strict";
  var COLORS = ["#1259c3", "#c0392b", "#1a7f45", "#8e44ad", "#b9770e", "#16a085", "#555"];
  window.historyCharts = [];

  function fmt(v) { return v == null ? "-" : v.toFixed(v < 10 ? 2 : 1); }

  function order(spec, by) {
    var idx = spec.sets.map(function (_, i) { return i; });
    if (by === "factor") idx.sort(function (a, b) { return spec.sets[a].rank - spec.sets[b].rank; });
    return idx;
  }

  function tooltipHtml(spec, i) {
    var s = spec.sets[i], out = "<b>" + escapeHtml(s.name) + "</b><br>" + escapeHtml(s.created);
    Object.keys(s.factors).forEach(function (k) {
      out += "<br><span class='k'>" + escapeHtml(k) + "</span> " + escapeHtml(s.factors[k]);
    });
    spec.modes.forEach(function (m) {
      var v = spec.values[m][i];
      if (v) out += "<br><b>" + escapeHtml(m) + "</b>: " + fmt(v[0]) + " " + spec.unit + " (95% CI " +
        fmt(v[1]) + "-" + fmt(v[2]) + "), median " + fmt(v[3]) + " " + spec.unit + ", n=" + v[4];
    });
    return out;
  }

  function escapeHtml(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function drawExtras(u, spec, idx, box) {
    var ctx = u.ctx, drawn = 0;
    ctx.save();
    spec.modes.forEach(function (m, k) {
      ctx.strokeStyle = COLORS[k % COLORS.length];
      ctx.lineWidth = 1.5;
      idx.forEach(function (i, j) {
        var v = spec.values[m][i];
        if (!v) return;
        var x = u.valToPos(u.data[0][j], "x", true);
        var y1 = u.valToPos(v[1], "y", true), y2 = u.valToPos(v[2], "y", true);
        ctx.beginPath(); ctx.moveTo(x, y1); ctx.lineTo(x, y2);
        ctx.moveTo(x - 4, y1); ctx.lineTo(x + 4, y1); ctx.moveTo(x - 4, y2); ctx.lineTo(x + 4, y2);
        ctx.stroke();
      });
    });
    var pos = {}; idx.forEach(function (i, j) { pos[i] = j; });
    spec.drift.forEach(function (d) {
      var x1 = u.valToPos(u.data[0][pos[d.start]], "x", true), x2 = u.valToPos(u.data[0][pos[d.end]], "x", true);
      ctx.fillStyle = "rgba(185,119,14,0.12)";
      ctx.fillRect(Math.min(x1, x2), u.bbox.top, Math.abs(x2 - x1), u.bbox.height);
    });
    ctx.font = (12 * devicePixelRatio) + "px sans-serif";
    spec.changes.forEach(function (c, n) {
      var j = pos[c.at];
      if (j == null) return;
      var x = u.valToPos(u.data[0][j], "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.strokeStyle = c.open ? "#c0392b" : "#888"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(c.mode + " " + c.label, x + 4, u.bbox.top + 14 * devicePixelRatio * (1 + n % 3));
      drawn++;
    });
    ctx.restore();
    box.dataset.drawnChanges = drawn;
  }

  function yRange(spec) {
    var lo = Infinity, hi = -Infinity;
    spec.modes.forEach(function (m) {
      spec.values[m].forEach(function (v) { if (v) { lo = Math.min(lo, v[1]); hi = Math.max(hi, v[2]); } });
    });
    var pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }

  function build(box, spec, by) {
    var idx = order(spec, by);
    var xs = idx.map(function (i) { return by === "factor" ? spec.sets[i].rank : spec.sets[i].time; });
    var data = [xs].concat(spec.modes.map(function (m) {
      return idx.map(function (i) { var v = spec.values[m][i]; return v ? v[0] : null; });
    }));
    var tip = box.querySelector(".tip"), plotBox = box.querySelector(".plot");
    plotBox.innerHTML = "";
    var opts = {
      width: Math.max(480, plotBox.clientWidth || 900), height: 360,
      // The y range holds every CI, not only the levels, so no whisker is cut off.
      scales: {x: {time: by !== "factor"}, y: {range: function () { return yRange(spec); }}},
      axes: [
        by === "factor" ? {values: function (u, vals) {
          return vals.map(function (v) { var i = idx[xs.indexOf(v)]; return i == null ? "" : spec.sets[i].factor; });
        }, label: spec.orderedBy} : {},
        {label: spec.metric + " (" + spec.unit + ")", size: 60}
      ],
      series: [{label: by === "factor" ? spec.orderedBy : "time"}].concat(spec.modes.map(function (m, k) {
        return {label: m, stroke: COLORS[k % COLORS.length], width: 2, spanGaps: true,
                points: {show: true, size: 7, fill: COLORS[k % COLORS.length]}};
      })),
      cursor: {drag: {x: true, y: false}, focus: {prox: 16}},
      hooks: {
        draw: [function (u) { drawExtras(u, spec, idx, box); }],
        setCursor: [function (u) {
          var j = u.cursor.idx;
          if (j == null) { tip.style.display = "none"; return; }
          tip.innerHTML = tooltipHtml(spec, idx[j]);
          tip.style.display = "block";
          tip.style.left = Math.min(u.cursor.left + 70, u.over.clientWidth - 260) + "px";
          tip.style.top = (u.cursor.top + 10) + "px";
          box.dataset.hoverSet = spec.sets[idx[j]].name;
        }]
      }
    };
    var u = new uPlot(opts, data, plotBox);
    u.over.addEventListener("click", function () {
      if (u.select.width > 0) return;  // the end of a zoom drag, not a click
      var j = u.cursor.idx;
      if (j != null) window.location.href = spec.sets[idx[j]].href;
    });
    box.dataset.points = data.slice(1).reduce(function (n, ys) {
      return n + ys.filter(function (y) { return y != null; }).length;
    }, 0);
    box.dataset.changes = spec.changes.length;
    return u;
  }

  document.querySelectorAll(".chart").forEach(function (box) {
    var spec = JSON.parse(box.querySelector("script[type='application/json']").textContent);
    var entry = {box: box, spec: spec, plot: build(box, spec, "time")};
    window.historyCharts.push(entry);
    box.querySelectorAll("button[data-x]").forEach(function (b) {
      b.addEventListener("click", function () {
        entry.plot.destroy();
        entry.plot = build(box, spec, b.dataset.x);
        box.dataset.x = b.dataset.x;
      });
    });
  });
})();
