// Drives the official JavaScript client (npm `replicate`, pinned in package.json) against a
// sandbox and prints one JSON summary on stdout for tests/sandbox/test_js_client.py.
//
//   node run_and_stream.mjs http://127.0.0.1:PORT        (or SANDBOX_BASE_URL=...)
//
// The base URL is the sandbox's, without /v1: the JavaScript client wants it WITH /v1.
import Replicate from "replicate";

const BASE = (process.argv[2] || process.env.SANDBOX_BASE_URL || "").replace(/\/+$/, "");
if (!BASE) {
  console.error("usage: node run_and_stream.mjs <sandbox base url>");
  process.exit(2);
}

const HELLO_VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa";
const SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc";
const LLAMA = "meta/meta-llama-3-8b-instruct";
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const replicate = new Replicate({ auth: "anything", baseUrl: `${BASE}/v1` });
const summary = {};

// (a) run by model name: only official models run by name, as on api.replicate.com
try {
  await replicate.run("replicate/hello-world", { input: { text: "js" } });
  summary.hello_by_name = { thrown: false };
} catch (err) {
  summary.hello_by_name = {
    thrown: true,
    name: err.name,
    status: err.response ? err.response.status : null,
    names_the_version: String(err.message).includes(`replicate/hello-world:${HELLO_VERSION}`),
  };
}

// (b) run by owner/name:version
summary.hello_by_version = await replicate.run(`replicate/hello-world:${HELLO_VERSION}`, {
  input: { text: "version" },
});

// (c) stream an LLM and compare with run() of the same input
const llamaInput = { prompt: "hi", max_tokens: 20 };
const streamed = [];
const eventNames = [];
let doneData = null;
for await (const event of replicate.stream(LLAMA, { input: llamaInput })) {
  eventNames.push(event.event);
  if (event.event === "output") {
    streamed.push(String(event.data));
  } else if (event.event === "done") {
    doneData = event.data;
    break;
  } else if (event.event === "error") {
    throw new Error(`stream error event: ${event.data}`);
  }
}
const ran = await replicate.run(LLAMA, { input: llamaInput });
summary.stream = {
  events: eventNames,
  output_count: streamed.length,
  text: streamed.join(""),
  done_data: doneData,
};
summary.llama_run = {
  is_array: Array.isArray(ran),
  count: Array.isArray(ran) ? ran.length : null,
  text: Array.isArray(ran) ? ran.join("") : String(ran),
};

// (d) an image: FileOutput from a data: URI
const images = await replicate.run(SDXL, {
  input: { prompt: "x", width: 64, height: 64, seed: 1 },
});
const first = Array.isArray(images) ? images[0] : images;
const blob = await first.blob();
const bytes = new Uint8Array(await blob.arrayBuffer());
summary.image = {
  is_array: Array.isArray(images),
  count: Array.isArray(images) ? images.length : null,
  constructor: first && first.constructor ? first.constructor.name : null,
  url_scheme: typeof first.url === "function" ? String(first.url()).split(":")[0] : null,
  size: bytes.length,
  png_signature: PNG_SIGNATURE.every((b, i) => bytes[i] === b),
  blob_type: blob.type,
};

// (e) search (the client sends the query JSON-quoted) and pagination of predictions
const search = await replicate.models.search("llama");
summary.search = {
  keys: Object.keys(search).sort(),
  refs: search.results.map((m) => `${m.owner}/${m.name}`),
};
const pages = [];
for await (const page of replicate.paginate(replicate.predictions.list)) {
  pages.push(page.map((p) => ({ id: p.id, model: p.model, status: p.status })));
}
const all = pages.flat();
summary.paginate = {
  pages: pages.length,
  total: all.length,
  unique_ids: new Set(all.map((p) => p.id)).size,
  hello_inputs_seen: all.filter((p) => p.model === "replicate/hello-world").length,
  statuses: [...new Set(all.map((p) => p.status))].sort(),
};

// (f) an API error surfaces as ApiError with the response's status and problem+json body
try {
  await replicate.models.get("no-such-owner", "no-such-model");
  summary.not_found = { thrown: false };
} catch (err) {
  summary.not_found = {
    thrown: true,
    name: err.name,
    status: err.response ? err.response.status : null,
    content_type: err.response ? err.response.headers.get("content-type") : null,
  };
}

process.stdout.write(`${JSON.stringify(summary)}\n`);
