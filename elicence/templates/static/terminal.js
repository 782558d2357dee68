// The self-service terminal (自助终端): after data-idle seconds without a touch or a key, sign
// out (the page's own sign-out form, with its CSRF token) and clear the screen, so that the next
// person finds nothing of the last one. The server ends a session signed in at a terminal as long
// after its last request, whatever this script does; so that a person typing a long form is not
// signed out under their fingers, a touch or a key tells the server (POST /terminal/alive, at
// most every 30 s), and a session the server has ended clears the screen at once.
// Rules: no inline handlers; text through textContent.
(function () {
  "use strict";
  var PING_EVERY = 30000;
  function start() {
    var body = document.body;
    var idle = parseInt(body.getAttribute("data-idle"), 10) || 120;
    var home = body.getAttribute("data-home") || "/services";
    var alive = body.getAttribute("data-alive");
    var timer = null;
    var lastPing = Date.now();
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
    function ping() {
      var token = document.querySelector("form.who input[name=csrf]");
      if (!alive || !token || !window.fetch) { return; }
      lastPing = Date.now();
      window.fetch(alive, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": token.value }
      }).then(function (r) {
        if (r.status === 401) {
          var main = document.getElementById("main");
          if (main) { main.replaceChildren(); }
          window.location.replace(home);
        }
      }, function () { /* offline: the idle timer still ends the session here */ });
    }
    function reset() {
      if (timer !== null) { window.clearTimeout(timer); }
      timer = window.setTimeout(clear, idle * 1000);
      if (Date.now() - lastPing > PING_EVERY) { ping(); }
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
