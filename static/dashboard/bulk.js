// The overview's bulk bar: the row checkboxes belong to #bulk-form (form= attribute), so they
// work without JavaScript. The live table is re-rendered every few seconds; this keeps the
// ticks across those refreshes and says how many are ticked.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  var region = document.getElementById("overview-live");
  if (!form || !region) return;
  var count = form.querySelector("[data-bulk-count]");
  var initial = count ? count.textContent : "";
  var ticked = new Set();

  function boxes() {
    return region.querySelectorAll("input[data-bulk-select]");
  }
  function showCount() {
    if (!count) return;
    count.textContent = ticked.size ? ticked.size + " selected." : initial;
  }
  region.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-bulk-select]")) return;
    if (box.checked) ticked.add(box.value); else ticked.delete(box.value);
    showCount();
  });
  new MutationObserver(function () {
    boxes().forEach(function (box) { box.checked = ticked.has(box.value); });
  }).observe(region, { childList: true });
})();
