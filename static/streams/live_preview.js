// The stream editor's live preview: re-render the draft as the marketer types.
// A static file, not an inline script: the Content-Security-Policy (script-src 'self') refuses
// inline scripts. The preview URL comes from the panel's data-url attribute.
(function () {
  "use strict";
  const panel = document.getElementById("te-preview");
  if (!panel) { return; }
  const form = panel.closest("form");
  const names = ["name", "subject", "html_source", "text", "sample_data", "sample_contact"];
  const frame = document.getElementById("te-html");
  const problem = document.getElementById("te-problem");
  const removed = document.getElementById("te-removed");
  const warnings = document.getElementById("te-warnings");
  let timer = null;
  let latest = 0;

  function show(result) {
    problem.hidden = result.ok;
    problem.textContent = result.problem ? result.problem.message : "";
    removed.hidden = !result.removed.length;
    removed.querySelector("span").textContent = result.removed.join("; ");
    if (warnings) {
      const list = result.warnings || [];
      warnings.hidden = !list.length;
      warnings.querySelector("span").textContent = list.join(" ");
    }
    if (result.ok) {
      document.getElementById("te-subject").textContent = result.subject;
      frame.srcdoc = result.html;
      document.getElementById("te-text").textContent = result.text;
    }
  }

  function refresh() {
    const body = new FormData();
    for (const name of names) {
      const field = form.elements[name];
      if (field) { body.append(name, field.value); }
    }
    body.append("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
    const request = ++latest;
    panel.classList.add("te-loading");
    fetch(panel.dataset.url, {method: "POST", body: body, credentials: "same-origin"})
      .then((response) => response.json())
      .then((result) => {
        if (request !== latest) { return; }
        panel.dataset.rendered = String(request);
        panel.classList.remove("te-loading");
        show(result);
      });
  }

  // Desktop / phone width of the preview (the buttons stay hidden without JavaScript).
  const widths = document.getElementById("te-widths");
  if (widths) {
    widths.hidden = false;
    for (const button of widths.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        const phone = button.id === "te-width-phone";
        panel.classList.toggle("te-phone", phone);
        for (const other of widths.querySelectorAll("button")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
      });
    }
  }

  for (const name of names) {
    const field = form.elements[name];
    if (field) {
      field.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(refresh, 300);
      });
    }
  }
})();
