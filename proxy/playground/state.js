// A chat: its settings and its turns. It is kept in this tab's session storage, so a reload keeps it on screen;
// from its turns follows what the next turn must send for the context chosen.

import { usageOf } from "./readers.js";

const CHAT_KEY = "plano.playground.chat";

export function newChat(model) {
  return {
    api: "responses",
    context: "previous_response_id",
    model,
    background: false,
    tools: [],
    conversationId: null,
    origin: null,
    turns: [],
  };
}

export function newTurn(chat, input, provider) {
  return {
    api: chat.api,
    context: chat.context,
    model: chat.model,
    provider,
    background: chat.background && chat.api === "responses",
    input,
    output: [],
    responseId: null,
    requestId: null,
    status: "streaming",
    error: null,
    chainable: false,
    conversationId: null,
    events: [],
    lastSeq: -1,
    request: null,
    resumes: [],
    timing: { start: Date.now(), first: null, end: null },
    usage: null,
    fromStore: false,
  };
}

// Every item of these turns as a client would send them again: inputs, then outputs (reasoning stays with the
// provider that made it).
export function transcript(turns) {
  return turns.flatMap((turn) => [...turn.input, ...turn.output.filter((item) => item.type !== "reasoning")]);
}

// What the next turn sends: {items, previousId, conversationId, store, needsConversation}.
// previous_response_id: the last turn whose stored chain holds the whole chat so far, and every item after it;
// conversation: the items after the last turn that went into the chat's conversation (all of them, in a new
// conversation, when the chat has none yet); history: everything.
export function planTurn(chat, newItems) {
  const { turns } = chat;
  if (chat.context === "previous_response_id") {
    const k = lastIndex(turns, (turn) => turn.chainable && turn.responseId);
    const items = [...transcript(turns.slice(k + 1)), ...newItems];
    return { items, previousId: k >= 0 ? turns[k].responseId : null, conversationId: null, store: true };
  }
  if (chat.context === "conversation") {
    if (!chat.conversationId) {
      return { items: [...transcript(turns), ...newItems], conversationId: null, store: true, needsConversation: true };
    }
    const k = lastIndex(turns, (turn) => turn.conversationId === chat.conversationId);
    const items = [...transcript(turns.slice(k + 1)), ...newItems];
    return { items, previousId: null, conversationId: chat.conversationId, store: true };
  }
  const store = chat.api === "responses" && chat.background;
  return { items: [...transcript(turns), ...newItems], previousId: null, conversationId: null, store };
}

// Whether a finished turn's id continues the whole chat through previous_response_id (or metadata.response_id):
// it was stored, and it carried everything before it, itself or through the turn it continued.
export function isChainable(turn, plan, info) {
  if (turn.api === "messages" || turn.context === "conversation") return false;
  if (turn.api === "chat") return Boolean(info.store_chat_turns && info.storage);
  return Boolean(plan.store);
}

function lastIndex(list, test) {
  for (let i = list.length - 1; i >= 0; i -= 1) if (test(list[i])) return i;
  return -1;
}

// A new chat that goes on from turn `index`: the turns up to it, continued from its response (a conversation
// cannot be cut, so a fork of one starts a new conversation holding the same items).
export function forkChat(chat, index) {
  const turns = structuredClone(chat.turns.slice(0, index + 1));
  const from = turns[index];
  return {
    ...structuredClone({ ...chat, turns: [] }),
    turns,
    conversationId: null,
    origin: { kind: "fork", turn: index + 1, responseId: from.responseId },
  };
}

export function chatFromChain(data, model) {
  const chat = newChat(model);
  chat.origin = { kind: "chain", id: data.id, complete: data.complete };
  chat.turns = data.turns.map((stored) => storedTurn(stored, "previous_response_id"));
  const last = chat.turns[chat.turns.length - 1];
  if (last) chat.model = last.model || model;
  return chat;
}

export function chatFromConversation(data, model) {
  const chat = newChat(model);
  chat.context = "conversation";
  chat.conversationId = data.id;
  chat.origin = { kind: "conversation", id: data.id };
  chat.turns = data.turns.map((stored) => ({ ...storedTurn(stored, "conversation"), conversationId: data.id }));
  const answered = chat.turns.filter((turn) => turn.model);
  if (answered.length) chat.model = answered[answered.length - 1].model;
  return chat;
}

function storedTurn(stored, context) {
  const api = stored.id && stored.id.startsWith("chatcmpl") ? "chat" : "responses";
  return {
    ...newTurn({ api, context, model: stored.model || null, background: false }, stored.input || [], stored.provider),
    output: stored.output || [],
    responseId: stored.id,
    status: stored.status,
    error: stored.error?.message || null,
    chainable: context === "previous_response_id" && Boolean(stored.id),
    usage: usageOf(stored.usage),
    timing: { start: (stored.created_at || 0) * 1000, first: null, end: null },
    fromStore: true,
  };
}

export function saveChat(chat) {
  try {
    sessionStorage.setItem(CHAT_KEY, JSON.stringify(chat));
  } catch {
    // Over the tab's quota: keep the turns, drop the event logs of all but the last turn.
    const light = { ...chat, turns: chat.turns.map((turn, i, all) => (i < all.length - 1 ? { ...turn, events: [] } : turn)) };
    try {
      sessionStorage.setItem(CHAT_KEY, JSON.stringify(light));
    } catch {
      sessionStorage.removeItem(CHAT_KEY);
    }
  }
}

export function loadChat() {
  try {
    const chat = JSON.parse(sessionStorage.getItem(CHAT_KEY) || "null");
    return chat && Array.isArray(chat.turns) ? chat : null;
  } catch {
    return null;
  }
}
