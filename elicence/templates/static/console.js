// Bulk import in the console: read a JSON Lines file, post it in chunks, show progress.
// Each chunk is one batch issuance (idempotent by source_ref), so a stopped import can be re-run.
(function () {
  "use strict";
  function el(id) { return document.getElementById(id); }
  function start() {
    var box = el("importer");
    if (!box) { return; }
    var url = box.getAttribute("data-url");
    var csrf = box.getAttribute("data-csrf");
    var chunk = parseInt(box.getAttribute("data-chunk"), 10) || 200;
    var totals = { created: 0, existing: 0, failed: 0 };
    function show() {
      el("n-created").textContent = String(totals.created);
      el("n-existing").textContent = String(totals.existing);
      el("n-failed").textContent = String(totals.failed);
      el("import-summary").hidden = false;
    }
    function error(line, message) {
      var li = document.createElement("li");
      li.textContent = "第 " + line + " 行 line " + line + ": " + message;
      el("import-errors").appendChild(li);
    }
    el("start").addEventListener("click", function () {
      var file = el("file").files[0];
      if (!file) { el("import-status").textContent = "请选择文件。 Choose a file."; return; }
      el("start").disabled = true;
      file.text().then(function (text) {
        var items = [];
        var lines = [];
        text.split(/\r?\n/).forEach(function (raw, i) {
          if (!raw.trim()) { return; }
          try { items.push(JSON.parse(raw)); lines.push(i + 1); } catch (e) {
            totals.failed += 1; error(i + 1, "不是 JSON not JSON");
          }
        });
        var progress = el("progress");
        progress.max = Math.max(items.length, 1);
        progress.value = 0;
        var at = 0;
        function next() {
          if (at >= items.length) {
            el("import-status").textContent = "完成：" + items.length + " 条。 Done: " + items.length + " requests.";
            show();
            el("start").disabled = false;
            return;
          }
          var part = items.slice(at, at + chunk);
          var partLines = lines.slice(at, at + chunk);
          fetch(url, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
            body: JSON.stringify({ items: part })
          }).then(function (r) {
            return r.json().then(function (body) { return { ok: r.ok, body: body }; });
          }).then(function (res) {
            if (!res.ok) {
              var e = res.body.error || {};
              throw new Error((e.message_zh ? e.message_zh + " — " : "") + (e.message || "HTTP error"));
            }
            totals.created += res.body.created;
            totals.existing += res.body.existing;
            totals.failed += res.body.failed;
            res.body.results.forEach(function (r) {
              if (r.outcome === "error") {
                // Chinese first (the service's words for the code and field), then the API's own
                error(partLines[r.index], (r.error.message_zh ? r.error.message_zh + " — " : "") +
                  (r.error.field ? r.error.field + ": " : "") + r.error.message);
              }
            });
            at += part.length;
            progress.value = at;
            progress.textContent = Math.round(100 * at / items.length) + "%";
            el("import-status").textContent = "已处理 " + at + " / " + items.length + "。 Processed " + at + " of " + items.length + ".";
            show();
            next();
          }).catch(function (e) {
            el("import-status").textContent = "导入中断：" + e.message + "。可再次导入，已签发的不会重复。 Stopped: " + e.message + ". Run it again: nothing is issued twice.";
            el("start").disabled = false;
          });
        }
        next();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
