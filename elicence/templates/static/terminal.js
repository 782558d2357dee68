// The self-service terminal (自助终端): after data-idle seconds without a touch or a key, sign
// out (the page's own sign-out form, with its CSRF token) and clear the screen, so that the next
// person finds nothing of the last one. Rules: no inline handlers; text through textContent.
(function () {
  "use strict";
  function start() {
    var body = document.body;
    var idle = parseInt(body.getAttribute("data-idle"), 10) || 120;
    var home = body.getAttribute("data-home") || "/services";
    var timer = null;
    function clear() {
      var main = document.getElementById("main");
      if (main) {
        main.replaceChildren();
        var p = document.createElement("p");
        p.textContent = "已超时退出，屏幕已清空。 Timed out: signed out and cleared.";
        main.appendChild(p);
      }
      var out = document.querySelector("form.who");
      if (out) {
        out.submit();
      } else {
        window.location.replace(home);
      }
    }
    function reset() {
      if (timer !== null) { window.clearTimeout(timer); }
      timer = window.setTimeout(clear, idle * 1000);
    }
    ["pointerdown", "keydown", "input", "scroll"].forEach(function (name) {
      window.addEventListener(name, reset, { passive: true });
    });
    reset();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
