// The kb HTTP API as the page uses it: JSON calls, the answer stream, and the API key (asked for once).

const KEY_STORAGE = "kb.apiKey";

export class ApiError extends Error {
  constructor(status, detail, type) {
    super(detail);
    this.status = status;
    this.type = type || "";
  }
}

export class Api {
  /** @param {() => Promise<string|null>} askForKey shows the key dialog; resolves to the key or null. */
  constructor(askForKey) {
    this.askForKey = askForKey;
  }

  headers(extra = {}) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
  }

  /** fetch that asks for an API key on 401 and tries again with it. */
  async fetch(path, init = {}) {
    for (;;) {
      const response = await fetch(path, { ...init, headers: this.headers(init.headers || {}) });
      if (response.status !== 401) return response;
      sessionStorage.removeItem(KEY_STORAGE);
      const key = await this.askForKey();
      if (!key) throw new ApiError(401, "an API key is needed", "Unauthorized");
      sessionStorage.setItem(KEY_STORAGE, key);
    }
  }

  async json(path, { method = "GET", body, signal } = {}) {
    const init = { method, signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const response = await this.fetch(path, init);
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw errorOf(response.status, payload);
    return payload;
  }

  async upload(kb, files) {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const response = await this.fetch(`/kbs/${encodeURIComponent(kb)}/documents`, { method: "POST", body: form });
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw errorOf(response.status, payload);
    return payload;
  }

  async download(kb, docId) {
    const response = await this.fetch(`/kbs/${encodeURIComponent(kb)}/documents/${encodeURIComponent(docId)}/file`);
    if (!response.ok) throw errorOf(response.status, await response.json().catch(() => ({})));
    return response.blob();
  }

  /**
   * Ask with `stream: true` and hand each server-sent event to `onEvent(name, data)`.
   * Aborting `signal` closes the connection, which stops the generation on the server.
   */
  async ask(kb, body, signal, onEvent) {
    const response = await this.fetch(`/kbs/${encodeURIComponent(kb)}/ask`, {
      method: "POST",
      body: JSON.stringify({ ...body, stream: true }),
      headers: { "Content-Type": "application/json" },
      signal,
    });
    if (!response.ok) throw errorOf(response.status, await response.json().catch(() => ({})));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (event) onEvent(event.name, event.data);
      }
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return { name, data: data.join("\n") };
  }
}

function errorOf(status, payload) {
  const detail = typeof payload.detail === "string" ? payload.detail : JSON.stringify(payload.detail || payload);
  return new ApiError(status, detail, payload.type);
}
