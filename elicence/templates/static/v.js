// The public verification page: read the seal after "#", ask the service, show the verdict.
// Rules: nothing is shown as genuine unless the service answered verdict "valid" (or
// "not_yet_valid": genuine, every check passed, its first day ahead); every value
// from the network goes in through textContent, never as markup; no external resources.
(function () {
  "use strict";

  var VERDICTS = {
    valid: {
      cls: "good", mark: "\u2714", zh: "有效", en: "Valid",
      explainZh: "此证照真实有效：由发证机关签发，现未被注销或暂停。",
      explainEn: "This licence is genuine and in force: signed by the issuing department and not cancelled or suspended."
    },
    invalid: {
      cls: "bad", mark: "\u2716", zh: "无效", en: "Invalid",
      explainZh: "此证照码不是真实的电子证照，或已被篡改。请勿采信。",
      explainEn: "This code is not a genuine e-licence, or it has been altered. Do not rely on it."
    },
    revoked: {
      cls: "bad", mark: "\u2716", zh: "已注销", en: "Revoked",
      explainZh: "此证照已被发证机关注销，不再有效。",
      explainEn: "The issuing department has revoked this licence. It is no longer valid."
    },
    suspended: {
      cls: "warn", mark: "\u26A0", zh: "已暂停", en: "Suspended",
      explainZh: "此证照已被暂停，目前无效。",
      explainEn: "This licence is suspended and not valid at present."
    },
    expired: {
      cls: "warn", mark: "\u26A0", zh: "已过期", en: "Expired",
      explainZh: "此证照已超过有效期，不再有效。",
      explainEn: "This licence is past its validity period. It is no longer valid."
    },
    not_yet_valid: {
      cls: "warn", mark: "\u26A0", zh: "尚未生效", en: "Not yet in force",
      explainZh: "此证照是真实的电子证照，但尚未生效，今日不能作为有效证照采信。",
      explainEn: "This is a genuine e-licence, but it is not in force yet: do not accept it as valid today."
    },
    superseded: {
      cls: "warn", mark: "\u26A0", zh: "已被替代", en: "Superseded",
      explainZh: "此证照已被新版本替代，本版本不再有效。请向持证人索取最新版本。",
      explainEn: "A newer version has replaced this licence; this one is no longer valid. Ask the holder for the current one."
    },
    not_found: {
      cls: "bad", mark: "\u2716", zh: "未找到", en: "Not found",
      explainZh: "证照库中没有此证照。请勿采信。",
      explainEn: "The licence registry holds no such licence. Do not rely on it."
    },
    untrusted: {
      cls: "bad", mark: "\u2716", zh: "不受信任", en: "Untrusted",
      explainZh: "此证照不是由受信任的发证机关签发的。请勿采信。",
      explainEn: "This licence was not signed by a trusted issuing department. Do not rely on it."
    },
    indeterminate: {
      cls: "unknown", mark: "?", zh: "无法确定", en: "Indeterminate",
      explainZh: "暂时无法确定此证照的状态，请稍后再试。",
      explainEn: "The status of this licence cannot be determined now. Please try again later."
    }
  };
  var NO_CODE = {
    cls: "unknown", mark: "?", zh: "没有证照码", en: "No licence code",
    explainZh: "链接中没有证照码。请用手机相机扫描电子证照上的二维码。",
    explainEn: "This link carries no licence code. Scan the QR code on an e-licence with your phone camera."
  };
  var MALFORMED = {
    cls: "bad", mark: "\u2716", zh: "无效", en: "Invalid",
    explainZh: "这不是一个可识别的证照码。请勿采信。",
    explainEn: "This is not a recognisable licence code. Do not rely on it."
  };
  var FAILED = {
    cls: "unknown", mark: "?", zh: "无法查验", en: "Could not check",
    explainZh: "暂时无法连接查验服务，请检查网络后重试。这并不表示证照有效。",
    explainEn: "The verification service could not be reached. Check your connection and try again. This does not mean the licence is valid."
  };
  var CHECKING = {
    cls: "pending", mark: "\u2026", zh: "正在查验…", en: "Checking…",
    explainZh: "", explainEn: ""
  };
  // Licence details are shown only where the signature was checked and trusted.
  var SHOW_DETAILS = {
    valid: true, revoked: true, suspended: true, expired: true, superseded: true, not_yet_valid: true
  };

  function el(id) { return document.getElementById(id); }

  function text(node, value) { node.textContent = value == null ? "" : String(value); }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // "2026-11-28T02:00:00Z" → "2026-11-28 10:00 (北京时间 Beijing time)"
  function beijingTime(iso) {
    var t = Date.parse(String(iso));
    if (isNaN(t)) { return ""; }
    var d = new Date(t + 8 * 3600 * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) +
      " 北京时间 Beijing time";
  }

  function beijingDate(iso) {
    var s = beijingTime(iso);
    return s ? s.slice(0, 10) : "";
  }

  function show(state, extra) {
    var box = el("verdict");
    box.className = "verdict " + state.cls;
    text(el("mark"), state.mark);
    text(el("verdict-zh"), state.zh);
    text(el("verdict-en"), state.en);
    var explain = el("explain");
    clear(explain);
    if (state.explainZh) {
      var zh = document.createElement("span");
      zh.className = "zh";
      text(zh, state.explainZh);
      var en = document.createElement("span");
      en.className = "en";
      en.lang = "en";
      text(en, state.explainEn);
      explain.appendChild(zh);
      explain.appendChild(document.createElement("br"));
      explain.appendChild(en);
    }
    if (extra) {
      var more = document.createElement("span");
      more.className = "detail";
      text(more, extra);
      explain.appendChild(document.createElement("br"));
      explain.appendChild(more);
    }
    el("retry-row").hidden = !(state === FAILED || state.cls === "unknown" && state !== NO_CODE);
    document.title = state.zh + " " + state.en + " · 电子证照查验";
  }

  // The state shown for an answer: a licence not yet in force names its first day.
  function stateOf(answer) {
    var state = VERDICTS[answer.verdict];
    var from = answer.licence && answer.licence.valid_from;
    if (answer.verdict !== "not_yet_valid" || !/^\d{4}-\d{2}-\d{2}$/.test(String(from))) {
      return state;
    }
    return {
      cls: state.cls, mark: state.mark, zh: state.zh, en: state.en,
      explainZh: "此证照是真实的电子证照，自 " + from + " 起生效；目前尚未生效，今日不能作为有效证照采信。",
      explainEn: "This is a genuine e-licence, in force from " + from +
        ": not in force yet, so do not accept it as valid today."
    };
  }

  function addField(list, zh, en, value) {
    if (value == null || value === "") { return; }
    var dt = document.createElement("dt");
    text(dt, zh + " ");
    var span = document.createElement("span");
    span.lang = "en";
    text(span, en);
    dt.appendChild(span);
    var dd = document.createElement("dd");
    text(dd, value);
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function showLicence(verdict, lic, answer) {
    var section = el("licence");
    var list = el("fields");
    clear(list);
    if (!SHOW_DETAILS[verdict] || !lic || typeof lic !== "object") {
      section.hidden = true;
      return;
    }
    addField(list, "证照名称", "Licence", lic.type_name || lic.type_code);
    addField(list, "证照编号", "Number", lic.licence_number);
    addField(list, "持证主体", "Holder", lic.holder_name);
    addField(list, "证件号码", "Holder ID", lic.holder_id);
    addField(list, "发证机关", "Issued by", lic.issuer_name || lic.issuer);
    addField(list, "签发日期", "Issued on", lic.issued_at ? beijingDate(lic.issued_at) : "");
    addField(list, "有效期自", "Valid from", lic.valid_from);
    addField(list, "有效期至", "Valid until", lic.valid_until ? lic.valid_until : "长期 Long-term");
    addField(list, "版本", "Version", lic.version);
    addField(list, "电子证照标识", "Identifier", lic.identifier);
    if (answer.superseded_by) {
      addField(list, "替代版本", "Replaced by", answer.superseded_by);
    }
    section.hidden = false;
  }

  function setChecked(iso) {
    var s = iso ? beijingTime(iso) : "";
    text(el("checked"), s ? "查验时间 Checked at: " + s : "");
  }

  function sealFromHash() {
    var raw = window.location.hash || "";
    if (raw.charAt(0) === "#") { raw = raw.slice(1); }
    try { raw = decodeURIComponent(raw); } catch (e) { /* keep it raw */ }
    return raw.replace(/\s+/g, "");
  }

  var current = 0;

  function check() {
    var seal = sealFromHash();
    var request = ++current;
    el("licence").hidden = true;
    text(el("checked"), "");
    if (!seal) {
      show(NO_CODE);
      return;
    }
    if (!/^EL1:[A-Z2-7]+$/i.test(seal) || seal.length > 8000) {
      show(MALFORMED);
      return;
    }
    show(CHECKING);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "api/v1/verify", true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.timeout = 20000;
    xhr.onload = function () {
      if (request !== current) { return; }
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (xhr.status === 200 && answer && typeof answer === "object" &&
          Object.prototype.hasOwnProperty.call(VERDICTS, answer.verdict)) {
        show(stateOf(answer));
        showLicence(answer.verdict, answer.licence, answer);
        setChecked(answer.checked_at);
      } else if (xhr.status === 422) {
        show(MALFORMED);  // the service refused the text: not a seal at all
        setChecked(new Date().toISOString());
      } else if (xhr.status === 200) {
        show(VERDICTS.indeterminate);  // an answer this page does not understand
      } else {
        show(FAILED, "HTTP " + xhr.status);
      }
    };
    xhr.onerror = xhr.ontimeout = function () {
      if (request !== current) { return; }
      show(FAILED);
    };
    xhr.send(JSON.stringify({ seal: seal }));
  }

  function start() {
    el("retry").addEventListener("click", check);
    window.addEventListener("hashchange", check);
    check();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
