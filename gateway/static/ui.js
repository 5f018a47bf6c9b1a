// Small progressive enhancements for the server-rendered UI (no build step).
"use strict";

// A network change runs for as long as the data takes to copy: say so while it runs,
// and keep the user from starting a second one.
function showWorking(text) {
  const box = document.getElementById("working");
  if (!box) {
    return;
  }
  const started = Date.now();
  box.querySelector(".text").textContent = text + "…";
  box.hidden = false;
  setInterval(() => {
    box.querySelector(".elapsed").textContent = Math.round((Date.now() - started) / 1000) + " s";
  }, 1000);
  setTimeout(() => {
    for (const button of document.querySelectorAll("#network button")) {
      button.disabled = true;
    }
  }, 0);
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) {
    return;
  }
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  } else if (form.dataset.working) {
    showWorking(form.dataset.working);
  }
});
