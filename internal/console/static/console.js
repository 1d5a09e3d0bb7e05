// prereg console: small improvements over pages that work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Times: the reader's time zone, with the UTC text kept on hover.
  const fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  for (const el of document.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) continue;
    el.title = el.textContent;
    el.textContent = fmt.format(d);
  }

  // Copy a new token's secret to the clipboard.
  for (const btn of document.querySelectorAll("button[data-copy]")) {
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

  // Import: say what the chosen file holds before it is sent.
  const file = document.getElementById("file");
  const info = document.getElementById("file-info");
  if (file && info) {
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
});
