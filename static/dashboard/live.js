// Live regions without a front-end build: every element with data-live-url is re-fetched
// (as server-rendered HTML, with the page's query string) every data-live-interval seconds.
// Forms with data-confirm ask before submitting.
(function () {
  "use strict";

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
        }
        setStatus(region, true);
      })
      .catch(function () {
        setStatus(region, false);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
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
