// The page keeps a chat as Responses-shaped items (messages, function calls and their outputs); this module turns
// them into one client API's request: Responses input items, Chat Completions messages or Anthropic messages.

import { toolsFor } from "./tools.js";

export const APIS = {
  responses: { label: "Responses", path: "/v1/responses", contexts: ["previous_response_id", "conversation", "history"] },
  chat: { label: "Chat Completions", path: "/v1/chat/completions", contexts: ["previous_response_id", "history"] },
  messages: { label: "Anthropic Messages", path: "/v1/messages", contexts: ["history"] },
};

export const ANTHROPIC_MAX_TOKENS = 1024;

export function userMessage(text) {
  return { type: "message", role: "user", content: [{ type: "input_text", text }] };
}

export function toolOutput(callId, output) {
  return { type: "function_call_output", call_id: callId, output };
}

export function textOf(item) {
  const content = item.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part) => (typeof part?.text === "string" ? part.text : part?.refusal || "")).join("");
}

// A title for what these items say: the first text a user wrote.
export function chatTitleOf(items) {
  for (const item of items) {
    if (item.role !== "user") continue;
    const text = textOf(item).trim();
    if (text) return text.slice(0, 60);
  }
  return "";
}

// The request body of one turn. `plan` says what to send: {items, previousId, conversationId, store}.
export function buildBody(api, model, plan, toolNames, background) {
  const tools = toolsFor(api, toolNames);
  const extra = tools.length ? { tools } : {};
  if (api === "chat") {
    const metadata = plan.previousId ? { metadata: { response_id: plan.previousId } } : {};
    const messages = toChatMessages(plan.items);
    return { model, messages, stream: true, stream_options: { include_usage: true }, ...metadata, ...extra };
  }
  if (api === "messages") {
    const { system, messages } = toAnthropic(plan.items);
    const head = { model, max_tokens: ANTHROPIC_MAX_TOKENS };
    return { ...head, ...(system ? { system } : {}), messages, stream: true, ...extra };
  }
  const body = { model, input: plan.items.map(portable).filter(Boolean), stream: true, store: plan.store };
  if (plan.previousId) body.previous_response_id = plan.previousId;
  if (plan.conversationId) body.conversation = plan.conversationId;
  if (background) body.background = true;
  return { ...body, ...extra };
}

// An item as a client sends it back: without the ids and statuses the store gave it; reasoning stays behind (its
// opaque content belongs to the provider that made it).
function portable(item) {
  switch (item.type) {
    case "function_call":
      return { type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments || "{}" };
    case "function_call_output":
      return { type: "function_call_output", call_id: item.call_id, output: outputText(item.output) };
    case "message":
    case undefined: {
      const assistant = item.role === "assistant";
      const text = textOf(item);
      return { type: "message", role: item.role, content: [{ type: assistant ? "output_text" : "input_text", text }] };
    }
    default:
      return null;
  }
}

function outputText(output) {
  return typeof output === "string" ? output : JSON.stringify(output);
}

export function toChatMessages(items) {
  const messages = [];
  let assistant = null;
  for (const item of items) {
    if (item.type === "function_call") {
      if (!assistant) {
        assistant = { role: "assistant", content: null, tool_calls: [] };
        messages.push(assistant);
      }
      assistant.tool_calls = assistant.tool_calls || [];
      const call = { name: item.name, arguments: item.arguments || "{}" };
      assistant.tool_calls.push({ id: item.call_id, type: "function", function: call });
      continue;
    }
    assistant = null;
    if (item.type === "function_call_output") {
      messages.push({ role: "tool", tool_call_id: item.call_id, content: outputText(item.output) });
    } else if (item.type === "message" || item.type === undefined) {
      const role = item.role === "developer" ? "system" : item.role;
      const message = { role, content: textOf(item) };
      messages.push(message);
      if (role === "assistant") assistant = message;
    }
  }
  return messages;
}

export function toAnthropic(items) {
  const system = [];
  const messages = [];
  const push = (role, block) => {
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(block);
    else messages.push({ role, content: [block] });
  };
  for (const item of items) {
    if (item.type === "function_call") {
      push("assistant", { type: "tool_use", id: item.call_id, name: item.name, input: parseArguments(item.arguments) });
    } else if (item.type === "function_call_output") {
      push("user", { type: "tool_result", tool_use_id: item.call_id, content: outputText(item.output) });
    } else if (item.type === "message" || item.type === undefined) {
      const text = textOf(item);
      if (item.role === "system" || item.role === "developer") system.push(text);
      else if (text) push(item.role === "assistant" ? "assistant" : "user", { type: "text", text });
    }
  }
  return { system: system.join("\n\n"), messages };
}

function parseArguments(text) {
  try {
    const value = JSON.parse(text || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? value : { value };
  } catch {
    return { arguments: text };
  }
}

// `curl` for a request body, the key left as a shell variable.
export function curlOf(url, headers, body) {
  const quote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;
  const lines = [`curl -N ${quote(url)}`];
  for (const [name, value] of Object.entries(headers)) {
    const header = `${name}: ${value}`;
    lines.push(value.includes("$PLANO_API_KEY") ? `-H "${header}"` : `-H ${quote(header)}`);
  }
  if (body !== undefined) lines.push(`-d ${quote(JSON.stringify(body))}`);
  return lines.join(" \\\n  ");
}
