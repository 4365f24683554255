// The official `openai` npm client pointed at the gateway (tests/gateway/e2e.sh):
//   node openai_client.mjs BASE_URL API_KEY STUB_URL
// Exits non-zero with a message on the first failed expectation. STUB_URL is
// the stub upstream's (its /count/MODE counters); waits poll with deadlines.
import OpenAI from "openai";

const [baseURL, apiKey, stubURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const fail = (m) => { console.error("FAIL: " + m); process.exit(1); };

// Non-streaming.
const r = await client.chat.completions.create({
  model: "test/ok", max_tokens: 20, messages: [{ role: "user", content: "hello from node" }],
});
if (r.choices?.[0]?.message?.content !== "Hello from the stub.") fail("chat content: " + JSON.stringify(r));
if (r.usage?.completion_tokens !== 7) fail("usage: " + JSON.stringify(r.usage));
console.log("  node: chat ok");

// A bare model name, as an application written for one provider sends it:
// the catalog's one model of that name (`test/ok`).
const bare = await client.chat.completions.create({
  model: "ok", max_tokens: 20, messages: [{ role: "user", content: "hello from node" }],
});
if (bare.choices?.[0]?.message?.content !== "Hello from the stub.") fail("bare model name: " + JSON.stringify(bare));
console.log("  node: bare model name");

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

// An upstream that ignores `stream` and answers a whole JSON completion: the
// gateway sends it as the events of the stream, which the SDK's iterator and
// stream helper read (a JSON body relayed as it came would yield nothing).
{
  const s = await client.chat.completions.create({
    model: "test/jsonforstream", max_tokens: 20, stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: "stream please" }],
  });
  let t = "", usage = null;
  for await (const c of s) { t += c.choices?.[0]?.delta?.content ?? ""; usage = c.usage ?? usage; }
  if (t !== "Hello from the stub." || usage?.completion_tokens !== 7) fail("json for a stream: " + t + " " + JSON.stringify(usage));
  const runner = (client.chat.completions.stream ? client.chat.completions : client.beta.chat.completions).stream({
    model: "test/jsonforstream", max_tokens: 20, messages: [{ role: "user", content: "stream please" }],
  });
  const final = await runner.finalChatCompletion();
  if (final.choices[0].message.content !== "Hello from the stub." || final.choices[0].finish_reason !== "stop") {
    fail("json for a stream, helper: " + JSON.stringify(final));
  }
  console.log("  node: a JSON answer to a stream reads as the stream");
}

// A provider that answers 200, then fails before its first chunk (an error
// event first): nothing reached the client, so the next endpoint answers
// the stream. Before, the SDK threw the provider's error (or, from an empty
// stream, "stream ended without producing a ChatCompletionMessage").
{
  const before = Number(await (await fetch(`${stubURL}/count/streamfail`)).text());
  const runner = (client.chat.completions.stream ? client.chat.completions : client.beta.chat.completions).stream({
    model: "test/streamfail", max_tokens: 20, messages: [{ role: "user", content: "stream please" }],
  });
  const final = await runner.finalChatCompletion();
  if (final.choices[0].message.content !== "Hello from the stub.") fail("stream fallback: " + JSON.stringify(final));
  const after = Number(await (await fetch(`${stubURL}/count/streamfail`)).text());
  if (after !== before + 1) fail(`stream fallback: the failing endpoint was asked ${after - before} times`);
  console.log("  node: a stream failing before its first chunk falls back");
}

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
// models.retrieve: GET /v1/models/{id}, the id with its slash as it is.
const m = await client.models.retrieve("test/ok");
if (m.id !== "test/ok" || m.object !== "model") fail("models.retrieve: " + JSON.stringify(m));
try {
  await client.models.retrieve("no/such-model");
  fail("models.retrieve of an unknown model");
} catch (e) {
  if (!(e instanceof OpenAI.NotFoundError) || e.code !== "model_not_found") fail("retrieve unknown: " + e);
}
const bareModel = await client.models.retrieve("ok");
if (bareModel.id !== "test/ok") fail("models.retrieve of a bare name: " + JSON.stringify(bareModel));
console.log("  node: models.retrieve (a bare name too, and 404 model_not_found)");

// --- what real applications send and expect ---

// The documented streaming loop reads chunk.choices[0].delta: the gateway asks
// the upstream for the usage chunk (choices: []) but must not pass it on to a
// caller that did not ask for it.
{
  const s = await client.chat.completions.create({
    model: "test/ok", stream: true, messages: [{ role: "user", content: "stream please" }],
  });
  let t = "";
  for await (const chunk of s) t += chunk.choices[0].delta.content || "";
  if (t !== "Hello from the stub.") fail("naive stream loop: " + t);
  console.log("  node: stream without stream_options has no usage-only chunk");
}
// A caller that asks for usage gets the usage chunk.
{
  const s = await client.chat.completions.create({
    model: "test/ok", stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: "stream please" }],
  });
  let usage = null, empty = 0;
  for await (const c of s) { if (c.usage) usage = c.usage; if (c.choices.length === 0) empty++; }
  if (usage?.completion_tokens !== 7 || empty !== 1) fail("include_usage: " + JSON.stringify(usage) + " " + empty);
  console.log("  node: stream_options.include_usage -> usage chunk");
}

// The SDK's stream helper accumulates the final completion (it needs the
// first delta's role, and the usage chunk when asked for).
{
  const runner = (client.chat.completions.stream ? client.chat.completions : client.beta.chat.completions).stream({
    model: "test/ok", stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }],
  });
  const final = await runner.finalChatCompletion();
  if (final.choices[0].message.content !== "Hello from the stub." || final.usage?.completion_tokens !== 7) {
    fail("stream helper: " + JSON.stringify(final));
  }
  console.log("  node: beta.chat.completions.stream -> finalChatCompletion");
}

// A stream the upstream cuts ends with an error event the SDK throws as an
// APIError; the connection stays usable: the agent reuses it at once, and
// the next request (no retries) must not hang up.
for (let i = 0; i < 5; i++) {
  try {
    const s = await client.chat.completions.create({
      model: "test/cut", stream: true, messages: [{ role: "user", content: "cut me" }],
    });
    for await (const c of s) { /* the chunks before the cut */ }
    fail("cut stream: no error");
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.code !== "upstream_stream_cut") fail("cut stream: " + e);
  }
  await client.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content: "after the cut" }] });
}
console.log("  node: a cut stream throws upstream_stream_cut; the next request on the connection succeeds");
// The same when the upstream dies in the middle of an event: the torn event
// is not relayed, so the SDK still reads the gateway's error event (glued
// to the torn JSON it threw a SyntaxError), with and without include_usage.
for (const extra of [{}, { stream_options: { include_usage: true } }]) {
  let text = "";
  try {
    const s = await client.chat.completions.create({
      model: "test/cutmid", stream: true, messages: [{ role: "user", content: "cut me mid-event" }], ...extra,
    });
    for await (const c of s) text += c.choices?.[0]?.delta?.content ?? "";
    fail("cut mid-event: no error");
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.code !== "upstream_stream_cut" || text !== "Hello") {
      fail(`cut mid-event: ${e.constructor.name} ${e.code} ${e.message} after ${JSON.stringify(text)}`);
    }
  }
}
console.log("  node: a stream cut inside an event throws upstream_stream_cut after the whole chunks");

// The request shapes of tool-using and multimodal applications.
const tools = [{ type: "function", function: { name: "get_weather", description: "weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const shapes = {
  "tools + tool_choice": { tools, tool_choice: { type: "function", function: { name: "get_weather" } },
    parallel_tool_calls: false, messages: [{ role: "user", content: "weather in Paris?" }] },
  "assistant tool_calls with null content, tool result": { tools, tool_choice: "auto", messages: [
    { role: "developer", content: "be brief" },
    { role: "user", content: "weather?" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function",
      function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "sunny" }] },
  "content parts (text + image_url)": { messages: [{ role: "user", content: [
    { type: "text", text: "what is this?" },
    { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" } }] }] },
  "max_completion_tokens, response_format, n, user, metadata, seed": {
    max_completion_tokens: 50, n: 2, user: "user-1", metadata: { app: "e2e" }, seed: 42, store: false,
    response_format: { type: "json_schema", json_schema: { name: "r", strict: true,
      schema: { type: "object", properties: { a: { type: "string" } }, required: ["a"] } } },
    messages: [{ role: "system", content: [{ type: "text", text: "json only" }] }, { role: "user", content: "hi" }] },
};
for (const [name, body] of Object.entries(shapes)) {
  const r = await client.chat.completions.create({ model: "test/ok", ...body });
  if (r.choices?.[0]?.message?.content !== "Hello from the stub.") fail(name + ": " + JSON.stringify(r));
}
console.log(`  node: ${Object.keys(shapes).length} request shapes (tools, tool results, parts, parameters) answered`);

// Structured outputs and strict tools at the nesting OpenAI allows (10
// levels of objects), written as Pydantic and zod write them: each level an
// optional list of the next (`anyOf` with null, `items`). That is 5 JSON
// levels per schema level, ~56 in the decision input: the body must not be
// refused as nesting too deeply (the decoder's limit was once 32 levels).
{
  const level = (k) => k === 0 ? { type: "string" } : {
    type: "object", additionalProperties: false, required: ["name", "children"],
    properties: { name: { type: "string" }, children: { anyOf: [{ type: "array", items: level(k - 1) }, { type: "null" }] } },
  };
  const schema = level(10);
  const r1 = await client.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content: "a tree" }],
    response_format: { type: "json_schema", json_schema: { name: "tree", strict: true, schema } } });
  const r2 = await client.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content: "a tree" }],
    tools: [{ type: "function", function: { name: "make_tree", strict: true, parameters: schema } }] });
  for (const r of [r1, r2]) if (r.choices?.[0]?.message?.content !== "Hello from the stub.") fail("deep schema: " + JSON.stringify(r));
  console.log("  node: a 10-level structured-output schema and tool parameters answered");
}

// The decision headers on every answer, read through withResponse.
{
  const { data, response } = await client.chat.completions
    .create({ model: "test/ok", messages: [{ role: "user", content: "hi" }] }).withResponse();
  if (!data.choices || !/^sha256:/.test(response.headers.get("x-tollgate-policy-version") ?? "")) fail("policy version header");
}

// Errors: the SDK's typed error with status, code, type and message from the
// error body, for each status the gateway answers.
async function expectError(what, f, Cls, status, code, type) {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof Cls) || e.status !== status || e.code !== code || (type && e.type !== type) ||
        !e.message.startsWith(`${status} `) || e.message.length < 8) {
      fail(`${what}: ${e.constructor.name} status ${e.status} code ${e.code} type ${e.type} message ${e.message}`);
    }
    return e;
  }
  fail(what + ": no error");
}
const chat = (c, content, extra = {}) => () =>
  c.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content }], ...extra });
await expectError("401", chat(new OpenAI({ baseURL, apiKey: "sk-nobody", maxRetries: 0 }), "hi"),
  OpenAI.AuthenticationError, 401, "invalid_api_key", "authentication_error");
await expectError("403", chat(client, "this is forbidden"), OpenAI.PermissionDeniedError, 403, "policy_denied", "permission_error");
await expectError("400", chat(client, "hi", { max_tokens: -1 }), OpenAI.BadRequestError, 400, "input_invalid_value", "invalid_request_error");
await expectError("404", () => client.get("/nowhere"), OpenAI.NotFoundError, 404, "not_found");
await expectError("402", chat(client, "pay me now"), OpenAI.APIError, 402, "policy_denied");
// A body over the limit while the client is still sending it: the answer
// is read (a lingering close), not a connection reset.
await expectError("413", chat(client, "a".repeat(10_000_000)), OpenAI.APIError, 413, "request_too_large");
await expectError("502", chat(client, "hi", { model: "test/allfail" }), OpenAI.InternalServerError, 502, "upstream_unavailable", "api_error");
// A policy refusal with a 5xx or 429 status does not change on a retry: the
// SDK (2 retries by default) must not send it again.
const metric = async (line) => {
  const text = await (await fetch(baseURL.replace(/\/v1$/, "") + "/metrics")).text();
  const m = text.split("\n").find((l) => l.startsWith(line + " "));
  return m ? Number(m.split(" ").pop()) : 0;
};
const overloaded = 'tollgate_decisions_total{outcome="deny",code="policy_denied",rule="overloaded"}';
const before = await metric(overloaded);
const retrying = new OpenAI({ baseURL, apiKey });  // maxRetries: 2
const t0 = Date.now();
const e503 = await expectError("503 policy deny", chat(retrying, "busy please"), OpenAI.InternalServerError, 503, "policy_denied");
const header = (e, k) => (typeof e.headers?.get === "function" ? e.headers.get(k) : e.headers?.[k]);
if (header(e503, "x-should-retry") !== "false") fail("503 policy deny: x-should-retry " + header(e503, "x-should-retry"));
if ((await metric(overloaded)) !== before + 1 || Date.now() - t0 > 400) fail("503 policy deny was retried");
console.log("  node: 400/401/402/403/404/413/502/503 as typed errors; a policy 503 is not retried");

// A model the catalog does not know is OpenAI's 404 model_not_found, which
// the SDK throws as NotFoundError (streamed or not); a known model the policy
// routes nowhere (the EU key's `eu_stays_in_eu` against test/tier's US-only
// endpoints) stays the policy's 403, naming the rule.
for (const stream of [false, true]) {
  const e = await expectError(`unknown model (stream ${stream})`, chat(client, "hi", { model: "no/such-model", stream }),
    OpenAI.NotFoundError, 404, "model_not_found", "invalid_request_error");
  if (e.param !== null || !e.message.includes("`no/such-model` does not exist")) fail("unknown model: " + e.message + " " + e.param);
}
{
  const eu = new OpenAI({ baseURL, apiKey: "sk-eu", maxRetries: 0 });
  const e = await expectError("policy routes nowhere", chat(eu, "hi", { model: "test/tier" }),
    OpenAI.PermissionDeniedError, 403, "route_no_eligible_endpoint", "permission_error");
  if (!e.message.includes("rule `eu_stays_in_eu`")) fail("policy routes nowhere: " + e.message);
}
console.log("  node: unknown model -> NotFoundError model_not_found; a policy-eliminated model stays 403");

// OpenAI's `param` names the body member an input error concerns (the SDK's
// error.param), an index as a member of its own.
for (const [what, extra, param] of [
  ["messages not a list", { messages: "hi" }, "messages"],
  ["content a number", { messages: [{ role: "user", content: 5 }] }, "messages.[0].content"],
  ["temperature a string", { temperature: "hot" }, "temperature"],
  ["model a number", { model: 5 }, "model"],
]) {
  const e = await expectError(what, chat(client, "hi", extra), OpenAI.BadRequestError, 400, "input_wrong_type",
    "invalid_request_error");
  if (e.param !== param) fail(`${what}: param ${JSON.stringify(e.param)}, not ${param}`);
}
console.log("  node: input errors carry param (messages, messages.[0].content, temperature, model)");

// The deprecated functions API as older clients and LangChain still send it:
// an assistant `function_call` with null content, then the `function`
// message with the result, whose content may be null too.
{
  const functions = [{ name: "get_weather", parameters: { type: "object", properties: {} } }];
  for (const result of [null, "sunny"]) {
    const r = await client.chat.completions.create({ model: "test/ok", functions, messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "{}" } },
      { role: "function", name: "get_weather", content: result }] });
    if (r.choices?.[0]?.message?.content !== "Hello from the stub.") fail("function message: " + JSON.stringify(r));
  }
  console.log("  node: function messages with null content (and assistant function_call) answered");
}

// A stream the caller abandons part-way (stream.controller.abort()): the
// gateway stops reading the upstream, and serves on.
{
  const count = async (mode) => Number(await (await fetch(`${stubURL}/count/${mode}`)).text());
  const gone = await count("drip-gone");
  const s = await client.chat.completions.create({
    model: "test/drip", stream: true, messages: [{ role: "user", content: "a long answer" }],
  });
  // Abort, then leave the loop: chunks the SDK had already read in the same
  // socket read (a loaded machine) would otherwise still be yielded after
  // the abort, which says nothing of the gateway.
  let n = 0;
  for await (const c of s) { if (++n === 3) { s.controller.abort(); break; } }
  if (n !== 3) fail("abort: " + n + " chunks");
  const deadline = Date.now() + 5000;
  while ((await count("drip-gone")) === gone) {
    if (Date.now() > deadline) fail("the upstream stream was not closed after the client aborted");
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await client.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content: "still there?" }] });
  if (r.choices[0].message.content !== "Hello from the stub.") fail("after abort");
  console.log("  node: stream aborted part-way, upstream closed, gateway serves on");
}

// The same while the upstream is silent (a model thinking for 2.5 s): the
// gateway notices the client leave at once and closes the upstream
// connection, so the provider stops generating (the stub sees it).
{
  const count = async (mode) => Number(await (await fetch(`${stubURL}/count/${mode}`)).text());
  const gone = await count("pause-gone");
  const s = await client.chat.completions.create({
    model: "test/pause", stream: true, messages: [{ role: "user", content: "think hard" }],
  });
  const t0 = Date.now();
  for await (const c of s) { s.controller.abort(); }
  const deadline = Date.now() + 1500;
  while ((await count("pause-gone")) === gone) {
    if (Date.now() > deadline) fail("the upstream was not closed while silent after the client aborted");
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`  node: abort during the upstream's silence closed it after ${Date.now() - t0} ms`);
}

// The same for a non-streamed answer (the SDK's AbortSignal, or a client
// timeout): the gateway closes the upstream at once instead of waiting out
// the generation, and serves on.
{
  const count = async (mode) => Number(await (await fetch(`${stubURL}/count/${mode}`)).text());
  const gone = await count("pause-nostream-gone");
  const ac = new AbortController();
  const p = client.chat.completions.create(
    { model: "test/pause", messages: [{ role: "user", content: "think hard" }] },
    { signal: ac.signal, maxRetries: 0 });
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 300);
  try {
    await p;
    fail("the aborted request answered");
  } catch (e) {
    if (!(e instanceof OpenAI.APIUserAbortError)) fail("abort: " + e);
  }
  // Before the gateway's 1.5 s first-byte timeout (e2e.sh), which would
  // also close it.
  const deadline = t0 + 1300;
  while ((await count("pause-nostream-gone")) === gone) {
    if (Date.now() > deadline) fail("the upstream was not closed after the client left a non-streamed request");
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await client.chat.completions.create({ model: "test/ok", messages: [{ role: "user", content: "still there?" }] });
  if (r.choices[0].message.content !== "Hello from the stub.") fail("after a non-streamed abort");
  console.log(`  node: a non-streamed request abandoned after 300 ms closed the upstream after ${Date.now() - t0} ms`);
}

// Many streams at once, a third of them abandoned part-way.
{
  const one = async (i) => {
    const s = await client.chat.completions.create({
      model: "test/ok", stream: true, messages: [{ role: "user", content: "parallel " + i }],
    });
    let t = "";
    for await (const c of s) {
      t += c.choices[0].delta.content || "";
      if (i % 3 === 0) { s.controller.abort(); return "aborted"; }
    }
    return t;
  };
  const results = await Promise.all(Array.from({ length: 48 }, (_, i) => one(i)));
  const bad = results.filter((t, i) => t !== (i % 3 === 0 ? "aborted" : "Hello from the stub."));
  if (bad.length) fail("parallel streams: " + JSON.stringify(bad.slice(0, 3)));
  console.log("  node: 48 parallel streams, 16 aborted");
}
