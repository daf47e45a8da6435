// Copy buttons: <button data-copy="ID"> copies the text of element ID.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) return;
  var el = document.getElementById(b.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.value || el.textContent).then(function () {
    b.setAttribute("aria-label", b.getAttribute("data-copied") || "copied");
  });
});
