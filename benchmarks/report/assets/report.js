/* synrank suite report: inlined into report/index.html. Sortable tables and the per-query drill-down.
   Everything else on the page is plain HTML and reads without this script.
   State lives in the URL fragment, e.g. #sort=mean:desc&drill=modelA/modelB/dataset&only=drill&open=2
   (only: show one section; open: unfold the first N queries of the drill-down). */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);

  // ------------------------------------------------------------------ URL fragment state
  function readState() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      var key = i < 0 ? part : part.slice(0, i);
      out[decodeURIComponent(key)] = i < 0 ? "" : decodeURIComponent(part.slice(i + 1));
    });
    return out;
  }
  function writeState(changes) {
    var state = readState();
    Object.keys(changes).forEach(function (k) {
      if (changes[k] === null) delete state[k]; else state[k] = changes[k];
    });
    var frag = Object.keys(state).map(function (k) {
      return encodeURIComponent(k) + "=" + state[k].split("/").map(encodeURIComponent).join("/");
    }).join("&");
    history.replaceState(null, "", frag ? "#" + frag : location.pathname + location.search);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function fmt(x, digits) { return x === null || x === undefined ? "—" : x.toFixed(digits === undefined ? 4 : digits); }
  function prec(x) { return x === null || x === undefined ? "—" : x.toPrecision(3); }
  function signed(x) { return x === null || x === undefined ? "—" : (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(4); }

  // ------------------------------------------------------------------ sortable tables
  function sortKey(td, numeric) {
    var v = td.getAttribute("data-sort");
    if (v === null) v = td.textContent.trim();
    if (!numeric) return v.toLowerCase();
    var x = parseFloat(v);
    return isNaN(x) ? -Infinity : x;
  }
  function sortTable(table, col, dir) {
    var head = table.tHead.rows[0].cells;
    var numeric = head[col].classList.contains("num");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[col], numeric), y = sortKey(b.cells[col], numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (dir === "desc") c = -c;
      return c || (+a.getAttribute("data-i") - +b.getAttribute("data-i"));
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(head, function (th, i) {
      if (i === col) th.setAttribute("aria-sort", dir === "desc" ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }
  function initSortable(table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r, i) { r.setAttribute("data-i", i); });
    var head = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(head, function (th, col) {
      var button = el("button", { type: "button", title: "sort by this column" });
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var numeric = th.classList.contains("num");
        var current = th.getAttribute("aria-sort");
        var dir = current ? (current === "descending" ? "asc" : "desc") : (numeric ? "desc" : "asc");
        sortTable(table, col, dir);
        if (table.id === "board") writeState({ sort: (th.getAttribute("data-key") || col) + ":" + dir });
      });
    });
  }
  function applySortState() {
    var spec = readState().sort;
    var table = document.getElementById("board");
    if (!spec || !table) return;
    var parts = spec.split(":");
    var head = table.tHead.rows[0].cells;
    for (var i = 0; i < head.length; i++) {
      if ((head[i].getAttribute("data-key") || String(i)) === parts[0]) {
        sortTable(table, i, parts[1] === "asc" ? "asc" : "desc");
        return;
      }
    }
  }

  // ------------------------------------------------------------------ drill-down
  var app = document.getElementById("drill-app");
  var pairSel = document.getElementById("drill-pair");
  var dsSel = document.getElementById("drill-dataset");

  function gradeBadge(grade, threshold) {
    if (grade === null || grade === undefined) return el("span", { "class": "grade unjudged", title: "not judged", text: "n/j" });
    var cls = grade >= threshold ? "rel" : grade > 0 ? "weak" : "zero";
    return el("span", { "class": "grade " + cls, title: "relevance grade " + grade, text: "g" + grade });
  }
  function docList(title, items, ds) {
    var list = el("ol");
    items.forEach(function (item) {
      var text = ds.docs[item[0]];
      list.appendChild(el("li", {}, [gradeBadge(item[1], ds.threshold), el("code", { text: item[0] }),
        text ? " " + text : ""]));
    });
    if (!items.length) list.appendChild(el("li", { text: "(nothing retrieved)" }));
    return el("div", {}, [el("h4", { text: title }), list]);
  }

  function chart(deltas) {
    var n = deltas.length, w = 1000, h = 150, mid = h / 2;
    var max = Math.max.apply(null, deltas.map(Math.abs).concat([1e-9]));
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    var bw = w / Math.max(n, 1);
    deltas.forEach(function (d, i) {
      var r = document.createElementNS(ns, "rect");
      var bh = Math.abs(d) / max * (mid - 4);
      r.setAttribute("x", (i * bw).toFixed(2));
      r.setAttribute("width", Math.max(bw - (bw > 3 ? 1 : 0), 0.5).toFixed(2));
      r.setAttribute("y", (d >= 0 ? mid - bh : mid).toFixed(2));
      r.setAttribute("height", Math.max(bh, d === 0 ? 0 : 0.5).toFixed(2));
      r.setAttribute("fill", d > 0 ? "#0072B2" : "#D55E00");
      svg.appendChild(r);
    });
    var line = document.createElementNS(ns, "line");
    line.setAttribute("x1", 0); line.setAttribute("x2", w); line.setAttribute("y1", mid); line.setAttribute("y2", mid);
    line.setAttribute("stroke", "#333"); line.setAttribute("stroke-width", 1);
    svg.appendChild(line);
    var label = el("p", { "class": "note", text: "Per-query Δ sorted from largest gain (left, blue) to largest loss (right, vermillion); bar height scaled to max |Δ| = " + max.toFixed(4) + "." });
    return [svg, label];
  }

  function renderDrill() {
    var pair = DATA.pairs[+pairSel.value];
    var dsKey = dsSel.value;
    var ds = DATA.datasets[dsKey];
    var summary = document.getElementById("drill-summary");
    var notes = document.getElementById("drill-notes");
    var chartBox = document.getElementById("drill-chart");
    var tbody = document.querySelector("#drill-table tbody");
    [summary, notes, chartBox, tbody].forEach(function (n) { n.textContent = ""; });
    document.getElementById("drill-col-a").textContent = pair.a;
    document.getElementById("drill-col-b").textContent = pair.b;
    if (!ds || !ds.scores[pair.a] || !ds.scores[pair.b]) {
      summary.textContent = "No finished cells of both " + pair.a + " and " + pair.b + " on " + dsKey + ".";
      app.setAttribute("data-state", "empty");
      return;
    }
    var a = ds.scores[pair.a], b = ds.scores[pair.b];
    var rows = [];
    ds.ids.forEach(function (q, i) {
      if (a[i] === null || b[i] === null) return;
      rows.push({ i: i, q: q, a: a[i], b: b[i], d: Math.round((a[i] - b[i]) * 1e4) / 1e4 });
    });
    rows.sort(function (x, y) { return y.d - x.d || (x.q < y.q ? -1 : x.q > y.q ? 1 : 0); });
    var wins = rows.filter(function (r) { return r.d > 0; }).length;
    var losses = rows.filter(function (r) { return r.d < 0; }).length;
    var st = pair.stats[dsKey];
    summary.appendChild(el("strong", { text: pair.a + " − " + pair.b }));
    summary.appendChild(document.createTextNode(" on " + dsKey + " (" + DATA.measure + "): "));
    if (st) {
      summary.appendChild(el("span", { "class": st.diff > 0 ? "delta-pos" : st.diff < 0 ? "delta-neg" : "",
        text: "mean Δ " + signed(st.diff) + (st.mark || "") }));
      summary.appendChild(document.createTextNode(" (" + fmt(st.a) + " vs " + fmt(st.b) + "; p " + prec(st.p) +
        ", p_holm " + prec(st.p_holm) + (pair.kind === "baseline" ? ", row vs its baseline" : ", suite comparison") + "). "));
    }
    summary.appendChild(document.createTextNode(rows.length + " queries: " + wins + " better, " + losses + " worse, " +
      (rows.length - wins - losses) + " tied."));
    ds.notes.forEach(function (n) { notes.appendChild(el("li", { text: n })); });
    chart(rows.map(function (r) { return r.d; })).forEach(function (n) { chartBox.appendChild(n); });
    var open = +(readState().open || 0);
    rows.forEach(function (r, rank) {
      var text = ds.queries ? ds.queries[r.i] : "";
      var head = el("summary", {}, [el("code", { text: r.q }), text ? " " + text : ""]);
      var panels = [], key = String(r.i);
      if (ds.top[pair.a] && ds.top[pair.a][key]) panels.push(docList("top " + DATA.top_docs + " of " + pair.a, ds.top[pair.a][key], ds));
      if (ds.top[pair.b] && ds.top[pair.b][key]) panels.push(docList("top " + DATA.top_docs + " of " + pair.b, ds.top[pair.b][key], ds));
      if (ds.best[key]) panels.push(docList("best judged (up to " + DATA.judged_docs + ")", ds.best[key], ds));
      var cell = panels.length ? el("details", rank < open ? { open: "" } : {}, [head, el("div", { "class": "docs" }, panels)])
        : el("span", {}, [el("code", { text: r.q }), text ? " " + text : ""]);
      var tr = el("tr", { "data-qid": r.q, "data-delta": r.d }, [
        el("td", { "class": "num", text: String(rank + 1) }),
        el("td", { "class": "query" }, [cell]),
        el("td", { "class": "num", text: fmt(r.a) }),
        el("td", { "class": "num", text: fmt(r.b) }),
        el("td", { "class": "num " + (r.d > 0 ? "delta-pos" : r.d < 0 ? "delta-neg" : ""), text: signed(r.d) })]);
      tbody.appendChild(tr);
    });
    app.setAttribute("data-state", "ready");
  }

  function selectDrill(spec) {
    var parts = spec.split("/");
    if (parts.length < 3) return false;
    var ds = parts.pop(), b = parts.pop(), a = parts.join("/");
    for (var i = 0; i < DATA.pairs.length; i++) {
      if (DATA.pairs[i].a === a && DATA.pairs[i].b === b) {
        pairSel.value = String(i);
        if (DATA.datasets[ds]) dsSel.value = ds;
        return true;
      }
    }
    return false;
  }
  function onDrillChange() {
    var pair = DATA.pairs[+pairSel.value];
    writeState({ drill: pair.a + "/" + pair.b + "/" + dsSel.value });
    renderDrill();
  }

  function init() {
    document.querySelectorAll("table.sortable").forEach(initSortable);
    applySortState();
    var state = readState();
    if (app && DATA.pairs.length) {
      app.hidden = false;
      if (state.drill) selectDrill(state.drill);
      pairSel.addEventListener("change", onDrillChange);
      dsSel.addEventListener("change", onDrillChange);
      renderDrill();
    }
    if (state.only) {
      var section = document.getElementById(state.only);
      if (section) { section.classList.add("focus"); document.body.classList.add("only"); }
    }
    document.querySelectorAll("a[data-drill]").forEach(function (link) {
      link.addEventListener("click", function (ev) {
        if (selectDrill(link.getAttribute("data-drill"))) {
          ev.preventDefault();
          onDrillChange();
          document.getElementById("drill").scrollIntoView();
        }
      });
    });
    window.addEventListener("hashchange", function () {
      var spec = readState().drill;
      if (spec && selectDrill(spec)) renderDrill();
      applySortState();
    });
    document.documentElement.setAttribute("data-ready", "1");
  }
  init();
})();
