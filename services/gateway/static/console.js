// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  // Changing the language select submits its form (the button stays for keyboards and no-JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // Age of each case, refreshed every 30 s (a placeholder for SLA countdowns).
  function ages() {
    document.querySelectorAll(".age[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (isNaN(since)) { return; }
      var minutes = Math.max(0, Math.floor((Date.now() - since) / 60000));
      el.textContent = minutes < 60 ? minutes + "m" : Math.floor(minutes / 60) + "h" + (minutes % 60) + "m";
    });
  }
  ages();
  setInterval(ages, 30000);
  // SLA countdowns: time left to the deadline in data-deadline, "breached" past it.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function countdowns() {
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(due)) { return; }
      var left = Math.floor((due - Date.now()) / 1000);
      if (left <= 0) {
        el.textContent = el.getAttribute("data-breached");
        el.classList.add("breached");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (h ? h + ":" : "") + pad(m) + ":" + pad(s);
      el.classList.toggle("at-risk", left < 900);
    });
  }
  countdowns();
  setInterval(countdowns, 1000);
  window.ticks = function () { ages(); countdowns(); };
});

// The queue: select all, bulk fields per action, live updates, keyboard shortcuts.
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("queue");
  if (!table) { return; }
  var selectAll = document.getElementById("select-all");
  function boxes() { return Array.prototype.slice.call(table.querySelectorAll("tbody input[name=case_id]")); }
  selectAll.addEventListener("change", function () {
    boxes().forEach(function (b) { b.checked = selectAll.checked; });
  });
  // only the fields of the chosen bulk action are shown (all of them without JavaScript)
  var action = document.getElementById("bulk-action");
  function bulkFields() {
    document.querySelectorAll(".bulk-assign").forEach(function (el) { el.hidden = action.value !== "assign"; });
    document.querySelectorAll(".bulk-resolve").forEach(function (el) { el.hidden = action.value !== "resolve"; });
  }
  action.addEventListener("change", bulkFields);
  bulkFields();

  // live updates: poll the same view's rows; mark new and breaching cases, keep the selection
  var known = {};
  function ids() { return Array.prototype.map.call(table.querySelectorAll("tbody tr[data-case]"), function (r) { return r.getAttribute("data-case"); }); }
  ids().forEach(function (id) { known[id] = true; });
  var news = document.getElementById("queue-news");
  var lastRows = null;  // the rows' HTML of the last answer: unchanged rows are left alone
  function refresh() {
    var request = new XMLHttpRequest();
    request.open("GET", table.getAttribute("data-live"));
    request.onload = function () {
      if (request.status !== 200) { return; }
      var fresh = new DOMParser().parseFromString(request.responseText, "text/html");
      var rows = fresh.getElementById("queue-rows");
      if (!rows || rows.innerHTML === lastRows) { return; }
      lastRows = rows.innerHTML;
      var checked = {};
      boxes().forEach(function (b) { if (b.checked) { checked[b.value] = true; } });
      var added = 0;
      rows.querySelectorAll("tr[data-case]").forEach(function (row) {
        var id = row.getAttribute("data-case");
        if (!known[id]) { row.classList.add("is-new"); known[id] = true; added += 1; }
      });
      table.querySelector("tbody").innerHTML = rows.innerHTML;
      boxes().forEach(function (b) { b.checked = !!checked[b.value]; });  // the selection stays
      ["views", "take-forms"].forEach(function (id) {
        var mine = document.getElementById(id), theirs = fresh.getElementById(id);
        if (mine && theirs) { mine.innerHTML = theirs.innerHTML; }
      });
      ["queue-total", "queue-showing"].forEach(function (id) {
        var mine = document.getElementById(id), theirs = fresh.getElementById(id);
        if (mine && theirs) { mine.textContent = theirs.textContent; }
      });
      if (added) { news.textContent = table.getAttribute("data-new-text").replace("{n}", added); }
      table.dispatchEvent(new Event("queue:updated"));
      if (window.ticks) { window.ticks(); }
    };
    request.send();
  }
  var every = parseInt(table.getAttribute("data-poll-ms"), 10);
  if (every > 0) { setInterval(refresh, every); }

  // keyboard shortcuts (not while typing in a field)
  var current = -1, currentId = null;
  function rows() { return Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-case]")); }
  function mark(all) {
    all.forEach(function (r, i) {
      r.classList.toggle("is-current", i === current);
    });
  }
  function focusRow(i) {
    var all = rows();
    if (!all.length) { return; }
    current = Math.max(0, Math.min(all.length - 1, i));
    currentId = all[current].getAttribute("data-case");
    mark(all);
    all[current].querySelector("a.case-link").focus();
  }
  // after a live update the same case stays the current row, wherever it moved
  table.addEventListener("queue:updated", function () {
    var all = rows();
    current = all.map(function (r) { return r.getAttribute("data-case"); }).indexOf(currentId);
    mark(all);
  });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var row = rows()[current];
    if (e.key === "j") { focusRow(current + 1); }
    else if (e.key === "k") { focusRow(current - 1); }
    else if (e.key === "o" && row) { window.location = row.querySelector("a.case-link").href; }
    else if (e.key === "x" && row) { var b = row.querySelector("input[name=case_id]"); b.checked = !b.checked; }
    else if (e.key === "t" && row) { var take = row.querySelector("button.take"); if (take) { take.click(); } }
    else if (e.key === "/") { document.getElementById("q").focus(); }
    else if (e.key === "r") { refresh(); }
    else { return; }
    e.preventDefault();
  });
});
