// Reading one turn's stream, whichever client API it speaks: each event is logged with its arrival time (and its
// sequence number, on the Responses API) and folded into the turn's output items, status, usage and timings.

const CONTENT_EVENTS = new Set([
  "response.output_text.delta",
  "response.function_call_arguments.delta",
  "response.reasoning_summary_text.delta",
  "response.reasoning_text.delta",
  "response.refusal.delta",
]);
const FINAL_STATUSES = new Set(["completed", "incomplete", "failed", "cancelled"]);

export function readerFor(api, turn) {
  const fold = { responses: foldResponses, chat: foldChat, messages: foldMessages }[api];
  return {
    // Returns true once the stream has said it is finished.
    feed(eventName, dataText) {
      const now = Date.now();
      const data = dataText === "[DONE]" ? "[DONE]" : parseJson(dataText);
      const type = eventName || data?.type || (api === "chat" ? "chunk" : "message");
      const sequence = typeof data?.sequence_number === "number" ? data.sequence_number : null;
      turn.events.push({ n: turn.events.length, seq: sequence, t: now - turn.timing.start, type, data });
      if (sequence !== null) turn.lastSeq = sequence;
      const content = fold(turn, type, data);
      if (content && turn.timing.first === null) turn.timing.first = now;
      turn.timing.end = now;
      return FINAL_STATUSES.has(turn.status);
    },
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function foldResponses(turn, type, data) {
  const response = data?.response;
  if (response && typeof response === "object") {
    turn.responseId = response.id || turn.responseId;
    if (FINAL_STATUSES.has(response.status)) {
      if (Array.isArray(response.output) && response.output.length) turn.output = response.output;
      turn.usage = usageOf(response.usage) || turn.usage;
      turn.error = response.error?.message || turn.error;
      turn.status = response.status;
    }
    return false;
  }
  if (type === "error") {
    turn.error = data?.message || data?.error?.message || "error";
    turn.status = "failed";
    return false;
  }
  const index = data?.output_index;
  if (type === "response.output_item.added" || type === "response.output_item.done") {
    turn.output[index] = structuredClone(data.item);
    return type === "response.output_item.added" && data.item?.type === "function_call";
  }
  const item = turn.output[index];
  if (!item) return false;
  if (type === "response.output_text.delta" || type === "response.refusal.delta") {
    item.content = item.content || [];
    const part = (item.content[data.content_index] ||= { type: "output_text", text: "" });
    part.text = (part.text || "") + data.delta;
  } else if (type === "response.function_call_arguments.delta") {
    item.arguments = (item.arguments || "") + data.delta;
  } else if (type === "response.reasoning_summary_text.delta" || type === "response.reasoning_text.delta") {
    item.reasoning_text = (item.reasoning_text || "") + data.delta;
  }
  return CONTENT_EVENTS.has(type);
}

function foldChat(turn, type, data) {
  if (data === "[DONE]") {
    if (turn.status === "streaming") turn.status = "completed";
    return false;
  }
  if (data?.error) {
    turn.error = data.error.message || "error";
    turn.status = "failed";
    return false;
  }
  turn.responseId = turn.responseId || data?.id;
  if (data?.usage) turn.usage = usageOf(data.usage);
  let content = false;
  for (const choice of data?.choices || []) {
    const delta = choice.delta || {};
    if (typeof delta.content === "string" && delta.content) {
      appendText(turn, delta.content);
      content = true;
    }
    for (const call of delta.tool_calls || []) {
      const item = callAt(turn, `chat:${call.index}`, call.id, call.function?.name);
      item.arguments += call.function?.arguments || "";
      content = true;
    }
  }
  return content;
}

function foldMessages(turn, type, data) {
  if (type === "message_start") {
    turn.responseId = data.message?.id;
    turn.usage = usageOf(data.message?.usage);
  } else if (type === "content_block_start") {
    const block = data.content_block || {};
    if (block.type === "tool_use") callAt(turn, `block:${data.index}`, block.id, block.name);
    return block.type === "tool_use";
  } else if (type === "content_block_delta") {
    const delta = data.delta || {};
    if (delta.type === "text_delta") appendText(turn, delta.text);
    else if (delta.type === "input_json_delta") callAt(turn, `block:${data.index}`).arguments += delta.partial_json;
    else if (delta.type === "thinking_delta") reasoning(turn).reasoning_text += delta.thinking;
    return true;
  } else if (type === "message_delta") {
    // The final counts: output always, input and cache reads when the stream knows them only at its end.
    const usage = turn.usage || { input: 0, output: 0, cached: 0, reasoning: 0 };
    usage.output = data.usage?.output_tokens ?? usage.output;
    usage.input = data.usage?.input_tokens || usage.input;
    usage.cached = data.usage?.cache_read_input_tokens || usage.cached;
    turn.usage = usage;
  } else if (type === "message_stop") {
    turn.status = "completed";
  } else if (type === "error") {
    turn.error = data.error?.message || "error";
    turn.status = "failed";
  }
  return false;
}

function appendText(turn, text) {
  let message = turn.output.find((item) => item.type === "message");
  if (!message) {
    message = { type: "message", role: "assistant", content: [{ type: "output_text", text: "" }] };
    turn.output.push(message);
  }
  message.content[0].text += text;
}

function reasoning(turn) {
  let item = turn.output.find((entry) => entry.type === "reasoning");
  if (!item) {
    item = { type: "reasoning", reasoning_text: "" };
    turn.output.unshift(item);
  }
  return item;
}

// The function call a stream names by its own index (chat tool call index, Anthropic block index).
function callAt(turn, key, callId, name) {
  let item = turn.output.find((entry) => entry.stream_key === key);
  if (!item) {
    item = { type: "function_call", stream_key: key, call_id: callId || "", name: name || "", arguments: "" };
    turn.output.push(item);
  }
  return item;
}

// {input, output, cached, reasoning} from the usage of any of the three APIs.
export function usageOf(usage) {
  if (!usage || typeof usage !== "object") return null;
  const input = usage.input_tokens ?? usage.prompt_tokens ?? 0;
  const output = usage.output_tokens ?? usage.completion_tokens ?? 0;
  const cached =
    usage.input_tokens_details?.cached_tokens ??
    usage.prompt_tokens_details?.cached_tokens ??
    usage.cache_read_input_tokens ??
    0;
  const reasoningTokens =
    usage.output_tokens_details?.reasoning_tokens ?? usage.completion_tokens_details?.reasoning_tokens ?? 0;
  return { input, output, cached, reasoning: reasoningTokens };
}
