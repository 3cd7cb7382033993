// The real npm packages Dokploy v0.30.2 pins (dotenv 16.4.5, shell-quote 1.8.3), for
// tests/testkit/test_dokploy_envtext.py: reads {"parse": [texts], "quote": [values]} as JSON on stdin,
// prints {"parse": [dotenv.parse(text)], "quote": [quote([value])]}.
const { parse } = require("dotenv");
const quote = require("shell-quote/quote");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  const out = { parse: (req.parse || []).map((t) => parse(t)), quote: (req.quote || []).map((v) => quote([v])) };
  process.stdout.write(JSON.stringify(out));
});
