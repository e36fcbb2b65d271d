/* The inbox's clocks, ticking in the browser: the time each lead has waited
   (<time data-since>) and the time left before its deadline hands it out (<time data-due>).
   The server draws both; this only keeps them running, on the server's clock (<main
   data-now>), and also for the leads the page's event stream adds later. Without it the
   page shows the times as drawn. */
(function () {
  "use strict";

  function clock(seconds) {  /* 4:05, 1:02:03: as services/desk/sales.py writes it */
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    var mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + String(rest).padStart(2, "0");
  }

  var main = document.querySelector("main[data-now]");
  var skew = 0;  /* the server's clock minus this browser's, in milliseconds */
  if (main) {
    var drawn = Date.parse(main.getAttribute("data-now"));
    if (!isNaN(drawn)) { skew = drawn - Date.now(); }
  }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) { el.textContent = clock((now - since) / 1000); }
    });
    document.querySelectorAll("time[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = Math.ceil((due - now) / 1000);
      if (left > 0) {
        el.textContent = clock(left);
        el.classList.toggle("soon", left <= 60);
      } else {
        el.textContent = el.getAttribute("data-due-text") || "0:00";
        el.classList.add("due");
      }
    });
  }

  tick();
  setInterval(tick, 1000);
})();
