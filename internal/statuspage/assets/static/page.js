// Refreshes the page's main part every few seconds without reloading:
// the server renders it (and escapes everything in it); the script only
// swaps it in, keeping open cards open.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var every = parseInt(main.dataset.refreshMs, 10) || 5000;
  function refresh() {
    fetch("/?part=main", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) {
        var open = {};
        main.querySelectorAll("details[open]").forEach(function (d) { open[d.id] = true; });
        var doc = new DOMParser().parseFromString(html, "text/html");
        main.replaceChildren.apply(main, Array.prototype.slice.call(doc.body.childNodes));
        main.querySelectorAll("details").forEach(function (d) { if (open[d.id]) { d.open = true; } });
      })
      .catch(function () {
        var stale = document.getElementById("stale");
        if (stale) { stale.hidden = false; }
      })
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
