// Runs cdp's trusted documents with Apollo Client, sending each by its manifest hash (the persisted-query
// convention, no query text). Driven by tests/test_third_party_clients.py: one JSON request per stdin line
// {url, name, variables, headers}, one JSON answer per stdout line {data, errors}.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { parse } from "graphql";

const manifest = JSON.parse(readFileSync(new URL("../../graphql/operations/manifest.json", import.meta.url)));
const byName = new Map(manifest.operations.map((op) => [op.name, op]));
const clients = new Map();

function client(url) {
  if (!clients.has(url)) {
    const persisted = new PersistedQueryLink({
      // The manifest's id for the operation: Apollo sends this hash, never the text.
      generateHash: (document) => byName.get(document.definitions[0].name.value).id,
    });
    clients.set(url, new ApolloClient({ link: ApolloLink.from([persisted, new HttpLink({ uri: url })]), cache: new InMemoryCache() }));
  }
  return clients.get(url);
}

async function run({ url, name, variables, headers }) {
  const operation = byName.get(name);
  const document = parse(operation.body);
  const options = { variables, context: { headers }, fetchPolicy: "no-cache", errorPolicy: "all" };
  const result =
    operation.type === "mutation"
      ? await client(url).mutate({ mutation: document, ...options })
      : await client(url).query({ query: document, ...options });
  const errors = result.error ? (result.error.errors ?? [{ message: String(result.error.message) }]) : undefined;
  return { data: result.data ?? null, errors, extensions: result.extensions };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (error) {
    answer = { data: null, errors: [{ message: `apollo: ${error}` }] };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
