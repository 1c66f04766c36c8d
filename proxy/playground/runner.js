// Running turns: send one and read its stream, resume a background one after a reload (starting_after), stop one
// (the request is aborted, so the gateway stops the provider call; a background one is cancelled), cancel one.

import { APIS, buildBody, chatTitleOf } from "./formats.js";
import { readerFor } from "./readers.js";
import { isChainable, newTurn, planTurn } from "./state.js";

export class Runner {
  constructor(app) {
    this.app = app;
    this.turn = null;
    this.controller = null;
  }

  get busy() {
    return this.turn !== null;
  }

  async send(items) {
    const { app } = this;
    const chat = app.chat;
    const plan = planTurn(chat, items);
    const turn = newTurn(chat, items, app.info.routes[chat.model] || null);
    chat.turns.push(turn);
    this.start(turn);
    try {
      if (plan.needsConversation) {
        const title = chatTitleOf(plan.items);
        const created = await app.gateway.json("POST", "/v1/conversations", { metadata: title ? { title } : {} });
        chat.conversationId = created.id;
        plan.conversationId = created.id;
      }
      turn.conversationId = plan.conversationId;
      turn.chainable = isChainable(turn, plan, app.info);
      const path = APIS[turn.api].path;
      const body = buildBody(turn.api, turn.model, plan, chat.tools, turn.background);
      turn.request = { method: "POST", url: path, body, headers: app.gateway.headers(turn.api, { redacted: true }) };
      turn.timing.start = Date.now();
      const opened = await app.gateway.stream("POST", path, body, turn.api, this.controller.signal);
      turn.requestId = opened.requestId;
      app.changed(turn);
      await this.read(turn, opened.events);
    } catch (error) {
      this.failed(turn, error);
    } finally {
      this.end(turn);
    }
  }

  // Follow a background response again from the last event this page saw.
  async resume(turn) {
    const url = `/v1/responses/${encodeURIComponent(turn.responseId)}?stream=true&starting_after=${turn.lastSeq}`;
    this.start(turn);
    turn.resumes.push({ url, at: Date.now() - turn.timing.start, after: turn.lastSeq, index: turn.events.length });
    try {
      const opened = await this.app.gateway.stream("GET", url, undefined, "responses", this.controller.signal);
      await this.read(turn, opened.events);
    } catch (error) {
      this.failed(turn, error);
    } finally {
      this.end(turn);
    }
  }

  // Stop the turn being streamed: a background response is cancelled on the gateway first (the request alone
  // would leave it running), then the request is aborted, which makes the gateway stop the provider call.
  async stop() {
    const turn = this.turn;
    if (!turn) return;
    turn.stopping = true;
    if (turn.background && turn.responseId) await this.cancel(turn);
    this.controller?.abort();
  }

  async cancel(turn) {
    try {
      const response = await this.app.gateway.json("POST", `/v1/responses/${encodeURIComponent(turn.responseId)}/cancel`, {});
      turn.status = response.status;
      turn.stopping = true;
    } catch (error) {
      turn.error = `cancel: ${error.message}`;
    }
    this.app.changed(turn);
  }

  start(turn) {
    this.turn = turn;
    this.controller = new AbortController();
    turn.status = "streaming";
    this.app.busyChanged();
  }

  async read(turn, events) {
    const reader = readerFor(turn.api, turn);
    for await (const message of events) {
      reader.feed(message.event, message.data);
      this.app.changed(turn);
    }
  }

  failed(turn, error) {
    if (error?.name === "AbortError" || turn.stopping) {
      if (turn.status === "streaming") turn.status = "stopped";
      return;
    }
    turn.status = "failed";
    turn.error = error?.message || String(error);
  }

  end(turn) {
    // Only an answer whose stream said it ended is surely stored whole: the next turn sends what a cut one held.
    if (!["completed", "incomplete"].includes(turn.status)) turn.chainable = false;
    if (turn.status === "streaming") {
      turn.status = turn.stopping ? "stopped" : "interrupted";
      if (!turn.stopping) turn.error = turn.error || "The stream ended without its final event.";
    }
    delete turn.stopping;
    turn.timing.end = turn.timing.end || Date.now();
    this.turn = null;
    this.controller = null;
    this.app.finished(turn);
  }
}
