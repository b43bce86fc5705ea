#!/usr/bin/env bash
# Refresh the GraphiQL assets the app serves under /static/graphiql (the IDE works offline), from the npm
# registry at the pinned versions below, and rewrite the checksum list a test verifies.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAPHIQL=3.8.3   # the last major release with a browser (UMD) build
REACT=18.3.1     # React 19 ships no UMD build
dest=cdp/api/static/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg" --strip-components=1
done
cp "$work/graphiql-$GRAPHIQL/graphiql.min.js" "$work/graphiql-$GRAPHIQL/graphiql.min.css" "$dest/"
cp "$work/react-$REACT/umd/react.production.min.js" "$work/react-dom-$REACT/umd/react-dom.production.min.js" "$dest/"
cp "$work/graphiql-$GRAPHIQL/LICENSE" "$dest/LICENSE.graphiql"
cp "$work/react-$REACT/LICENSE" "$dest/LICENSE.react"
{
  echo "# graphiql@$GRAPHIQL react@$REACT react-dom@$REACT from the npm registry (scripts/vendor_graphiql.sh)"
  (cd "$dest" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js)
} > "$dest/SHA256SUMS"
