// Starts GraphiQL on the app's own copy of its assets; the header editor is pre-filled with what every
// request needs: an API key and the purpose of the processing.
const headers = { Authorization: "Bearer <your API key>", "X-CDP-Purpose": "support" };
const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).href }),
    defaultHeaders: JSON.stringify(headers, null, 2),
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: true,
  }),
);
