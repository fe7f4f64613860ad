// Pages through every prediction with the official JavaScript client's `paginate` and prints
// {"pages": [sizes...], "ids": [...]} on stdout (tests/sandbox/test_js_client.py).
//
//   node paginate.mjs http://127.0.0.1:PORT        (or SANDBOX_BASE_URL=...)
import Replicate from "replicate";

const BASE = (process.argv[2] || process.env.SANDBOX_BASE_URL || "").replace(/\/+$/, "");
if (!BASE) {
  console.error("usage: node paginate.mjs <sandbox base url>");
  process.exit(2);
}

const replicate = new Replicate({ auth: "anything", baseUrl: `${BASE}/v1` });
const pages = [];
const ids = [];
for await (const page of replicate.paginate(replicate.predictions.list)) {
  pages.push(page.length);
  ids.push(...page.map((p) => p.id));
}
process.stdout.write(`${JSON.stringify({ pages, ids })}\n`);
