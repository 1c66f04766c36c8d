// The playground: wires the page together. The gateway key (when the gateway asks for one) lives in this tab's
// session storage only; the open chat too, so a reload keeps it and resumes a background answer mid-stream.

import { Gateway, HttpError } from "./api.js";
import { APIS, toolOutput, userMessage } from "./formats.js";
import { renderInspector } from "./inspector.js";
import { Runner } from "./runner.js";
import { renderSide } from "./sidebar.js";
import { chatFromChain, chatFromConversation, forkChat, loadChat, newChat, saveChat } from "./state.js";
import { EXAMPLE_TOOLS } from "./tools.js";
import { el, patchTurn, renderTurn } from "./view.js";

const KEY = "plano.playground.key";
const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.keysOn = document.documentElement.dataset.gatewayKeys === "on";
    this.runner = new Runner(this);
    this.chat = null;
    this.info = null;
    this.inspected = null;
    this.pendingRender = new Set();
    this.saveTimer = null;
    this.leaving = false;
  }

  start() {
    this.bind();
    if (this.keysOn && !sessionStorage.getItem(KEY)) this.askKey("");
    else this.connect();
  }

  async connect() {
    this.gateway = new Gateway(sessionStorage.getItem(KEY) || "");
    try {
      this.info = await this.gateway.json("GET", "/playground/api/info");
      this.models = (await this.gateway.json("GET", "/v1/models")).data.map((model) => model.id);
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) {
        sessionStorage.removeItem(KEY);
        this.askKey("The gateway refused this key.");
      } else {
        $("chat-state").textContent = `Could not reach the gateway: ${error.message}`;
      }
      return;
    }
    $("whoami").textContent = this.info.owner ? `key: ${this.info.owner}` : "";
    $("forget-key").hidden = !this.keysOn;
    this.fillModels();
    this.chat = loadChat() || newChat(this.defaultModel());
    // A turn still streaming when the last page left: a background answer is picked up where it was; any other
    // ended with that page (the gateway stopped it when the page went away).
    const pending = this.chat.turns.find((turn) => turn.status === "streaming");
    if (pending && !(pending.background && pending.responseId)) {
      pending.status = "interrupted";
      pending.chainable = false;
    }
    this.showChat();
    this.refreshSide();
    if (pending?.status === "streaming") this.runner.resume(pending);
    $("composer-text").focus();
  }

  defaultModel() {
    return this.models.find((name) => !name.includes("/")) || this.models[0] || "";
  }

  // -- key ----------------------------------------------------------------------------------------------------------

  askKey(message) {
    $("key-error").textContent = message;
    const dialog = $("key-dialog");
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
  }

  // -- settings -----------------------------------------------------------------------------------------------------

  fillModels() {
    const select = $("model");
    select.replaceChildren(
      ...this.models.map((name) => {
        const option = el("option", "", this.info.routes[name] && this.info.routes[name] !== name ? `${name} → ${this.info.routes[name]}` : name);
        option.value = name;
        return option;
      }),
    );
    const tools = $("tool-buttons");
    tools.replaceChildren(
      ...EXAMPLE_TOOLS.map((tool) => {
        const toggle = el("button", "tool-toggle", tool.name);
        toggle.type = "button";
        toggle.dataset.tool = tool.name;
        toggle.title = tool.description;
        toggle.addEventListener("click", () => this.toggleTool(tool.name));
        return toggle;
      }),
    );
  }

  showSettings() {
    const chat = this.chat;
    const stored = Boolean(this.info.storage);
    $("api").value = chat.api;
    for (const option of $("context").options) {
      option.disabled = !APIS[chat.api].contexts.includes(option.value) || (!stored && option.value !== "history");
    }
    if ($("context").querySelector(`option[value="${chat.context}"]`).disabled) {
      chat.context = [...$("context").options].find((option) => !option.disabled).value;
    }
    $("context").value = chat.context;
    if (!this.models.includes(chat.model)) chat.model = this.defaultModel();
    $("model").value = chat.model;
    $("background").disabled = chat.api !== "responses" || !stored;
    $("background").checked = chat.background && !$("background").disabled;
    for (const toggle of document.querySelectorAll(".tool-toggle")) {
      toggle.setAttribute("aria-pressed", String(chat.tools.includes(toggle.dataset.tool)));
    }
    $("chat-state").textContent = this.describeChat();
  }

  describeChat() {
    const chat = this.chat;
    const origin = chat.origin;
    const parts = [];
    if (origin?.kind === "fork") parts.push(`forked from turn ${origin.turn}`);
    if (origin?.kind === "chain" && !origin.complete) parts.push("its oldest turns are no longer stored");
    if (chat.conversationId) parts.push(`conversation ${chat.conversationId}`);
    const anchor = [...chat.turns].reverse().find((turn) => turn.chainable && turn.responseId);
    if (chat.context === "previous_response_id" && anchor) parts.push(`continues ${anchor.responseId}`);
    return parts.join(" · ");
  }

  toggleTool(name) {
    const tools = this.chat.tools;
    this.chat.tools = tools.includes(name) ? tools.filter((tool) => tool !== name) : [...tools, name];
    this.saveSoon();
    this.showSettings();
  }

  // -- rendering ----------------------------------------------------------------------------------------------------

  showChat() {
    this.showSettings();
    const list = $("turns");
    list.replaceChildren(...this.chat.turns.map((turn, index) => this.turnNode(turn, index)));
    this.busyChanged();
    this.scrollDown();
  }

  turnNode(turn, index) {
    const last = index === this.chat.turns.length - 1;
    return renderTurn(turn, index, this.turnHandlers(), { last, busy: this.runner.busy });
  }

  turnHandlers() {
    return {
      inspect: (index) => this.inspect(index),
      fork: (index) => this.fork(index),
      cancel: (index) => this.runner.cancel(this.chat.turns[index]),
      sendOutputs: (index, outputs) => this.send(outputs.map(({ callId, output }) => toolOutput(callId, output))),
    };
  }

  // A turn changed while streaming: redrawn once per frame, saved at most every 250 ms.
  changed(turn) {
    this.pendingRender.add(turn);
    if (this.pendingRender.size === 1) requestAnimationFrame(() => this.flush());
    this.saveSoon();
  }

  flush() {
    for (const turn of this.pendingRender) {
      const index = this.chat.turns.indexOf(turn);
      const node = $("turns").querySelector(`li.turn[data-index="${index}"]`);
      if (index < 0) continue;
      const options = { last: index === this.chat.turns.length - 1, busy: this.runner.busy };
      if (node) patchTurn(node, turn, index, this.turnHandlers(), options);
      else $("turns").append(this.turnNode(turn, index));
      if (this.inspected === turn && Date.now() - this.inspectedAt > 500) this.inspect(index);
    }
    this.pendingRender.clear();
    this.scrollDown();
  }

  finished(turn) {
    this.pendingRender.delete(turn);
    this.showChat();
    if (this.inspected === turn) this.inspect(this.chat.turns.indexOf(turn));
    this.save();
    this.refreshSide();
  }

  busyChanged() {
    const busy = this.runner.busy;
    $("send").disabled = busy;
    $("stop").disabled = !busy;
    for (const id of ["api", "context", "model", "background", "new-chat"]) $(id).disabled = busy || (id === "background" && $(id).disabled);
    if (!busy) this.showSettings();
  }

  scrollDown() {
    const list = $("turns");
    list.scrollTop = list.scrollHeight;
  }

  refreshSide() {
    const chat = this.chat;
    const tip = [...chat.turns].reverse().find((turn) => turn.chainable && turn.responseId);
    const current = { conversation: chat.conversationId, chain: tip?.responseId };
    renderSide(this.gateway, this.info, (kind, id) => this.openStored(kind, id), current);
  }

  inspect(index) {
    const turn = this.chat.turns[index];
    if (!turn) return;
    this.inspected = turn;
    this.inspectedAt = Date.now();
    const panel = $("inspector");
    panel.hidden = false;
    $("inspector-title").textContent = `Inspector · ${renderInspector($("inspector-body"), turn, index, this.gateway)}`;
    document.body.classList.add("inspecting");
  }

  closeInspector() {
    this.inspected = null;
    $("inspector").hidden = true;
    document.body.classList.remove("inspecting");
  }

  // -- actions ------------------------------------------------------------------------------------------------------

  send(items) {
    if (this.runner.busy || !this.chat) return;
    const next = this.runner.send(items);
    this.showChat();
    return next;
  }

  fork(index) {
    this.chat = forkChat(this.chat, index);
    this.closeInspector();
    this.save();
    this.showChat();
    $("composer-text").focus();
  }

  async openStored(kind, id) {
    if (this.runner.busy) return;
    const path = `/playground/api/${kind === "chain" ? "chains" : "conversations"}/${encodeURIComponent(id)}`;
    try {
      const data = await this.gateway.json("GET", path);
      const model = this.chat?.model || this.defaultModel();
      this.chat = kind === "chain" ? chatFromChain(data, model) : chatFromConversation(data, model);
    } catch (error) {
      $("chat-state").textContent = `Could not open ${id}: ${error.message}`;
      return;
    }
    this.closeInspector();
    this.save();
    this.showChat();
    this.refreshSide();
    document.body.classList.remove("side-open");
  }

  save() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (this.chat && !this.leaving) saveChat(this.chat);
  }

  saveSoon() {
    if (this.saveTimer === null) this.saveTimer = setTimeout(() => this.save(), 250);
  }

  // -- events -------------------------------------------------------------------------------------------------------

  bind() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const box = $("composer-text");
      const text = box.value.trim();
      if (!text || this.runner.busy) return;
      box.value = "";
      this.send([userMessage(text)]);
    });
    $("composer-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    $("stop").addEventListener("click", () => this.runner.stop());
    $("settings").addEventListener("submit", (event) => event.preventDefault());
    $("settings").addEventListener("change", (event) => this.settingChanged(event.target));
    $("new-chat").addEventListener("click", () => {
      this.chat = newChat(this.chat?.model || this.defaultModel());
      this.closeInspector();
      this.save();
      this.showChat();
      this.refreshSide();
      $("composer-text").focus();
    });
    $("refresh-side").addEventListener("click", () => this.refreshSide());
    $("close-inspector").addEventListener("click", () => this.closeInspector());
    $("toggle-side").addEventListener("click", () => {
      const open = document.body.classList.toggle("side-open");
      $("toggle-side").setAttribute("aria-expanded", String(open));
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.clear();
      location.reload();
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key-input").value.trim());
      $("key-input").value = "";
      $("key-dialog").close();
      this.connect();
    });
    $("key-dialog").addEventListener("cancel", (event) => event.preventDefault());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("inspector").hidden) this.closeInspector();
    });
    // Leaving (a reload, say) aborts the stream being read: the chat is saved as it was, still streaming, so the
    // next page resumes it, and nothing the abort does afterwards is saved over it.
    const leave = () => {
      this.save();
      this.leaving = true;
    };
    window.addEventListener("beforeunload", leave);
    window.addEventListener("pagehide", leave);
  }

  settingChanged(target) {
    const chat = this.chat;
    if (!chat) return;
    if (target.id === "api") chat.api = target.value;
    else if (target.id === "context") chat.context = target.value;
    else if (target.id === "model") chat.model = target.value;
    else if (target.id === "background") chat.background = target.checked;
    this.showSettings();
    this.save();
  }
}

new App().start();
