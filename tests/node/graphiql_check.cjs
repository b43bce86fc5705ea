// Loads the app's GraphiQL page from a running server in jsdom, offline: the scripts come from the page's own
// references (a request to any other host fails the check), then reports whether GraphiQL rendered with the
// header editor open and pre-filled. Usage: node graphiql_check.cjs http://127.0.0.1:PORT/graphql
const { JSDOM, ResourceLoader, VirtualConsole } = require("jsdom");

const url = new URL(process.argv[2]);
const requested = [];
class SameHostOnly extends ResourceLoader {
  fetch(resource, options) {
    requested.push(resource);
    if (new URL(resource).host !== url.host) return Promise.reject(new Error(`external resource ${resource}`));
    return super.fetch(resource, options);
  }
}
const errors = [];
const virtualConsole = new VirtualConsole();
virtualConsole.on("jsdomError", (error) => errors.push(String(error.message || error)));

JSDOM.fromURL(url.href, {
  headers: { Accept: "text/html" },
  runScripts: "dangerously",
  resources: new SameHostOnly(),
  pretendToBeVisual: true,
  virtualConsole,
  beforeParse(window) {
    // What a browser has and jsdom lacks; nothing here reaches the network.
    Object.assign(window, { TextDecoder, TextEncoder, fetch: (...args) => fetch(...args) });
    window.matchMedia = () => ({ matches: false, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {} });
    window.ResizeObserver = class { observe() {} unobserve() {} disconnect() {} };
    window.document.createRange = () => ({ setStart() {}, setEnd() {}, getBoundingClientRect: () => ({}), getClientRects: () => [], commonAncestorContainer: window.document.body });
  },
}).then((dom) => {
  dom.window.addEventListener("load", () => setTimeout(() => {
    const root = dom.window.document.getElementById("graphiql");
    const text = root.textContent;
    console.log(JSON.stringify({
      rendered: Boolean(root.querySelector(".graphiql-container")),
      headerEditorOpen: text.includes("Headers") && text.includes('"Authorization": "Bearer <your API key>"'),
      requested: requested.map((r) => new URL(r).pathname),
      errors,
    }));
    process.exit(0);
  }, 1500));
});
