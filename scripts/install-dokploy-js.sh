#!/usr/bin/env bash
# Installs the npm packages Dokploy v0.30.2 pins that the Dokploy stand-in and its tests run for real
# (testkit/dokploy/js/package.json: yaml 2.8.1, dotenv 16.4.5, shell-quote 1.8.3) into .tools/dokploy-js,
# with npm from the npm registry. Idempotent: cached while package.json is unchanged. Without node and npm it
# says so and exits 0: the stand-in then uses its Python model of yaml (testkit/dokploy/yamltext.py) and the
# tests that check the models against the real packages skip (fail under CI).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
want="$here/testkit/dokploy/js/package.json"
prefix="$here/.tools/dokploy-js"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "dokploy-js: node/npm not found: the Dokploy stand-in uses its Python model of npm yaml (apt-get install nodejs npm for the real one)"
  exit 0
fi
if cmp -s "$want" "$prefix/package.json" && [[ -f "$prefix/node_modules/yaml/package.json" ]]; then
  echo "dokploy-js: cached ($prefix)"
  exit 0
fi
mkdir -p "$prefix"
cp "$want" "$prefix/package.json"
rm -f "$prefix/package-lock.json"
npm install --no-audit --no-fund --prefix "$prefix" >"$prefix/npm-install.log" 2>&1 || { cat "$prefix/npm-install.log" >&2; exit 1; }
echo "dokploy-js: installed $(cd "$prefix" && node -p 'Object.entries(require("./package.json").dependencies).map(([k, v]) => k + " " + v).join(", ")') into $prefix"
