// The interactive part of a raftsim report. It reads the timeline from the JSON block
// the page embeds and draws it on a canvas, so a run of 10,000 operations costs one pass
// over the visible bars per frame rather than 10,000 DOM nodes. Text from a history
// (keys, values, errors) only ever reaches the page through textContent or canvas text,
// never as markup: a value holding a script tag shows as its characters.
(function () {
  "use strict";
  var began = performance.now();
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var colours = data.colours;
  var LANE_H = 18, NODE_H = 18, FAULT_H = 14, AXIS_H = 24, LABEL_W = 92, GAP = 6;

  var canvas = document.getElementById("timeline");
  var ctx = canvas.getContext("2d");
  var tooltip = document.getElementById("tooltip");
  var details = document.getElementById("details");
  var rangeText = document.getElementById("range");
  var unit = data.unit;
  var view = { t0: data.start, t1: Math.max(data.start + 1, data.end) };
  var selected = null;       // {kind, index}
  var selection = null;      // message window being dragged with shift: [t0, t1]

  // --- rows -------------------------------------------------------------------------
  var laneOps = data.lanes.map(function () { return []; });
  data.ops.forEach(function (op, i) { laneOps[op[0]].push(i); });
  var stuck = {}, prefixPos = {};
  data.cex.forEach(function (c) {
    c.stuck.forEach(function (i) { stuck[i] = true; });
    c.prefix.forEach(function (i, k) { prefixPos[i] = [k + 1, c.prefix.length]; });
  });
  var whyOf = {}, causesOf = {};
  data.cex.forEach(function (c) { c.why.forEach(function (w) { (whyOf[w[0]] = whyOf[w[0]] || []).push(w); }); });
  data.causes.forEach(function (c, k) { if (c[3] >= 0) (causesOf[c[3]] = causesOf[c[3]] || []).push(k); });
  var faultRows = packFaults(data.faults);
  var rows = [];
  var y = AXIS_H;
  faultRows.forEach(function (row, r) { rows.push({ kind: "faults", y: y, h: FAULT_H, items: row, label: r === 0 ? "faults" : "" }); y += FAULT_H; });
  if (faultRows.length) y += GAP;
  var nodeRowsStart = y;
  data.nodes.forEach(function (node, n) { rows.push({ kind: "node", y: y, h: NODE_H, node: n, label: "node " + node }); y += NODE_H; });
  if (data.nodes.length) y += GAP;
  data.lanes.forEach(function (lane, l) { rows.push({ kind: "lane", y: y, h: LANE_H, lane: l, label: lane }); y += LANE_H; });
  var totalH = y + 8;
  var spansByNode = data.nodes.map(function () { return []; });
  data.spans.forEach(function (s, i) { spansByNode[s[0]].push(i); });
  // Marks on a node's lane (snapshots, membership, a corrupt disk), by node, in time order.
  var marksByNode = data.nodes.map(function () { return []; });
  data.marks.forEach(function (m, i) { marksByNode[m[0]].push(i); });

  function packFaults(faults) {
    var packed = [];
    faults.forEach(function (f, i) {
      for (var r = 0; r < packed.length; r++) {
        var last = faults[packed[r][packed[r].length - 1]];
        if (last[3] < f[2]) { packed[r].push(i); return; }
      }
      packed.push([i]);
    });
    return packed;
  }

  // --- time <-> pixels ----------------------------------------------------------------
  // The canvas's CSS width, read once per frame: clientWidth asks the layout engine, and
  // asking it for each of 10,000 bars cost more than drawing them.
  var canvasW = canvas.clientWidth;
  function width() { return canvasW - LABEL_W; }
  function xOf(t) { return LABEL_W + (t - view.t0) / (view.t1 - view.t0) * width(); }
  function tOf(x) { return view.t0 + (x - LABEL_W) / width() * (view.t1 - view.t0); }
  function fmt(t) {
    if (unit === "event") return "event " + Math.round(t);
    return (t / 1e6).toFixed(t !== 0 && view.t1 - view.t0 < 2e4 ? 6 : 3) + " s";
  }
  function endOf(op) { return op[2] < 0 ? data.end : op[2]; }

  function setView(t0, t1) {
    var span = Math.max(t1 - t0, unit === "event" ? 2 : 20);
    var full = Math.max(1, data.end - data.start);
    if (span > full * 1.05) { t0 = data.start; span = full; }
    view.t0 = t0; view.t1 = t0 + span;
    draw();
  }

  // --- drawing --------------------------------------------------------------------------
  function draw() {
    var ratio = window.devicePixelRatio || 1;
    canvasW = canvas.clientWidth;
    var w = canvasW;
    // Resizing a canvas reallocates it; do so only when the page's size changed.
    var pixelsW = Math.round(w * ratio), pixelsH = Math.round(totalH * ratio);
    if (canvas.width !== pixelsW || canvas.height !== pixelsH) {
      canvas.style.height = totalH + "px";
      canvas.width = pixelsW; canvas.height = pixelsH;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, totalH);
    ctx.font = "11px ui-monospace, monospace";
    ctx.textBaseline = "middle";
    drawPhases();
    rows.forEach(function (row, i) {
      if (i % 2 === 1 && row.kind === "lane") { ctx.fillStyle = "#fafbfc"; ctx.fillRect(LABEL_W, row.y, w - LABEL_W, row.h); }
      if (row.kind === "faults") drawFaultRow(row);
      else if (row.kind === "node") drawNodeRow(row);
      else drawLane(row);
    });
    drawMarkers();
    drawSelection();
    drawAxis();
    ctx.fillStyle = "#fff"; ctx.fillRect(0, AXIS_H, LABEL_W - 2, totalH - AXIS_H);
    ctx.fillStyle = "#333";
    rows.forEach(function (row) { if (row.label) ctx.fillText(row.label, 6, row.y + row.h / 2); });
    rangeText.textContent = fmt(view.t0) + " \u2013 " + fmt(view.t1);
  }

  function visible(a, b) { return b >= view.t0 && a <= view.t1; }
  function clampX(x) { return Math.max(LABEL_W, Math.min(canvasW, x)); }

  function bar(a, b, y, h, fill) {
    var x0 = clampX(xOf(a)), x1 = clampX(xOf(b));
    ctx.fillStyle = fill;
    ctx.fillRect(x0, y, Math.max(1, x1 - x0), h);
    return [x0, x1];
  }

  function label(text, x0, x1, y, colour) {
    if (x1 - x0 < 28) return;
    ctx.save();
    ctx.beginPath(); ctx.rect(x0 + 2, y - 8, x1 - x0 - 4, 16); ctx.clip();
    ctx.fillStyle = colour || "#111"; ctx.fillText(text, x0 + 3, y);
    ctx.restore();
  }

  function drawFaultRow(row) {
    row.items.forEach(function (i) {
      var f = data.faults[i];
      if (!visible(f[2], f[3])) return;
      var xs = bar(f[2], f[3], row.y + 1, row.h - 2, colours.faults[f[1]] || colours.faults.other);
      if (selected && selected.kind === "fault" && selected.index === i) outline(xs, row.y + 1, row.h - 2, "#000", 2);
      faultLabel(i, xs[0], xs[1], row.y + row.h / 2);
    });
  }

  // A fault's label in full when it fits, else its number (F3), which the list of faults
  // below the timeline and the hover both spell out: a label is cut, never dropped.
  function faultLabel(i, x0, x1, y) {
    var text = data.faults[i][4], tag = "F" + (i + 1), room = x1 - x0 - 6;
    var shown = ctx.measureText(text).width <= room ? text : ctx.measureText(tag + " " + data.faults[i][1]).width <= room
      ? tag + " " + data.faults[i][1] : ctx.measureText(tag).width <= room ? tag : null;
    if (shown === null) return;
    ctx.fillStyle = "#111"; ctx.fillText(shown, x0 + 3, y);
  }

  function drawNodeRow(row) {
    spansByNode[row.node].forEach(function (i) {
      var s = data.spans[i];
      if (!visible(s[4], s[5])) return;
      var state = data.states[s[1]];
      var xs = bar(s[4], s[5], row.y + 2, row.h - 4, colours.states[state]);
      if (state === "leader") label("leader t" + s[2], xs[0], xs[1], row.y + row.h / 2, "#fff");
      else if (state === "crashed" || state === "paused") label(state, xs[0], xs[1], row.y + row.h / 2, "#fff");
      else if (state === "corrupt") label("corrupt disk", xs[0], xs[1], row.y + row.h / 2, "#fff");
      else if (state === "removed") label("removed", xs[0], xs[1], row.y + row.h / 2, "#607d8b");
    });
    drawMarks(row);
    var node = data.nodes[row.node];
    ctx.fillStyle = "#000";
    data.elections.forEach(function (e) {
      if (e[1] !== node || e[0] < view.t0 || e[0] > view.t1) return;
      var x = xOf(e[0]);
      ctx.beginPath(); ctx.moveTo(x, row.y); ctx.lineTo(x + 5, row.y + row.h / 2); ctx.lineTo(x, row.y + row.h); ctx.closePath(); ctx.fill();
    });
  }

  // A snapshot taken is a faint tick at the lane's top (there can be hundreds); the rare
  // events are glyphs over the lane's middle: an install a filled diamond, a restart from
  // a snapshot a hollow one, a membership change a square, a member joining + or leaving
  // -, a corrupt disk a cross, another disk fault (torn, repaired, full) a triangle. Ticks first, so a glyph is never hidden under them.
  function drawMarks(row) {
    var ids = marksByNode[row.node], mid = row.y + row.h / 2, k, m;
    ctx.globalAlpha = 0.55; ctx.fillStyle = colours.marks.snapshot;
    for (k = 0; k < ids.length; k++) {
      m = data.marks[ids[k]];
      if (data.markKinds[m[2]] !== "snapshot" || m[1] < view.t0 || m[1] > view.t1) continue;
      ctx.fillRect(Math.round(xOf(m[1])), row.y + 1, 1, 5);
    }
    ctx.globalAlpha = 1;
    // Shapes, then the glyphs of members joining and leaving and of a corrupt disk, which
    // come with a membership change at nearly the same moment and must stay on top.
    for (var pass = 0; pass < 2; pass++) drawMarkPass(ids, mid, pass);
  }

  function drawMarkPass(ids, mid, pass) {
    for (var k = 0; k < ids.length; k++) {
      var m = data.marks[ids[k]], x;
      var kind = data.markKinds[m[2]];
      var glyph = kind === "member-added" || kind === "member-removed" || kind === "corrupt";
      if (kind === "snapshot" || glyph !== (pass === 1) || m[1] < view.t0 || m[1] > view.t1) continue;
      x = xOf(m[1]);
      var colour = colours.marks[kind];
      ctx.fillStyle = colour; ctx.strokeStyle = colour; ctx.lineWidth = 1.5;
      if (kind === "snapshot-install" || kind === "restart-snapshot") {
        ctx.beginPath(); ctx.moveTo(x, mid - 5); ctx.lineTo(x + 4, mid); ctx.lineTo(x, mid + 5); ctx.lineTo(x - 4, mid); ctx.closePath();
        if (kind === "snapshot-install") ctx.fill(); else { ctx.fillStyle = "#fff"; ctx.fill(); ctx.stroke(); }
      } else if (kind === "disk") {
        ctx.beginPath(); ctx.moveTo(x, mid - 5); ctx.lineTo(x + 4, mid + 3); ctx.lineTo(x - 4, mid + 3); ctx.closePath();
        ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
      } else if (kind === "conf-apply") {
        ctx.fillRect(x - 3, mid - 3, 6, 6);
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.strokeRect(x - 3.5, mid - 3.5, 7, 7);
      } else {
        ctx.font = "bold 13px ui-monospace, monospace"; ctx.textAlign = "center";
        var text = kind === "member-added" ? "+" : kind === "member-removed" ? "\u2212" : "\u2716";
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 3; ctx.strokeText(text, x, mid); ctx.fillText(text, x, mid);
        ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "start";
      }
    }
  }

  // The mark nearest x on a node's lane within a few pixels; a glyph before a faint tick.
  function markAt(n, x) {
    var ids = marksByNode[n], best = null, bestD = 5;
    for (var k = 0; k < ids.length; k++) {
      var m = data.marks[ids[k]], d = Math.abs(xOf(m[1]) - x);
      if (data.markKinds[m[2]] === "snapshot") d += 2;
      if (d < bestD) { best = ids[k]; bestD = d; }
    }
    return best;
  }

  function drawLane(row) {
    // Bars are batched into one path per outcome and filled once: at 10,000 operations the
    // cost of a frame is the number of fillStyle changes, not the rectangles. Bars that
    // start on the pixel column where the previous bar of a lane ended add nothing seen.
    var ids = laneOps[row.lane];
    var mid = row.y + row.h / 2, y = row.y + 3, h = row.h - 6;
    var rects = data.outcomes.map(function () { return []; });
    var lastX = data.outcomes.map(function () { return -1; });
    var marked = [];
    for (var k = 0; k < ids.length; k++) {
      var i = ids[k], op = data.ops[i], end = endOf(op);
      if (!visible(op[1], end)) continue;
      var x0 = clampX(xOf(op[1])), x1 = clampX(xOf(end)), o = op[3];
      if (x1 < lastX[o]) continue;  // wholly inside pixels this outcome already covers
      lastX[o] = Math.max(x1, x0 + 1);
      rects[o].push(x0, Math.max(1, x1 - x0));
      if (stuck[i] || prefixPos[i] || x1 - x0 >= 28 || (selected && selected.kind === "op" && selected.index === i)) {
        marked.push([i, x0, x1]);
      }
    }
    rects.forEach(function (list, o) {
      ctx.fillStyle = colours.outcomes[data.outcomes[o]];
      for (var r = 0; r < list.length; r += 2) ctx.fillRect(list[r], y, list[r + 1], h);
    });
    marked.forEach(function (m) {
      var i = m[0], xs = [m[1], m[2]], op = data.ops[i];
      if (stuck[i]) outline(xs, row.y + 1, row.h - 2, colours.counterexample, 2.5);
      else if (prefixPos[i] && xs[1] - xs[0] >= 8) outline(xs, y, h, colours.prefix, 1);
      if (selected && selected.kind === "op" && selected.index === i) outline(xs, row.y + 1, row.h - 2, "#000", 2);
      label(prefixPos[i] ? "#" + prefixPos[i][0] + " " + op[4] : op[4], xs[0], xs[1], mid, "#111");
    });
  }

  function outline(xs, y, h, colour, lineWidth) {
    ctx.strokeStyle = colour; ctx.lineWidth = lineWidth;
    ctx.strokeRect(xs[0], y, Math.max(2, xs[1] - xs[0]), h);
  }

  function drawPhases() {
    ctx.strokeStyle = "#9aa5b1"; ctx.lineWidth = 1; ctx.setLineDash([4, 4]);
    data.phases.forEach(function (p) {
      if (p[1] <= view.t0 || p[1] > view.t1) return;
      var x = Math.round(xOf(p[1])) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H); ctx.lineTo(x, totalH); ctx.stroke();
    });
    ctx.setLineDash([]);
  }

  // Each cause is a line across the rows with its number; an effect placed elsewhere
  // (a checker that does not yet say which operation caused it) is a short tick.
  function drawMarkers() {
    ctx.strokeStyle = colours.counterexample; ctx.lineWidth = 1;
    data.markers.forEach(function (m) {
      if (m[0] < view.t0 || m[0] > view.t1) return;
      var cause = m[4] >= 0 ? data.causes[m[4]] : null;
      if (cause && cause[0] === m[0]) return;
      var x = Math.round(xOf(m[0])) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H); ctx.lineTo(x, AXIS_H + 10); ctx.stroke();
    });
    ctx.lineWidth = 1.5;
    var lastNumber = -Infinity;
    data.causes.forEach(function (c, k) {
      if (c[0] < view.t0 || c[0] > view.t1) return;
      var x = xOf(c[0]);
      ctx.strokeStyle = colours.counterexample;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H); ctx.lineTo(x, totalH); ctx.stroke();
      ctx.fillStyle = colours.counterexample;
      ctx.beginPath(); ctx.moveTo(x - 5, AXIS_H); ctx.lineTo(x + 5, AXIS_H); ctx.lineTo(x, AXIS_H + 7); ctx.closePath(); ctx.fill();
      if (x - lastNumber > 22) {
        // On a white tag, so that a number over a fault's label stays readable.
        var number = String(k + 1), w = ctx.measureText(number).width + 4;
        ctx.fillStyle = "#fff"; ctx.fillRect(x + 5, AXIS_H + 1, w, 11);
        ctx.fillStyle = colours.counterexample; ctx.fillText(number, x + 7, AXIS_H + 6.5);
        lastNumber = x + w;
      }
    });
  }

  function drawSelection() {
    var w = messageWindow;
    if (selection) w = selection;
    if (!w) return;
    var x0 = clampX(xOf(Math.min(w[0], w[1]))), x1 = clampX(xOf(Math.max(w[0], w[1])));
    ctx.fillStyle = "rgba(11, 87, 208, 0.08)";
    ctx.fillRect(x0, AXIS_H, Math.max(1, x1 - x0), totalH - AXIS_H);
  }

  function drawAxis() {
    var w = canvasW;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, AXIS_H);
    ctx.strokeStyle = "#c0c8d0"; ctx.beginPath(); ctx.moveTo(LABEL_W, AXIS_H - 0.5); ctx.lineTo(w, AXIS_H - 0.5); ctx.stroke();
    var span = view.t1 - view.t0, target = span / Math.max(2, width() / 110);
    var step = Math.pow(10, Math.floor(Math.log10(target)));
    if (target / step > 5) step *= 5; else if (target / step > 2) step *= 2;
    if (unit === "event") step = Math.max(1, Math.round(step));
    ctx.fillStyle = "#333";
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H - 6); ctx.lineTo(x, AXIS_H); ctx.stroke();
      ctx.fillText(unit === "event" ? String(Math.round(t)) : trimNumber(t / 1e6) + " s", x + 2, 9);
    }
  }
  function trimNumber(v) { return String(Math.round(v * 1e6) / 1e6); }

  // --- what is under the pointer -----------------------------------------------------
  function hit(x, yy) {
    if (x < LABEL_W) return null;
    var t = tOf(x), slack = (view.t1 - view.t0) / width() * 3;
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r];
      if (yy < row.y || yy >= row.y + row.h) continue;
      if (row.kind === "lane") {
        var ids = laneOps[row.lane], best = null;
        for (var k = 0; k < ids.length; k++) {
          var op = data.ops[ids[k]];
          if (op[1] - slack <= t && t <= endOf(op) + slack) { best = ids[k]; if (op[1] <= t && t <= endOf(op)) break; }
        }
        return best === null ? null : { kind: "op", index: best };
      }
      if (row.kind === "faults") {
        for (var f = 0; f < row.items.length; f++) {
          var fault = data.faults[row.items[f]];
          if (fault[2] - slack <= t && t <= fault[3] + slack) return { kind: "fault", index: row.items[f] };
        }
        return null;
      }
      var mark = markAt(row.node, x);
      if (mark !== null) return { kind: "mark", index: mark };
      var list = spansByNode[row.node];
      for (var s = 0; s < list.length; s++) {
        var span = data.spans[list[s]];
        if (span[4] <= t && t <= span[5]) return { kind: "span", index: list[s] };
      }
      return null;
    }
    return null;
  }

  function recordOf(item) {
    if (item.kind === "op") {
      var op = data.ops[item.index], pairs = [];
      for (var k = 0; k < op[5].length; k += 2) pairs.push([op[5][k], op[5][k + 1]]);
      if (stuck[item.index]) pairs.push(["counterexample", "cannot be linearized after the prefix"]);
      (whyOf[item.index] || []).forEach(function (w) {
        if (w[1]) pairs.push(["why", w[1]]);
        w[3].forEach(function (line, k) {
          var by = k < w[2].length ? data.ops[w[2][k]] : null;
          pairs.push([k ? "" : "ruled out by", "line " + line + (by ? ": " + by[4] : "")]);
        });
      });
      (causesOf[item.index] || []).forEach(function (k) { pairs.push(["cause " + (k + 1), data.causes[k][2]]); });
      if (prefixPos[item.index]) pairs.push(["linearized", "#" + prefixPos[item.index][0] + " of " + prefixPos[item.index][1] + " in the longest prefix"]);
      return { title: op[4], pairs: pairs };
    }
    if (item.kind === "fault") {
      var f = data.faults[item.index], fp = [];
      for (var j = 0; j < f[6].length; j += 2) fp.push([f[6][j], f[6][j + 1]]);
      return { title: "F" + (item.index + 1) + " " + f[4], pairs: fp };
    }
    if (item.kind === "mark") {
      var mk = data.marks[item.index], mp = [];
      for (var q = 0; q < mk[4].length; q += 2) mp.push([mk[4][q], mk[4][q + 1]]);
      return { title: mk[3], pairs: mp };
    }
    var s = data.spans[item.index];
    return { title: "node " + data.nodes[s[0]] + ": " + data.states[s[1]], pairs: [
      ["term", String(s[2])], ["leader known", s[3] ? String(s[3]) : "none"], ["from", fmt(s[4])], ["to", fmt(s[5])]] };
  }

  function showDetails(item) {
    details.textContent = "";
    if (!item) { details.appendChild(note("Click an operation, a node state, a mark on a node's lane or a fault to see its full record.")); return; }
    var rec = recordOf(item);
    var h = document.createElement("h3"); h.textContent = rec.title; h.style.margin = "0 0 4px"; h.style.fontSize = "14px";
    details.appendChild(h);
    details.appendChild(table(rec.pairs));
  }

  function table(pairs) {
    var t = document.createElement("table");
    pairs.forEach(function (p) {
      var tr = t.insertRow();
      tr.insertCell().textContent = p[0];
      tr.insertCell().textContent = p[1];
    });
    return t;
  }
  function note(text) { var p = document.createElement("p"); p.className = "note"; p.textContent = text; return p; }

  // --- interaction ----------------------------------------------------------------------
  var drag = null;
  canvas.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect(), x = e.clientX - r.left, yy = e.clientY - r.top;
    if (drag) {
      if (drag.select) { selection = [drag.t, tOf(x)]; draw(); return; }
      var dt = (drag.x - x) / width() * (drag.t1 - drag.t0);
      setView(drag.t0 + dt, drag.t1 + dt); return;
    }
    var item = hit(x, yy);
    if (!item) { tooltip.style.display = "none"; return; }
    var rec = recordOf(item);
    tooltip.textContent = rec.title + "\n" + rec.pairs.slice(0, 8).map(function (p) { return p[0] + ": " + p[1]; }).join("\n");
    tooltip.style.display = "block";
    tooltip.style.left = Math.min(e.clientX + 14, window.innerWidth - 490) + "px";
    tooltip.style.top = (e.clientY + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tooltip.style.display = "none"; });
  canvas.addEventListener("mousedown", function (e) {
    var r = canvas.getBoundingClientRect(), x = e.clientX - r.left;
    drag = { x: x, t0: view.t0, t1: view.t1, t: tOf(x), select: e.shiftKey, moved: false };
  });
  window.addEventListener("mouseup", function (e) {
    if (!drag) return;
    var r = canvas.getBoundingClientRect(), x = e.clientX - r.left, yy = e.clientY - r.top;
    if (drag.select && selection) {
      var a = Math.min(selection[0], selection[1]), b = Math.max(selection[0], selection[1]);
      selection = null; drag = null;
      if (b > a) showMessages(a, b);
      return;
    }
    if (Math.abs(x - drag.x) < 3) { selected = hit(x, yy); showDetails(selected); draw(); }
    drag = null;
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = canvas.getBoundingClientRect(), t = tOf(e.clientX - r.left);
    var factor = Math.exp(e.deltaY * 0.0015);
    setView(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
  }, { passive: false });
  canvas.addEventListener("dblclick", function () { setView(data.start, data.end); });
  window.addEventListener("resize", draw);
  window.addEventListener("keydown", function (e) {
    if (e.target && /INPUT|TEXTAREA/.test(e.target.tagName)) return;
    var span = view.t1 - view.t0;
    if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "ArrowLeft") setView(view.t0 - span * 0.2, view.t1 - span * 0.2);
    else if (e.key === "ArrowRight") setView(view.t0 + span * 0.2, view.t1 + span * 0.2);
    else if (e.key === "0") setView(data.start, data.end);
  });
  function zoom(factor) {
    var mid = (view.t0 + view.t1) / 2, half = (view.t1 - view.t0) / 2 * factor;
    setView(mid - half, mid + half);
  }
  function on(id, fn) { var el = document.getElementById(id); if (el) el.addEventListener("click", fn); }
  on("zoom-in", function () { zoom(0.5); });
  on("zoom-out", function () { zoom(2); });
  on("zoom-fit", function () { setView(data.start, data.end); });
  on("jump-anomaly", function () { jumpToAnomaly(); });
  on("messages-visible", function () { showMessages(view.t0, view.t1); });

  function jumpTo(ids) {
    var a = Infinity, b = -Infinity;
    ids.forEach(function (i) { var op = data.ops[i]; a = Math.min(a, op[1]); b = Math.max(b, endOf(op)); });
    if (!isFinite(a)) return;
    var pad = Math.max((b - a) * 0.6, unit === "event" ? 4 : 2000);
    setView(a - pad, b + pad);
    selected = { kind: "op", index: ids[0] }; showDetails(selected); draw();
    canvas.scrollIntoView({ block: "nearest" });
  }
  function jumpToAnomaly() {
    if (data.cex.length && data.cex[0].stuck.length) {
      var c = data.cex[0], ids = c.stuck.slice();
      if (c.prefix.length) ids.push(c.prefix[c.prefix.length - 1]);
      jumpTo(ids); return;
    }
    if (data.causes.length && data.causes[0][3] >= 0) { jumpTo([data.causes[0][3]]); return; }
    var first = data.causes.length ? data.causes[0][0] : data.markers.length ? data.markers[0][0] : null;
    if (first !== null) {
      var pad = unit === "event" ? 10 : 200000;
      setView(first - pad, first + pad);
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-ops]"), function (el) {
    el.addEventListener("click", function (e) {
      e.preventDefault();
      jumpTo(el.getAttribute("data-ops").split(" ").filter(Boolean).map(Number));
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-time]"), function (el) {
    el.addEventListener("click", function (e) {
      e.preventDefault();
      var t = Number(el.getAttribute("data-time")), pad = unit === "event" ? 10 : 200000;
      setView(t - pad, t + pad);
      canvas.scrollIntoView({ block: "nearest" });
    });
  });

  // --- message sequence diagram ------------------------------------------------------
  var messageWindow = null;
  var SVG = "http://www.w3.org/2000/svg";
  var MAX_DRAWN = 600;
  function svgEl(name, attrs, parent) {
    var el = document.createElementNS(SVG, name);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(el);
    return el;
  }
  var xNodeIndex = {};
  data.nodes.forEach(function (node, n) { xNodeIndex[node] = n; });
  function servingNode(op) {
    for (var k = 0; k < op[5].length; k += 2) if (op[5][k] === "node") return Number(op[5][k + 1]);
    return null;
  }
  function showMessages(a, b) {
    var box = document.getElementById("messages");
    var caption = document.getElementById("messages-window");
    if (!box || !caption) return;
    messageWindow = [a, b];
    draw();
    box.textContent = "";
    caption.textContent = fmt(a) + " \u2013 " + fmt(b);
    if (!data.nodes.length) { box.appendChild(note("This history has no nodes: there are no messages to draw.")); return; }
    if (!data.messagesTraced) { box.appendChild(note("The trace holds no messages. " + data.messagesHint)); return; }
    var list = data.messages.filter(function (m) { var end = m[6] >= 0 ? m[6] : m[5]; return end >= a && m[5] <= b; });
    if (!list.length) {
      box.appendChild(note(data.messages.length ? "No traced message in this window. The report keeps the messages nearest the first anomaly; pick a window there, or re-render with --window." : "No message was traced."));
      return;
    }
    var inWindow = list.length, cut = inWindow > MAX_DRAWN;
    if (cut) list = list.slice(0, MAX_DRAWN);
    // One row per event (a send, a receipt, an election) in time order, as Lamport drew
    // them: messages sent in the same microsecond would otherwise pile into one line.
    var events = [];
    list.forEach(function (m, k) {
      events.push([m[5], 0, k]);
      if (m[6] >= 0) events.push([m[6], 1, k]);
    });
    data.elections.forEach(function (e, k) { if (e[0] >= a && e[0] <= b) events.push([e[0], 2, k]); });
    // Client operations answered by a node in the window, at the moment of the answer:
    // what the node said, next to the messages it had (or had not) exchanged by then.
    var served = [];
    data.ops.forEach(function (op, i) {
      if (op[2] < a || op[2] > b) return;
      var node = servingNode(op);
      if (node !== null && xNodeIndex[node] !== undefined) { served.push([i, node]); events.push([op[2], 3, served.length - 1]); }
    });
    events.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1] || p[2] - q[2]; });
    // Layout: times on the left, one column per node, and every label in a gutter on the
    // right, one per row, so that no text ever sits on an arrow. The columns share the
    // width the page gives; the node names stay pinned above while the rows scroll.
    var ROW = 16, left = 88, top = 8;
    var avail = Math.max(600, box.clientWidth - 40);
    var gutter = Math.max(260, Math.min(560, Math.round(avail * 0.4)));
    var colW = Math.max(70, Math.floor((avail - left - gutter) / Math.max(1, data.nodes.length)));
    var gutterX = left + colW * data.nodes.length + 12;
    var rowOf = { 0: {}, 1: {}, 2: {}, 3: {} };
    events.forEach(function (ev, r) { rowOf[ev[1]][ev[2]] = r; });
    var h = top + events.length * ROW + 12;
    var w = gutterX + gutter;
    var yOfRow = function (r) { return top + r * ROW + ROW / 2; };
    var svg = svgEl("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img" });
    var defs = svgEl("defs", {}, svg);
    var marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" }, defs);
    svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#37474f" }, marker);
    for (var stripe = 1; stripe < events.length; stripe += 2) {
      svgEl("rect", { x: 0, y: top + stripe * ROW, width: w, height: ROW, fill: "#f5f7f9" }, svg);
    }
    var xNode = {};
    data.nodes.forEach(function (node, n) {
      var x = left + colW * n + colW / 2;
      xNode[node] = x;
      svgEl("line", { x1: x, y1: 0, x2: x, y2: h - 4, stroke: "#90a4ae", "stroke-width": 1 }, svg);
    });
    function gutterText(r, text, colour, bold, tip) {
      var g = svgEl("g", {}, svg);
      if (tip) svgEl("title", {}, g).textContent = tip;
      svgEl("text", { x: gutterX, y: yOfRow(r) + 4, fill: colour, "font-weight": bold ? "bold" : "normal" }, g).textContent = text;
      return g;
    }
    var lastLabel = -Infinity;
    events.forEach(function (ev, r) {
      if (r - lastLabel < 4) return;
      lastLabel = r;
      svgEl("text", { x: 4, y: yOfRow(r) + 4, fill: "#78909c" }, svg).textContent = fmt(ev[0]);
    });
    data.elections.forEach(function (e, k) {
      var r = rowOf[2][k];
      if (r === undefined || xNode[e[1]] === undefined) return;
      var x = xNode[e[1]], yy = yOfRow(r);
      svgEl("rect", { x: x - 5, y: yy - 5, width: 10, height: 10, fill: colours.states.leader }, svg);
      gutterText(r, "node " + e[1] + " becomes leader of term " + e[2], colours.states.leader, true);
    });
    served.forEach(function (pair, k) {
      var op = data.ops[pair[0]], x = xNode[pair[1]], r = rowOf[3][k], yy = yOfRow(r);
      var strong = stuck[pair[0]], colour = strong ? colours.counterexample : colours.outcomes[data.outcomes[op[3]]];
      var tip = data.lanes[op[0]] + ": " + op[4] + "\nanswered " + fmt(op[2]) + " by node " + pair[1];
      var g = svgEl("g", {}, svg);
      svgEl("title", {}, g).textContent = tip;
      svgEl("circle", { cx: x, cy: yy, r: strong ? 6 : 4, fill: colour, stroke: strong ? "#000" : "none" }, g);
      gutterText(r, "node " + pair[1] + " answers " + data.lanes[op[0]] + ": " + op[4],
                 strong ? colours.counterexample : "#546e7a", strong, tip);
    });
    list.forEach(function (m, k) {
      var x1 = xNode[m[1]], x2 = xNode[m[2]];
      if (x1 === undefined || x2 === undefined) return;
      var r1 = rowOf[0][k], y1 = yOfRow(r1);
      var g = svgEl("g", {}, svg);
      var tip = "#" + m[0] + " node " + m[1] + " \u2192 node " + m[2] + ": " + m[8] + "\nsent " + fmt(m[5]) + (m[6] >= 0 ? "\nreceived " + fmt(m[6]) : "\n" + (m[7] ? "dropped: " + m[7] : "still in flight at the end"));
      svgEl("title", {}, g).textContent = tip;
      var colour = colours.messages[m[3]] || "#37474f";
      svgEl("circle", { cx: x1, cy: y1, r: 2, fill: colour }, g);
      if (m[6] >= 0) {
        svgEl("line", { x1: x1, y1: y1, x2: x2, y2: yOfRow(rowOf[1][k]), stroke: colour, "stroke-width": 1.3, "marker-end": "url(#arrow)" }, g);
      } else {
        var xm = x1 + (x2 - x1) * 0.4;
        svgEl("line", { x1: x1, y1: y1, x2: xm, y2: y1 + ROW, stroke: "#c62828", "stroke-width": 1.3, "stroke-dasharray": "3 2" }, g);
        svgEl("text", { x: xm - 4, y: y1 + ROW + 4, fill: "#c62828" }, g).textContent = "\u00d7";
      }
      var fate = m[6] >= 0 ? "" : m[7] ? "  \u00d7 dropped: " + m[7] : "  (in flight at the end)";
      gutterText(r1, m[1] + " \u2192 " + m[2] + "  " + m[8] + fate, m[6] >= 0 ? colour : "#c62828", false, tip);
    });
    var wrap = document.createElement("div"); wrap.id = "messages-wrap";
    var head = document.createElement("div"); head.className = "lamport-head";
    head.style.width = w + "px";
    var heads = data.nodes.map(function (node, n) {
      var cell = document.createElement("div");
      cell.className = "lamport-node";
      cell.style.left = (left + colW * n) + "px"; cell.style.width = colW + "px";
      head.appendChild(cell);
      return cell;
    });
    var headNote = document.createElement("div");
    headNote.className = "lamport-node note"; headNote.style.left = gutterX + "px"; headNote.style.width = (gutter - 8) + "px";
    headNote.style.textAlign = "left";
    head.appendChild(headNote);
    // The header names each node with its role and term at the topmost row in view.
    function updateHead() {
      var r = Math.max(0, Math.min(events.length - 1, Math.floor((wrap.scrollTop - top) / ROW)));
      var t = events.length ? events[r][0] : a;
      data.nodes.forEach(function (node, n) {
        var s = stateAt(n, t);
        heads[n].textContent = "node " + node + "\n" + (s ? data.states[s[1]] + " t" + s[2] : "");
        heads[n].style.color = s && data.states[s[1]] === "leader" ? colours.states.leader : "";
      });
      headNote.textContent = "at " + fmt(t);
    }
    wrap.appendChild(head);
    wrap.appendChild(svg);
    if (cut) box.appendChild(note("Showing the first " + MAX_DRAWN + " of the " + inWindow + " messages in this window; shift-drag a narrower window on the timeline."));
    box.appendChild(wrap);
    wrap.addEventListener("scroll", updateHead);
    var firstStuck = served.findIndex(function (pair) { return stuck[pair[0]]; });
    if (firstStuck >= 0) wrap.scrollTop = Math.max(0, yOfRow(rowOf[3][firstStuck]) - 240);
    updateHead();
  }
  function stateAt(n, t) {
    var list = spansByNode[n];
    for (var k = 0; k < list.length; k++) {
      var span = data.spans[list[k]];
      if (span[4] <= t && t < span[5]) return span;
    }
    // Before its first span the node had not joined yet: no state to name.
    if (!list.length || t < data.spans[list[0]][4]) return null;
    return data.spans[list[list.length - 1]];
  }

  // --- start ----------------------------------------------------------------------------
  showDetails(null);
  draw();
  if (data.focus) showMessages(data.focus[0], data.focus[1]);
  else showMessages(0, Math.min(data.end, unit === "event" ? data.end : 300000));
  // How long the page took to come up, and one full redraw (what every zoom or pan step
  // costs): read by benchmarks/report_size.py, shown to nobody.
  var ready = performance.now(), redraws = [];
  canvas.getBoundingClientRect();  // settle layout first: a redraw during a zoom finds it settled
  for (var n = 0; n < 5; n++) { var t0 = performance.now(); draw(); redraws.push(performance.now() - t0); }
  redraws.sort(function (p, q) { return p - q; });
  document.body.setAttribute("data-load-ms", (ready - began).toFixed(1));
  document.body.setAttribute("data-draw-ms", redraws[2].toFixed(1));
  document.body.setAttribute("data-rendered", "true");
})();
