(function () {
  "use strict";
  var d = document;
  function all(root, sel) { return root ? Array.prototype.slice.call(root.querySelectorAll(sel)) : []; }
  function byId(id) { return d.getElementById(id); }

  var table = byId("findings-table");
  var rows = table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
  var rowById = {};
  rows.forEach(function (r) { rowById[r.id] = r; });

  var form = byId("filters"), sev = byId("f-sev"), kind = byId("f-kind"), owner = byId("f-owner");
  var chip = byId("f-node"), reset = byId("f-reset"), count = byId("f-count");
  var map = byId("map"), nodes = all(map, ".node"), edges = all(map, ".edges path");
  var neighbours = nodes.map(function () { return []; });
  edges.forEach(function (e) {
    var a = +e.getAttribute("data-a"), b = +e.getAttribute("data-b");
    if (neighbours[a] && neighbours[b]) { neighbours[a].push(b); neighbours[b].push(a); }
  });
  function sevOf(r) { return r.cells[1].textContent; }
  function kindOf(r) { return r.cells[2].firstChild.textContent; }
  var timeline = byId("timeline"), tip = byId("tip");
  var selected = null;
  if (form && rows.length) { form.hidden = false; }

  function optionText(s) { return s.options[s.selectedIndex].text.replace(/ \(\d+\)$/, ""); }

  function apply() {
    var s = sev ? sev.value : "", k = kind ? kind.value : "", o = owner ? owner.value : "";
    var n = selected ? " " + nodes.indexOf(selected) + " " : null;
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!s || sevOf(r) === s) &&
        (!k || kindOf(r) === k) &&
        (!o || r.cells[4].firstChild.textContent === o) &&
        (n === null || (" " + r.getAttribute("data-n") + " ").indexOf(n) >= 0);
      r.hidden = !ok;
      if (ok) { shown++; }
    });
    var why = [];
    if (s) { why.push("severity " + s); }
    if (k) { why.push("kind " + k); }
    if (o) { why.push("owner " + optionText(owner)); }
    if (selected) { why.push("map node " + selected.querySelector("text").textContent); }
    if (count) {
      count.textContent = why.length ?
        "Showing " + shown + " of " + rows.length + " findings (" + why.join(", ") + ")." :
        rows.length + " finding" + (rows.length === 1 ? "" : "s") + ", sorted by due date.";
    }
  }

  function select(node) {
    if (selected) {
      selected.classList.remove("sel");
      selected.setAttribute("aria-pressed", "false");
    }
    selected = node === selected ? null : node;
    nodes.forEach(function (x) { x.classList.remove("nbr"); });
    edges.forEach(function (e) { e.classList.remove("hi"); });
    if (map) { map.classList.toggle("filtering", !!selected); }
    if (selected) {
      var i = String(nodes.indexOf(selected));
      selected.classList.add("sel");
      selected.setAttribute("aria-pressed", "true");
      neighbours[+i].forEach(function (j) { nodes[j].classList.add("nbr"); });
      edges.forEach(function (e) {
        if (e.getAttribute("data-a") === i || e.getAttribute("data-b") === i) { e.classList.add("hi"); }
      });
      if (chip) {
        chip.textContent = "Map: " + selected.querySelector("text").textContent;
        chip.hidden = false;
      }
    } else if (chip) {
      chip.hidden = true;
    }
    apply();
  }

  // Nodes and marks do something only with the script, so the script makes
  // them focusable controls.
  var perNode = nodes.map(function () { return 0; });
  rows.forEach(function (r) {
    (r.getAttribute("data-n") || "").split(" ").forEach(function (i) { if (i !== "" && i < perNode.length) { perNode[+i]++; } });
  });
  nodes.forEach(function (node, i) {
    var texts = node.querySelectorAll("text"), sev = /sev-(\w+)/.exec(node.getAttribute("class"))[1];
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "button");
    node.setAttribute("aria-pressed", "false");
    node.setAttribute("aria-label", texts[0].textContent + " (" + node.getAttribute("data-k") + "), " + texts[1].textContent + ": " +
      (perNode[i] ? perNode[i] + " finding" + (perNode[i] === 1 ? "" : "s") + ", worst " + sev : "no findings"));
    node.addEventListener("click", function () { select(node); });
    node.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        select(node);
      }
    });
  });
  [sev, kind, owner].forEach(function (s) { if (s) { s.addEventListener("change", apply); } });
  if (reset) {
    reset.addEventListener("click", function () {
      [sev, kind, owner].forEach(function (s) { if (s) { s.value = ""; } });
      if (selected) { select(selected); } else { apply(); }
    });
  }

  function line(tag, text) {
    var e = d.createElement(tag);
    e.textContent = text;
    tip.appendChild(e);
  }

  // What a mark is about, in words: its row in the table.
  function describe(r) {
    var due = r.cells[0], dep = r.cells[3], small = due.querySelector("small");
    return {
      head: sevOf(r) + " · " + kindOf(r),
      dep: dep.firstChild.textContent,
      due: "Due " + due.firstChild.textContent + (small ? " (" + small.textContent + ")" : ""),
      action: r.cells[5].textContent,
      foot: r.id + " · " + (r.cells[4].firstChild.textContent === "no owner" ? "" : "owner ") + r.cells[4].firstChild.textContent
    };
  }

  function show(mark) {
    var r = rowById[mark.getAttribute("data-f")];
    if (!r || !tip) { return; }
    var w = describe(r);
    tip.textContent = "";
    line("b", w.head);
    line("div", w.dep);
    line("div", w.due);
    line("div", w.action);
    line("small", w.foot);
    tip.hidden = false;
    var b = mark.getBoundingClientRect(), sx = window.pageXOffset, sy = window.pageYOffset;
    var x = b.right + sx + 10, y = b.top + sy - 8;
    if (x + tip.offsetWidth > d.documentElement.clientWidth + sx - 8) { x = Math.max(sx + 4, b.left + sx - tip.offsetWidth - 10); }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
    mark.setAttribute("aria-describedby", "tip");
  }

  function hide(mark) {
    if (tip) { tip.hidden = true; }
    if (mark) { mark.removeAttribute("aria-describedby"); }
  }

  function reveal(mark) {
    var r = rowById[mark.getAttribute("data-f")];
    if (!r) { return; }
    if (r.hidden) {
      [sev, kind, owner].forEach(function (s) { if (s) { s.value = ""; } });
      if (selected) { select(selected); } else { apply(); }
    }
    hide(mark);
    rows.forEach(function (x) { x.classList.remove("flash"); });
    r.classList.add("flash");
    r.setAttribute("tabindex", "-1");
    r.scrollIntoView({ block: "center" });
    r.focus({ preventScroll: true });
  }

  function isMark(t) { return t && t.getAttribute && t.hasAttribute("data-f"); }
  // Each mark's accessible name, from its row (the markup stays small for
  // large tenants; without the script the table is the text alternative).
  all(timeline, "use[data-f]").forEach(function (m) {
    var r = rowById[m.getAttribute("data-f")];
    if (r) {
      var w = describe(r);
      m.setAttribute("tabindex", "0");
      m.setAttribute("role", "img");
      m.setAttribute("aria-label", w.dep + ": " + w.head + ", " + w.due);
    }
  });
  if (timeline) {
    timeline.addEventListener("mouseover", function (ev) { if (isMark(ev.target)) { show(ev.target); } });
    timeline.addEventListener("mouseout", function (ev) { if (isMark(ev.target)) { hide(ev.target); } });
    timeline.addEventListener("focusin", function (ev) { if (isMark(ev.target)) { show(ev.target); } });
    timeline.addEventListener("focusout", function (ev) { if (isMark(ev.target)) { hide(ev.target); } });
    timeline.addEventListener("click", function (ev) { if (isMark(ev.target)) { reveal(ev.target); } });
    timeline.addEventListener("keydown", function (ev) {
      if (isMark(ev.target) && (ev.key === "Enter" || ev.key === " ")) {
        ev.preventDefault();
        reveal(ev.target);
      }
    });
  }
  d.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { hide(null); } });
  apply();
}());
