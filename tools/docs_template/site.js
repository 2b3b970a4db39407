// Typesets the TeX (assets/katex, vendored), draws the Mermaid diagrams (assets/mermaid.min.js, vendored), waits
// for the plotly figures (each loads assets/plotly.min.js itself), then marks <html data-ready="true">: the
// browser test waits for it. Any failure is logged to the console, where the test looks for errors.
(function () {
  var pending = (window.__atfPending || []).slice();
  var maths = document.querySelectorAll('.math');
  if (maths.length && !window.katex) console.error('docs site: assets/katex/katex.min.js did not load');
  if (window.katex) maths.forEach(function (el) {
    window.katex.render(el.textContent, el, { displayMode: el.classList.contains('display'), throwOnError: false });
  });
  if (document.querySelector('pre.mermaid')) {
    if (window.mermaid) {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default' });
      pending.push(window.mermaid.run({ querySelector: 'pre.mermaid' }));
    } else {
      console.error('docs site: assets/mermaid.min.js did not load');
    }
  }
  Promise.allSettled(pending).then(function (results) {
    results.forEach(function (r) {
      if (r.status === 'rejected') console.error('docs site: ' + ((r.reason && (r.reason.message || r.reason.str)) || r.reason));
    });
    document.documentElement.dataset.ready = 'true';
  });
})();
