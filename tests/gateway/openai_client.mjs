// The official `openai` npm client pointed at the gateway (tests/gateway/e2e.sh):
//   node openai_client.mjs BASE_URL API_KEY
// Exits non-zero with a message on the first failed expectation.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const fail = (m) => { console.error("FAIL: " + m); process.exit(1); };

// Non-streaming.
const r = await client.chat.completions.create({
  model: "test/ok", max_tokens: 20, messages: [{ role: "user", content: "hello from node" }],
});
if (r.choices?.[0]?.message?.content !== "Hello from the stub.") fail("chat content: " + JSON.stringify(r));
if (r.usage?.completion_tokens !== 7) fail("usage: " + JSON.stringify(r.usage));
console.log("  node: chat ok");

// With the raw response: the decision headers.
const { response } = await client.chat.completions
  .create({ model: "test/ok", max_tokens: 20, messages: [{ role: "user", content: "hi" }] })
  .withResponse();
if (!/^[0-9A-Z]{26}$/.test(response.headers.get("x-tollgate-decision-id") ?? "")) fail("decision id header");
console.log("  node: decision id " + response.headers.get("x-tollgate-decision-id"));

// Streaming, chunk by chunk.
const stream = await client.chat.completions.create({
  model: "test/ok", max_tokens: 20, stream: true, messages: [{ role: "user", content: "stream please" }],
});
let text = "", chunks = 0;
for await (const c of stream) { chunks++; text += c.choices?.[0]?.delta?.content ?? ""; }
if (text !== "Hello from the stub.") fail("stream text: " + text);
console.log(`  node: stream ok (${chunks} chunks)`);

// A policy denial surfaces as the SDK's typed error with status and code.
try {
  await client.chat.completions.create({
    model: "test/ok", max_tokens: 20, messages: [{ role: "user", content: "this is forbidden" }],
  });
  fail("expected a 403");
} catch (e) {
  if (!(e instanceof OpenAI.PermissionDeniedError)) fail("expected PermissionDeniedError, got " + e);
  if (e.status !== 403 || e.code !== "policy_denied") fail(`status ${e.status} code ${e.code}`);
  console.log("  node: deny -> PermissionDeniedError " + e.code);
}

// Listing models.
const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
if (!ids.includes("test/ok")) fail("models: " + ids.join(","));
console.log("  node: models " + ids.length);
