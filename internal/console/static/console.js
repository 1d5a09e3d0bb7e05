// prereg console: small improvements over pages that work without it.
"use strict";

// Times: the reader's time zone, with the UTC text kept on hover.
function localTimes(root) {
  const fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) continue;
    el.title = el.textContent;
    el.textContent = fmt.format(d);
  }
}

// Copy a new token's secret to the clipboard.
function copyButtons(root) {
  for (const btn of root.querySelectorAll("button[data-copy]")) {
    const input = document.getElementById(btn.dataset.copy);
    const status = document.getElementById("copy-status");
    btn.hidden = false;
    btn.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        status.textContent = "Copied to the clipboard.";
      } catch {
        input.select();
        status.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
      }
    });
  }
}

// Import: the page keeps the chosen file and sends it again with the
// confirmation, so whichever of the service's servers takes the
// confirmation can write it; the server checks that it is the file it
// previewed. The preview and the report replace the page's main part.
let held = null;

function wireImport() {
  const file = document.getElementById("file");
  const info = document.getElementById("file-info");
  if (file && info) {
    // Say what the chosen file holds before it is sent.
    file.addEventListener("change", async () => {
      const f = file.files[0];
      if (!f) { info.textContent = ""; return; }
      const head = await f.slice(0, 64 * 1024).text();
      const first = head.split(/\r?\n/, 1)[0];
      const kb = (f.size / 1024).toFixed(1);
      const missing = ["email", "roles"].filter((c) => !first.toLowerCase().split(",").map((s) => s.trim()).includes(c));
      info.textContent = `${f.name}: ${kb} KB; header: ${first.slice(0, 120)}` +
        (missing.length ? ` (no ${missing.join(" or ")} column: the preview will say what is wrong)` : "");
    });
  }
  const upload = document.getElementById("import-form");
  if (upload && file) {
    upload.addEventListener("submit", (ev) => {
      const f = file.files[0];
      if (!f) return;
      ev.preventDefault();
      held = f;
      send(upload, [["held", "1"], ["file", f]]);
    });
  }
  const confirm = document.getElementById("confirm-form");
  if (confirm && held) {
    confirm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send(confirm, [["file", held]]);
    });
  }
}

// send posts form's fields (the CSRF secret first), then extra, and shows
// the answer's page in place of this one's main part.
async function send(form, extra) {
  const body = new FormData();
  for (const [k, v] of new FormData(form)) {
    if (!(v instanceof File)) body.append(k, v);
  }
  for (const [k, v] of extra) body.append(k, v);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  let page;
  try {
    const resp = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
    page = new DOMParser().parseFromString(await resp.text(), "text/html");
  } catch {
    button.disabled = false;
    let p = form.querySelector(".send-problem");
    if (!p) {
      p = document.createElement("p");
      p.className = "problem send-problem";
      p.setAttribute("role", "alert");
      form.append(p);
    }
    p.textContent = "The service could not be reached; nothing was written. Try again.";
    return;
  }
  const main = page.querySelector("main");
  if (!main) {
    button.disabled = false;
    return;
  }
  document.title = page.title;
  document.querySelector("main").replaceWith(document.adoptNode(main));
  localTimes(main);
  wireImport();
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  copyButtons(document);
  wireImport();
});
