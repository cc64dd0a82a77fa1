// uPlot (MIT, vendored from npm uplot@1.6.32): the page inlines uPlot.iife.min.js, which sets window.uPlot.
export default globalThis.uPlot;
