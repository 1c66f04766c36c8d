// One turn on screen: who answered it (model, provider, client API, context), what was sent, the answer rendered as
// Markdown with its raw text one click away, function calls with their arguments and a box for each output.

import { APIS, textOf } from "./formats.js";
import { renderMarkdown } from "./markdown.js";

const CONTEXT_LABELS = { previous_response_id: "previous_response_id", conversation: "conversation", history: "history" };
const raw = new Set(); // "turn:item" keys shown as raw text

// handlers: {inspect(i), fork(i), cancel(i), sendOutputs(i, outputs)}; options: {last, busy}, `last` being true for
// the chat's last turn.
export function renderTurn(turn, index, handlers, options) {
  const node = el("li", "turn");
  node.dataset.index = String(index);
  const inputs = el("div", "turn-inputs");
  for (const item of turn.input) inputs.append(inputNode(item));
  node.append(el("div", "turn-head"), inputs, el("div", "turn-outputs"), el("div", "turn-foot"));
  patchTurn(node, turn, index, handlers, options);
  return node;
}

// Brings a turn on screen up to date, replacing only the parts that changed: while an answer streams in, its text
// is redrawn, but no button or box is swapped under the pointer or the cursor.
export function patchTurn(node, turn, index, handlers, { last, busy }) {
  node.dataset.status = turn.status;
  const headSignature = [turn.status, turn.provider, turn.responseId, turn.model, busy].join("|");
  replaceIfChanged(node.querySelector(".turn-head"), headSignature, () => head(turn, index, handlers, busy));
  const outputs = node.querySelector(".turn-outputs");
  turn.output.forEach((item, position) => patchOutput(outputs, turn, index, item, position));
  while (outputs.children.length > turn.output.length) outputs.lastChild.remove();
  const calls = turn.output.filter((item) => item.type === "function_call");
  const asking = last && calls.length && !busy && turn.status !== "streaming";
  const footSignature = [turn.status === "streaming" && !turn.output.length, turn.error, asking && calls.map((c) => c.call_id)];
  replaceIfChanged(node.querySelector(".turn-foot"), JSON.stringify(footSignature), () => {
    const foot = el("div", "turn-foot");
    if (turn.status === "streaming" && !turn.output.length) foot.append(el("p", "waiting", "waiting for the answer…"));
    if (turn.error) foot.append(el("p", "error", turn.error));
    if (asking) foot.append(outputsForm(calls, index, handlers));
    return foot;
  });
}

function replaceIfChanged(slot, signature, build) {
  if (slot.dataset.signature === signature) return;
  const fresh = build();
  fresh.dataset.signature = signature;
  slot.replaceWith(fresh);
}

function patchOutput(outputs, turn, index, item, position) {
  const slot = outputs.children[position];
  const streaming = turn.status === "streaming";
  if (item.type === "message" && slot?.dataset.kind === "message") {
    updateMessage(slot, item, streaming);
    return;
  }
  const signature = item.type === "message" ? "message" : `${item.type}|${JSON.stringify(item).length}|${streaming}`;
  if (slot && slot.dataset.signature === signature) return;
  const fresh = outputNode(turn, index, item, position);
  fresh.dataset.signature = signature;
  if (slot) slot.replaceWith(fresh);
  else outputs.append(fresh);
}

function head(turn, index, handlers, busy) {
  const header = el("div", "turn-head");
  header.append(el("span", "turn-n", `#${index + 1}`));
  header.append(el("span", "turn-model", turn.model || "items added"));
  if (turn.provider) header.append(el("span", "turn-provider", turn.provider));
  const via = turn.fromStore ? "stored" : `${APIS[turn.api]?.label || turn.api} · ${CONTEXT_LABELS[turn.context]}`;
  if (turn.model) header.append(el("span", "turn-via", via));
  if (turn.background) header.append(el("span", "badge", "background"));
  header.append(el("span", `turn-status status-${turn.status}`, turn.status));
  const actions = el("span", "turn-actions");
  if (turn.model) actions.append(button("Inspect", () => handlers.inspect(index), `Inspect turn ${index + 1}`));
  if (turn.status !== "streaming" && (turn.responseId || turn.input.length) && !busy) {
    actions.append(button("Fork", () => handlers.fork(index), `Fork from turn ${index + 1}`));
  }
  if (turn.background && turn.responseId && turn.status === "streaming") {
    actions.append(button("Cancel", () => handlers.cancel(index), `Cancel turn ${index + 1}`));
  }
  header.append(actions);
  return header;
}

function inputNode(item) {
  if (item.type === "function_call_output") {
    const node = el("div", "msg tool-output");
    node.append(el("span", "label", `output of ${item.call_id}`), el("pre", "", String(item.output)));
    return node;
  }
  if (item.type === "function_call") return callNode(item, "history");
  const role = item.role || "user";
  const node = el("div", `msg ${role === "assistant" ? "assistant history" : "user"}`);
  node.append(el("span", "label", role), el("div", "text", textOf(item)));
  return node;
}

function outputNode(turn, index, item, position) {
  if (item.type === "function_call") return callNode(item, "call");
  if (item.type === "reasoning") {
    const text = item.reasoning_text || (item.summary || []).map((part) => part.text).join("\n");
    if (!text) return el("span", "");
    const details = el("details", "reasoning");
    details.append(el("summary", "", "Reasoning"), el("pre", "", text));
    return details;
  }
  if (item.type !== "message") return el("span", "");
  const key = `${index}:${position}`;
  const node = el("div", "msg assistant");
  node.dataset.kind = "message";
  const top = el("div", "msg-top");
  top.append(el("span", "label", "assistant"));
  const toggle = button("Raw", () => {
    if (raw.has(key)) raw.delete(key);
    else raw.add(key);
    node.dataset.shown = "";
    updateMessage(node, item, turn.status === "streaming");
  });
  toggle.classList.add("small", "raw-toggle");
  top.append(toggle);
  node.dataset.key = key;
  node.append(top, el("div", "markdown"));
  updateMessage(node, item, turn.status === "streaming");
  return node;
}

// The message's text, as Markdown or raw, redrawn only when it changed.
function updateMessage(node, item, streaming) {
  const text = textOf(item);
  const showRaw = raw.has(node.dataset.key);
  const shown = `${showRaw}|${streaming}|${text.length}`;
  if (node.dataset.shown === shown) return;
  node.dataset.shown = shown;
  const toggle = node.querySelector(".raw-toggle");
  toggle.textContent = showRaw ? "Rendered" : "Raw";
  toggle.setAttribute("aria-pressed", String(showRaw));
  const body = showRaw ? el("pre", "raw", text) : el("div", "markdown");
  if (!showRaw) {
    body.append(renderMarkdown(text));
    if (streaming) body.append(el("span", "caret", "▍"));
  }
  node.lastChild.replaceWith(body);
}

function callNode(item, kind) {
  const node = el("div", `msg call ${kind}`);
  node.append(el("span", "label", `function call · ${item.call_id || ""}`));
  node.append(el("code", "call-name", item.name || "(unnamed)"));
  node.append(el("pre", "call-args", pretty(item.arguments)));
  return node;
}

function outputsForm(calls, index, handlers) {
  const form = el("form", "outputs");
  form.append(el("p", "label", "Type each function's output, then send it back."));
  const boxes = calls.map((call) => {
    const id = `output-${index}-${call.call_id}`;
    const label = el("label", "", `Output of ${call.name}`);
    label.htmlFor = id;
    const box = el("textarea", "");
    box.id = id;
    box.rows = 2;
    box.dataset.callId = call.call_id;
    form.append(label, box);
    return box;
  });
  const send = button("Send outputs", () => {});
  send.type = "submit";
  send.classList.add("primary");
  form.append(send);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    handlers.sendOutputs(index, boxes.map((box) => ({ callId: box.dataset.callId, output: box.value })));
  });
  return form;
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text || "{}"), null, 2);
  } catch {
    return text || "";
  }
}

export function button(label, onClick, ariaLabel) {
  const node = el("button", "", label);
  node.type = "button";
  if (ariaLabel) node.setAttribute("aria-label", ariaLabel);
  node.addEventListener("click", onClick);
  return node;
}

export function el(name, className, text) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
