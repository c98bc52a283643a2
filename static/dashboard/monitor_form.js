// The monitor form, enhanced. Without JavaScript every field shows, header and assertion
// rows are plain inputs (blank ones ignored) and the server says what is wrong; with it:
// only the chosen kind's fields show, rows are added and removed, the assertion builder
// offers the operators of the chosen check, and "Test now" runs the draft once.
(function () {
  "use strict";
  var form = document.querySelector("[data-monitor-form]");
  if (!form) return;
  var subjects = {};
  JSON.parse(form.dataset.assertionSubjects || "[]").forEach(function (s) {
    subjects[s.key] = s;
  });

  // --- The kind -----------------------------------------------------------------------
  function currentKind() {
    var checked = form.querySelector("input[name=kind]:checked");
    return checked ? checked.value : form.dataset.kind;
  }

  function showKind() {
    var kind = currentKind();
    // "Test now" (once enabled below) shows only for the kinds a check can run now.
    var selector = ".field[data-kinds], fieldset[data-kinds], [data-test-now][data-enabled]";
    form.querySelectorAll(selector).forEach(function (el) {
      var kinds = el.dataset.kinds;
      el.hidden = kinds !== "" && kinds.split(" ").indexOf(kind) === -1;
    });
    // A fieldset whose every field is hidden goes too.
    form.querySelectorAll("fieldset").forEach(function (fieldset) {
      var fields = fieldset.querySelectorAll(":scope > .field");
      if (!fields.length || fieldset.dataset.kinds) return;
      fieldset.hidden = Array.prototype.every.call(fields, function (f) { return f.hidden; });
    });
    form.querySelectorAll("[data-assertion-type] option[data-kinds]").forEach(function (option) {
      var usable = option.dataset.kinds.split(" ").indexOf(kind) !== -1;
      option.hidden = !usable;
      option.disabled = !usable && !option.selected;
    });
  }
  form.querySelectorAll("input[name=kind]").forEach(function (radio) {
    radio.addEventListener("change", showKind);
  });

  // --- Rows ---------------------------------------------------------------------------
  function renumber(list) {
    var what = list.closest("[data-rows]").dataset.rows;
    list.querySelectorAll("[data-row]").forEach(function (row, index) {
      var n = index + 1;
      row.querySelectorAll("input, select").forEach(function (input) {
        input.id = input.id.replace(/-\d+$/, "-" + n);
      });
      row.querySelectorAll("label[for]").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + n);
        if (what === "header") label.textContent = "Header " + n + " " + label.dataset.labelFor;
      });
      var remove = row.querySelector("[data-remove-row] .visually-hidden");
      if (remove) remove.textContent = " " + what + " " + n;
    });
  }

  function clearRow(row) {
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
    row.querySelectorAll(".row-errors").forEach(function (e) { e.remove(); });
    row.classList.remove("has-error");
    var result = row.querySelector("[data-assertion-result]");
    if (result) { result.textContent = ""; result.className = "assertion-result"; }
  }

  form.querySelectorAll("[data-rows]").forEach(function (block) {
    var list = block.querySelector("[data-row-list]");
    block.querySelectorAll("[data-add-row], [data-remove-row]").forEach(function (b) { b.hidden = false; });
    block.addEventListener("click", function (event) {
      var add = event.target.closest("[data-add-row]");
      var remove = event.target.closest("[data-remove-row]");
      if (add) {
        var rows = list.querySelectorAll("[data-row]");
        var row = rows[rows.length - 1].cloneNode(true);
        clearRow(row);
        list.appendChild(row);
        renumber(list);
        syncAssertionRow(row);
        (row.querySelector("select, input")).focus();
      } else if (remove) {
        var current = remove.closest("[data-row]");
        if (list.querySelectorAll("[data-row]").length > 1) {
          current.remove();
          renumber(list);
          block.querySelector("[data-add-row]").focus();
        } else {
          clearRow(current);
          syncAssertionRow(current);
        }
      }
    });
  });

  // --- The assertion builder ------------------------------------------------------------
  function syncAssertionRow(row) {
    var type = row.querySelector("[data-assertion-type]");
    if (!type) return;
    var subject = subjects[type.value];
    var operator = row.querySelector("[data-assertion-operator]");
    Array.prototype.forEach.call(operator.options, function (option) {
      var usable = !subject || subject.operators.indexOf(option.value) !== -1;
      option.hidden = !usable;
      option.disabled = !usable;
    });
    if (subject && subject.operators.indexOf(operator.value) === -1) operator.value = subject.operators[0];
    var fieldCell = row.querySelector("[data-field-cell]");
    fieldCell.hidden = !!subject && !subject.field_label;
    if (subject && subject.field_label) {
      fieldCell.querySelector("label").textContent = subject.field_label;
    }
    var valueCell = row.querySelector("[data-value-cell]");
    valueCell.hidden = !!subject && subject.no_value.indexOf(operator.value) !== -1;
    var value = valueCell.querySelector("input");
    value.placeholder = subject ? subject.placeholder : "";
    value.inputMode = subject && subject.value === "number" ? "decimal" : "text";
  }
  form.addEventListener("change", function (event) {
    var row = event.target.closest(".assertion-row");
    if (row) syncAssertionRow(row);
  });
  form.querySelectorAll(".assertion-row").forEach(syncAssertionRow);
  showKind();

  // --- Test now -------------------------------------------------------------------------
  var panel = form.querySelector("[data-test-now]");
  var button = form.querySelector("[data-test-now-button]");
  var output = form.querySelector("[data-test-result]");
  if (!panel || !window.fetch) return;
  panel.dataset.enabled = "";
  showKind();

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showErrors(errors) {
    output.replaceChildren(el("p", "test-status is-error", "Fix these first:"));
    var list = el("ul", "errorlist");
    Object.keys(errors).forEach(function (name) {
      errors[name].forEach(function (message) {
        list.appendChild(el("li", "", (name === "__all__" ? "" : name + ": ") + message));
      });
    });
    output.appendChild(list);
  }

  function clearAssertionMarks() {
    form.querySelectorAll("[data-assertion-result]").forEach(function (p) {
      p.textContent = "";
      p.className = "assertion-result";
    });
  }

  function showResult(result) {
    var ok = result.status === "up";
    output.replaceChildren();
    var head = el("p", "test-status " + (ok ? "is-up" : "is-error"));
    head.appendChild(el("span", "check check-" + result.status, result.status.toUpperCase()));
    var facts = [];
    if (result.status_code) facts.push("HTTP " + result.status_code);
    if (result.response_time_ms !== null) facts.push(result.response_time_ms + " ms");
    head.appendChild(document.createTextNode(" " + facts.join(", ") + (result.reason ? " — " + result.reason : "")));
    output.appendChild(head);
    if (result.excerpt) {
      output.appendChild(el("p", "muted", "Response (start):"));
      output.appendChild(el("pre", "excerpt", result.excerpt));
    }
    // Each filled assertion row gets its own verdict, in the order they were sent.
    var filled = Array.prototype.filter.call(form.querySelectorAll(".assertion-row"), function (row) {
      return row.querySelector("[data-assertion-type]").value;
    });
    result.assertions.forEach(function (a, index) {
      var mark = filled[index] && filled[index].querySelector("[data-assertion-result]");
      var text = a.passed === null ? "not judged (no answer)" : a.passed ? "passes" : "fails: " + a.reason;
      if (mark) {
        mark.textContent = "Assertion " + (index + 1) + " " + text;
        mark.className = "assertion-result " + (a.passed ? "is-up" : "is-error");
      }
    });
    if (result.assertions.length) {
      var summary = el("ul", "assertion-summary");
      result.assertions.forEach(function (a, index) {
        var text = a.passed === null ? "not judged" : a.passed ? "passes" : "fails: " + a.reason;
        summary.appendChild(el("li", a.passed ? "is-up" : "is-error", "Assertion " + (index + 1) + " " + text));
      });
      output.appendChild(summary);
    }
  }

  function poll(url, tries) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.state === "pending" && tries > 0) {
          window.setTimeout(function () { poll(url, tries - 1); }, 1000);
        } else if (data.state === "done") {
          showResult(data.outcome);
          button.disabled = false;
        } else {
          output.replaceChildren(el("p", "test-status is-error", "No check worker answered; is one running?"));
          button.disabled = false;
        }
      })
      .catch(function () {
        output.replaceChildren(el("p", "test-status is-error", "Could not reach the server."));
        button.disabled = false;
      });
  }

  button.addEventListener("click", function () {
    var data = new FormData(form);
    if (form.dataset.monitorId) data.append("monitor", form.dataset.monitorId);
    button.disabled = true;
    clearAssertionMarks();
    output.replaceChildren(el("p", "test-status", "Checking…"));
    fetch(form.dataset.testUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.errors) {
          showErrors(answer.errors);
          button.disabled = false;
        } else {
          poll(answer.result, 60);
        }
      })
      .catch(function () {
        output.replaceChildren(el("p", "test-status is-error", "Could not reach the server."));
        button.disabled = false;
      });
  });
})();
