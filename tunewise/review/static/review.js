// Keyboard shortcuts: a button with data-key="a 1" is pressed by typing a or 1 (not while typing a comment).
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.closest && target.closest("textarea, input, select")) return;
  const key = event.key.toLowerCase();
  for (const button of document.querySelectorAll("button[data-key]")) {
    if (button.dataset.key.split(" ").includes(key)) {
      event.preventDefault();
      button.click();
      return;
    }
  }
});

// Enter in the label search uses the typed label (a form's Enter would otherwise press its first button, "Keep").
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.id === "label-search") {
    event.preventDefault();
    document.getElementById("use-other").click();
  }
});
