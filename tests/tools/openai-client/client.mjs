// Runs one call of the official openai npm client and prints what it got as one JSON line, so the C# tests can
// assert what a stock SDK sees from ullmd (parsing, streaming, error shapes) rather than what our own parser sees.
//
// Input (stdin, JSON): { "baseURL", "apiKey", "op", "params", "path", "clientCertificate" }
//   op: chat | completions | embeddings | responses | responses.retrieve | responses.delete | responses.input_items
//   params: the SDK call's argument (add "stream": true to stream); path: the id for retrieve/delete/input_items.
//   clientCertificate: { "cert", "key" } PEM file paths for TLS client authentication (sent through an https.Agent);
//   the CA that signed ullmd's certificate comes from NODE_EXTRA_CA_CERTS, as a user of the SDK would set it.
// Output (stdout, JSON): { "ok": true, "status", "headers", "result" } where result is the SDK's object, or for a
// stream { "events": [every chunk/event in order] }; on an error { "ok": false, "status", "error", "message" }.
import { readFileSync } from "node:fs";
import https from "node:https";
import OpenAI from "openai";

const input = JSON.parse(await readStdin());
const tls = input.clientCertificate;
const httpAgent = tls ? new https.Agent({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }) : undefined;
const client = new OpenAI({ baseURL: input.baseURL, apiKey: input.apiKey ?? "none", maxRetries: 0, timeout: 120000, httpAgent });

const calls = {
  chat: (p) => client.chat.completions.create(p),
  completions: (p) => client.completions.create(p),
  embeddings: (p) => client.embeddings.create(p),
  responses: (p) => client.responses.create(p),
  "responses.retrieve": () => client.responses.retrieve(input.path),
  "responses.delete": () => client.responses.del(input.path),
  "responses.input_items": (p) => client.responses.inputItems.list(input.path, p ?? {}),
};

const call = calls[input.op];
if (!call) {
  process.stdout.write(JSON.stringify({ ok: false, message: `unknown op '${input.op}'` }) + "\n");
  process.exit(2);
}

try {
  const { data, response } = await call(input.params ?? {}).withResponse();
  const headers = Object.fromEntries(response.headers.entries());
  let result;
  if (input.params?.stream) {
    const events = [];
    for await (const event of data) events.push(event);
    result = { events };
  } else if (input.op === "responses.input_items") {
    result = { data: data.data, has_more: data.has_more };
  } else {
    result = data;
  }
  process.stdout.write(JSON.stringify({ ok: true, status: response.status, headers, result }) + "\n");
} catch (e) {
  const status = e instanceof OpenAI.APIError ? e.status ?? null : null;
  const error = e instanceof OpenAI.APIError ? e.error ?? null : null;
  process.stdout.write(JSON.stringify({ ok: false, status, error, message: String(e?.message ?? e) }) + "\n");
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}
