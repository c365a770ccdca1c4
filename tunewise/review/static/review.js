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
