// MathJax 3 configuration for pymdownx.arithmatex (generic mode), which wraps
// math in `\(...\)` / `\[...\]` inside elements of class "arithmatex". Notebook
// markdown cells (class "jp-RenderedMarkdown") keep their `$...$` delimiters.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};

// Material's instant navigation swaps page content without a reload:
// typeset again on every page change.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (!window.MathJax.typesetPromise) {
      return; // MathJax not loaded yet; its startup typesets the page
    }
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  });
}
