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
});
