// The hall desk: scan a code with the camera where the browser has BarcodeDetector, then submit.
// Without it the page works as it is: a barcode scanner types into the box, or upload a PDF.
(function () {
  "use strict";
  function start() {
    var camera = document.getElementById("camera");
    var missing = document.getElementById("camera-missing");
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      missing.hidden = false;
      return;
    }
    camera.hidden = false;
    var button = document.getElementById("camera-start");
    var video = document.getElementById("camera-view");
    var status = document.getElementById("camera-status");
    var code = document.getElementById("code");
    var form = document.getElementById("desk-form");
    var stream = null;
    var detector = null;
    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      stream = null;
      video.hidden = true;
    }
    function scan() {
      if (!stream) { return; }
      detector.detect(video).then(function (found) {
        if (found && found.length && found[0].rawValue) {
          code.value = found[0].rawValue;
          status.textContent = "已识别，正在查验… Read: checking…";
          stop();
          form.submit();
          return;
        }
        window.setTimeout(scan, 250);
      }, function () { window.setTimeout(scan, 500); });
    }
    button.addEventListener("click", function () {
      try {
        detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      } catch (e) {
        status.textContent = "无法使用扫码功能。 The scanner is unavailable.";
        return;
      }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        status.textContent = "请将二维码对准摄像头。 Hold the QR code to the camera.";
        return video.play();
      }).then(scan, function () {
        status.textContent = "无法打开摄像头。 The camera could not be opened.";
        stop();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
