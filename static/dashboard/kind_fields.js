// Forms with data-kind-form show only the fieldsets of the chosen kind (data-kinds="a b");
// without JavaScript every fieldset is shown and the server ignores the other kinds' fields.
(function () {
  "use strict";
  document.querySelectorAll("[data-kind-form]").forEach(function (form) {
    var kind = form.querySelector("[name=kind]");
    if (!kind) return;
    function show() {
      form.querySelectorAll("fieldset[data-kinds]").forEach(function (fieldset) {
        fieldset.hidden = fieldset.dataset.kinds.split(" ").indexOf(kind.value) === -1;
      });
    }
    kind.addEventListener("change", show);
    show();
  });
})();
