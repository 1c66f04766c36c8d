// The gateway's HTTP API with the caller's key: JSON reads and writes, and streamed requests read as events.

import { readEvents } from "./sse.js";

export const ANTHROPIC_VERSION = "2023-06-01";

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Gateway {
  constructor(key) {
    this.key = key || "";
  }

  // Headers of a request in one client API's manner (Anthropic's SDK sends x-api-key and its version).
  headers(api, { json = true, redacted = false } = {}) {
    const key = redacted ? "$PLANO_API_KEY" : this.key;
    const headers = json ? { "Content-Type": "application/json" } : {};
    if (api === "messages") {
      headers["anthropic-version"] = ANTHROPIC_VERSION;
      if (key) headers["x-api-key"] = key;
    } else if (key) {
      headers.Authorization = `Bearer ${key}`;
    }
    return headers;
  }

  async json(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: this.headers("responses", { json: body !== undefined }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  }

  // Opens a streamed request; resolves once the answer's headers are in, with the request id and the events.
  async stream(method, path, body, api, signal) {
    const response = await fetch(path, {
      method,
      headers: this.headers(api, { json: body !== undefined }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await errorOf(response);
    return { requestId: response.headers.get("x-request-id"), events: readEvents(response.body) };
  }
}

async function errorOf(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    message = body?.error?.message || body?.message || message;
  } catch {
    // not JSON: the status says enough
  }
  return new HttpError(response.status, message);
}
