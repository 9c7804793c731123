// Unsaved edits on the stream editor: leaving the page (a link, Pause, closing the tab) asks
// first. Saving the form itself does not. The code editor writes every change back into its
// textarea, so comparing the form's fields is enough.
(function () {
  "use strict";
  const form = document.getElementById("te-preview") && document.getElementById("te-preview").closest("form");
  if (!form) { return; }

  function snapshot() {
    const values = [];
    for (const element of form.elements) {
      if (!element.name || element.type === "file" || element.type === "submit" || element.name === "csrfmiddlewaretoken") { continue; }
      if (element.type === "checkbox" || element.type === "radio") {
        values.push(element.name + "=" + element.checked);
      } else {
        values.push(element.name + "=" + element.value);
      }
    }
    return values.join("\u0000");
  }

  // Taken once the code editor (loaded before this file, also deferred) has set up.
  const saved = snapshot();
  let submitting = false;
  form.addEventListener("submit", () => { submitting = true; });
  window.addEventListener("beforeunload", (event) => {
    if (submitting || snapshot() === saved) { return; }
    event.preventDefault();
    // Older browsers show the dialog only when returnValue is set.
    event.returnValue = "";
  });
  document.documentElement.dataset.unsavedGuard = "ready";
})();
