// The inspector of one turn: timings and tokens, every event with its sequence number and arrival time, the
// request as the page sent it and as the gateway sent it upstream after translation, and the request as curl.

import { APIS, curlOf } from "./formats.js";
import { button, el } from "./view.js";

const MAX_EVENTS_SHOWN = 5000;
const sentUpstream = new Map(); // request id → what the gateway answered, once the turn has ended

export function renderInspector(container, turn, index, gateway) {
  container.replaceChildren();
  container.append(section("Timing and tokens", summary(turn)));
  container.append(section(`Events (${turn.events.length})`, events(turn, gateway), "inspector-events"));
  container.append(section("Request sent by the page", clientRequest(turn)));
  container.append(section("Sent upstream (after translation)", upstream(turn, gateway), "inspector-upstream"));
  if (turn.request) container.append(section("Copy as curl", curl(turn)));
  return `Turn ${index + 1}`;
}

function section(title, body, className) {
  const node = el("section", `inspector-section ${className || ""}`.trim());
  node.append(el("h3", "", title), body);
  return node;
}

function summary(turn) {
  const { start, first, end } = turn.timing;
  const usage = turn.usage || {};
  const seconds = first && end && end > first ? (end - first) / 1000 : null;
  const rows = [
    ["Status", turn.status],
    ["Client API", APIS[turn.api]?.label || turn.api],
    ["Context", turn.context],
    ["Model", turn.model],
    ["Provider", turn.provider || "—"],
    ["Response id", turn.responseId || "—"],
    ["Request id", turn.requestId || "—"],
    ["Time to first token", first ? `${first - start} ms` : "—"],
    ["Total time", end && !turn.fromStore ? `${end - start} ms` : "—"],
    ["Tokens in", usage.input ?? "—"],
    ["Tokens out", usage.output ?? "—"],
    ["Cached tokens", usage.cached ?? "—"],
    ["Reasoning tokens", usage.reasoning ?? "—"],
    ["Tokens per second", seconds && usage.output ? (usage.output / seconds).toFixed(1) : "—"],
  ];
  const list = el("dl", "facts");
  for (const [name, value] of rows) {
    const row = el("div", "fact");
    row.dataset.fact = name;
    row.append(el("dt", "", name), el("dd", "", String(value)));
    list.append(row);
  }
  return list;
}

function events(turn, gateway) {
  const box = el("div", "");
  if (turn.fromStore && !turn.events.length && turn.responseId) {
    box.append(el("p", "muted", "Loading the stored events…"));
    loadStoredEvents(turn, gateway, box);
    return box;
  }
  box.append(eventList(turn));
  return box;
}

async function loadStoredEvents(turn, gateway, box) {
  try {
    const stored = await gateway.json("GET", `/playground/api/responses/${encodeURIComponent(turn.responseId)}/events`);
    if (!stored.events) {
      box.replaceChildren(el("p", "muted", "This turn was not streamed, so no events were stored."));
      return;
    }
    turn.events = stored.events.map((data, n) => ({ n, seq: data.sequence_number ?? null, t: null, type: data.type, data }));
    box.replaceChildren(el("p", "muted", "Stored events: arrival times were not kept."), eventList(turn));
  } catch (error) {
    box.replaceChildren(el("p", "error", `Could not load the events: ${error.message}`));
  }
}

function eventList(turn) {
  const list = el("ol", "events");
  const resumes = turn.resumes || [];
  turn.events.slice(0, MAX_EVENTS_SHOWN).forEach((event, index) => {
    for (const resume of resumes.filter((entry) => entry.index === index)) list.append(resumeNode(resume));
    const item = el("li", "event");
    item.dataset.seq = event.seq === null ? "" : String(event.seq);
    const details = el("details", "");
    const line = el("summary", "");
    line.append(
      el("span", "seq", event.seq === null ? `#${event.n}` : String(event.seq)),
      el("span", "at", event.t === null ? "" : `+${event.t} ms`),
      el("span", "type", event.type),
    );
    details.append(line);
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) details.append(el("pre", "", json(event.data)));
    });
    item.append(details);
    list.append(item);
  });
  if (turn.events.length > MAX_EVENTS_SHOWN) list.append(el("li", "muted", `… ${turn.events.length - MAX_EVENTS_SHOWN} more`));
  for (const resume of resumes.filter((entry) => entry.index >= turn.events.length)) list.append(resumeNode(resume));
  return list;
}

function resumeNode(resume) {
  return el("li", "resume", `resumed at +${resume.at} ms after event ${resume.after}: GET ${resume.url}`);
}

function clientRequest(turn) {
  const box = el("div", "");
  if (!turn.request) {
    box.append(el("p", "muted", "Not sent from this page: the turn was read from the store."));
    return box;
  }
  box.append(el("p", "request-line", `${turn.request.method} ${turn.request.url}`));
  box.append(el("pre", "json", json(turn.request.body)));
  for (const resume of turn.resumes || []) box.append(el("p", "request-line", `then GET ${resume.url}`));
  return box;
}

function upstream(turn, gateway) {
  const box = el("div", "");
  if (!turn.requestId) {
    box.append(el("p", "muted", "Only for turns sent from this page."));
    return box;
  }
  box.append(el("p", "muted", "Loading…"));
  const known = sentUpstream.get(turn.requestId);
  (known ? Promise.resolve(known) : gateway.json("GET", `/playground/api/requests/${encodeURIComponent(turn.requestId)}`))
    .then((answer) => {
      if (answer.kept && turn.status !== "streaming") sentUpstream.set(turn.requestId, answer);
      if (!answer.kept) {
        box.replaceChildren(el("p", "muted", `Not kept: ${answer.reason}.`));
        return;
      }
      if (!answer.requests.length) {
        box.replaceChildren(el("p", "muted", "Nothing was sent upstream for this request."));
        return;
      }
      box.replaceChildren();
      for (const sent of answer.requests) {
        box.append(el("p", "request-line", `POST ${sent.url} (${sent.provider}, ${sent.operation})`));
        box.append(el("pre", "json", json(sent.body)));
      }
    })
    .catch((error) => box.replaceChildren(el("p", "error", error.message)));
  return box;
}

function curl(turn) {
  const box = el("div", "");
  const text = curlOf(location.origin + turn.request.url, turn.request.headers, turn.request.body);
  const pre = el("pre", "curl", text);
  const status = el("span", "muted", "");
  status.setAttribute("aria-live", "polite");
  const copy = button("Copy as curl", async () => {
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      status.textContent = "selected: press Ctrl+C to copy";
    }
  });
  box.append(copy, status, pre);
  return box;
}

function json(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}
