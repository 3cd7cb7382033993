// Dokploy v0.30.2's YAML round trip with the npm package it pins (yaml 2.8.1, pnpm-lock.yaml): what
// addDomainToCompose reads (parse(text, {maxAliasCount: 10000})) and what writeDomainsToCompose and
// compose.getConvertedCompose write (stringify(value, {lineWidth: 1000})). For the stand-in (testkit/dokploy/yamljs.py):
// one JSON request per line on stdin, one JSON answer per line on stdout, until stdin closes.
//   {"parse": text}       -> {"value": <the parsed document>} | {"error": message}
//   {"stringify": value}  -> {"text": ...} | {"error": message}
//   {"version": true}     -> {"version": "2.8.1"}
// Numbers JSON cannot carry (Infinity, -Infinity, NaN, -0) travel as {"$yaml.number": "<String(n)>"}.
const readline = require("readline");
const { parse, stringify } = require("yaml");
const NUMBER = "$yaml.number";
const out = (v) => (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0)) ? { [NUMBER]: Object.is(v, -0) ? "-0" : String(v) } : v);
const into = (k, v) => (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && NUMBER in v ? Number(v[NUMBER]) : v);
const answer = (req) => {
  try {
    if ("parse" in req) return { value: parse(req.parse, { maxAliasCount: 10000 }) ?? null };
    if ("stringify" in req) return { text: stringify(req.stringify, { lineWidth: 1000 }) };
    if ("version" in req) return { version: require("yaml/package.json").version };
    return { error: "unknown request" };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
};
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  process.stdout.write(JSON.stringify(answer(JSON.parse(line, into)), (k, v) => out(v)) + "\n");
});
