// The side list: the caller's stored conversations and response chains, newest first; `current` names the open
// chat's conversation and the chain it continues ({conversation, chain}), marked as current.

import { button, el } from "./view.js";

export async function renderSide(gateway, info, open, current) {
  const conversations = document.getElementById("conversations");
  const chains = document.getElementById("chains");
  if (!info.storage) {
    const note = "No state storage is configured on this gateway.";
    conversations.replaceChildren(el("li", "muted", note));
    chains.replaceChildren();
    return;
  }
  try {
    const [listed, ended] = await Promise.all([
      gateway.json("GET", "/playground/api/conversations"),
      gateway.json("GET", "/playground/api/chains"),
    ]);
    fill(conversations, listed.data, "conversation", open, current, (entry) => entry.title || entry.id, () => "");
    fill(chains, ended.data, "chain", open, current, (entry) => entry.title || entry.id, chainMeta);
  } catch (error) {
    conversations.replaceChildren(el("li", "error", `Could not list: ${error.message}`));
  }
}

function fill(list, entries, kind, open, current, title, meta) {
  if (!entries.length) {
    list.replaceChildren(el("li", "muted", "None yet."));
    return;
  }
  list.replaceChildren(
    ...entries.map((entry) => {
      const item = el("li", "");
      const choose = button("", () => open(kind, entry.id));
      choose.className = "stored-item";
      choose.dataset.id = entry.id;
      if (current[kind] === entry.id) choose.setAttribute("aria-current", "true");
      choose.append(el("span", "stored-title", title(entry)));
      const details = [meta(entry), when(entry.created_at)].filter(Boolean).join(" · ");
      choose.append(el("span", "stored-meta", details));
      item.append(choose);
      return item;
    }),
  );
}

function chainMeta(entry) {
  return [entry.model, entry.status === "completed" ? "" : entry.status].filter(Boolean).join(" · ");
}

function when(seconds) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleDateString();
}
