// The few behaviours the templates need, here rather than inline: the Content-Security-Policy allows
// scripts only from our own origin (kontor/web/csp.py). Each is declared in the markup by a data- attribute.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof HTMLElement && el.hasAttribute("data-autosubmit") && el.form) el.form.submit();
});

document.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const el = event.target.closest("[data-print], [data-copy], [data-insert]");
  if (!el) return;
  if (el.hasAttribute("data-print")) {
    window.print();
  } else if (el.hasAttribute("data-copy")) {
    navigator.clipboard.writeText(el.dataset.copy);
    el.textContent = "Copied";
  } else {
    // Insert a {Column} placeholder at the caret of the text it names.
    const text = document.getElementById(el.dataset.target || "id_text");
    if (!text) return;
    text.setRangeText(el.dataset.insert, text.selectionStart, text.selectionEnd, "end");
    text.focus();
  }
});
