// The holder's live presentation code: fetch a new one every 60 s (the page shows its expiry, in
// China time as the server rendered it, whatever time zone the browser is set to).
// Rules: only same-origin URLs from data attributes; text goes in through textContent.
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // China time is UTC+8 all year (no daylight saving): shift, then read the UTC fields
  function chinaHms(d) {
    var c = new Date(d.getTime() + 8 * 3600 * 1000);
    return pad(c.getUTCHours()) + ":" + pad(c.getUTCMinutes()) + ":" + pad(c.getUTCSeconds());
  }

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
        until.textContent = chinaHms(end);
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
