// The holder's live presentation code: fetch a new one every 60 s (the page shows its expiry).
// Rules: only same-origin URLs from data attributes; text goes in through textContent.
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hms(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }

  function start() {
    var box = document.getElementById("live");
    if (!box) { return; }
    var img = document.getElementById("live-img");
    var until = document.getElementById("live-until");
    var status = document.getElementById("live-status");
    var src = box.getAttribute("data-src");
    var every = parseInt(box.getAttribute("data-refresh"), 10) || 60;
    function refresh() {
      var fresh = src + "?t=" + Date.now();
      var probe = new Image();
      probe.onload = function () {
        img.src = fresh;
        var end = new Date(Date.now() + 90 * 1000);
        until.textContent = hms(end);
        until.setAttribute("datetime", end.toISOString());
      };
      probe.onerror = function () {
        status.textContent = "亮证码无法更新，请刷新页面。 The code could not be renewed: reload the page.";
      };
      probe.src = fresh;
    }
    window.setInterval(refresh, every * 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
