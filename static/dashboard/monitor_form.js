// Show the fieldsets of the chosen monitor kind only (without JavaScript, all are shown).
(function () {
  const form = document.querySelector("[data-monitor-form]");
  const kind = form && form.querySelector("[name=kind]");
  if (!kind) return;
  function show() {
    form.querySelectorAll("fieldset[data-kinds]").forEach(function (fieldset) {
      fieldset.hidden = !fieldset.dataset.kinds.split(" ").includes(kind.value);
    });
  }
  kind.addEventListener("change", show);
  show();
})();
