// Live regions without a front-end build: every element with data-live-url is re-fetched
// (as server-rendered HTML, with the page's query string) every data-live-interval seconds.
// Forms with data-confirm ask before submitting. Times (<time data-local>) are shown in the
// reader's time zone, UTC on hover; heartbeat bars are one tab stop with arrow keys inside.
(function () {
  "use strict";

  var dateTime = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  var timeOnly = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });

  function utcText(date) {
    return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function localize(root) {
    root.querySelectorAll("time[data-local]").forEach(function (node) {
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date)) return;
      var local = (node.dataset.local === "time" ? timeOnly : dateTime).format(date);
      if (node.dataset.local === "ago") {
        node.title = local + " (" + utcText(date) + ")";
      } else {
        node.textContent = local;
        node.title = utcText(date);
      }
    });
    root.querySelectorAll(".beat[data-at]").forEach(function (bar) {
      var date = new Date(bar.dataset.at);
      if (!isNaN(date)) bar.dataset.tip = dateTime.format(date) + " · " + bar.dataset.rest;
    });
  }

  // Heartbeat bars: Left/Right/Home/End move the focus (and so the tooltip) along a row.
  document.addEventListener("keydown", function (event) {
    var bar = event.target.closest && event.target.closest(".beat[data-at]");
    if (!bar) return;
    var bars = Array.prototype.slice.call(bar.parentNode.querySelectorAll(".beat[data-at]"));
    var index = bars.indexOf(bar);
    var next = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: bars.length - 1 }[event.key];
    if (next === undefined || next < 0 || next >= bars.length) return;
    event.preventDefault();
    bar.tabIndex = -1;
    bars[next].tabIndex = 0;
    bars[next].focus();
  });

  function statusLine(region) {
    return document.querySelector('[data-live-status-for="' + region.id + '"]');
  }

  function setStatus(region, ok) {
    var line = statusLine(region);
    if (!line) return;
    var now = new Date();
    line.classList.toggle("is-error", !ok);
    line.textContent = ok
      ? "Updated " + now.toLocaleTimeString() + "; updates every " + region.dataset.liveInterval + " seconds."
      : "Could not update (offline?); retrying.";
  }

  function refresh(region) {
    // Keep a keyboard user's place: don't replace the region while focus is inside it.
    if (document.hidden || region.contains(document.activeElement)) return;
    fetch(region.dataset.liveUrl + window.location.search, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload(); // the session ended: go through login
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        if (region.dataset.lastHtml !== html) {
          region.innerHTML = html;
          region.dataset.lastHtml = html;
          localize(region);
        }
        setStatus(region, true);
      })
      .catch(function () {
        setStatus(region, false);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    // Phones start with the page's secondary sections folded (one tap opens them); without
    // JavaScript, or on a wide screen, they stay open.
    if (window.matchMedia("(max-width: 720px)").matches) {
      document.querySelectorAll("details[data-closed-on-phone]").forEach(function (details) {
        details.open = false;
      });
    }
    document.querySelectorAll("[data-live-url]").forEach(function (region) {
      var seconds = parseInt(region.dataset.liveInterval || "5", 10);
      window.setInterval(function () { refresh(region); }, seconds * 1000);
    });
    document.addEventListener("submit", function (event) {
      var message = event.target.dataset && event.target.dataset.confirm;
      if (message && !window.confirm(message)) event.preventDefault();
    });
  });
})();
