// The chat view: conversations, the answer stream (sources first, then tokens), citations and ratings.

import { el, highlighted, clear } from "./dom.js";

const MARKER = /\[(\d+)\]/g;

export class Chat {
  constructor({ api, i18n, openDocument, currentKb }) {
    this.api = api;
    this.i18n = i18n;
    this.openDocument = openDocument;
    this.currentKb = currentKb;
    this.conversationId = null;
    this.controller = null;
    this.replyCount = 0;
    this.list = document.getElementById("conversation-list");
    this.messages = document.getElementById("messages");
    this.form = document.getElementById("ask-form");
    this.question = document.getElementById("question");
    this.askButton = document.getElementById("ask");
    this.stopButton = document.getElementById("stop");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    this.question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.stopButton.addEventListener("click", () => this.controller?.abort());
    document.getElementById("new-conversation").addEventListener("click", () => this.startNew());
  }

  t(key, values) {
    return this.i18n.t(key, values);
  }

  base() {
    return `/kbs/${encodeURIComponent(this.currentKb())}`;
  }

  async load() {
    this.conversationId = null;
    clear(this.messages);
    await this.refreshList();
  }

  async refreshList() {
    clear(this.list);
    if (!this.currentKb()) return;
    const { conversations } = await this.api.json(`${this.base()}/conversations`);
    for (const conversation of conversations) {
      const current = conversation.id === this.conversationId;
      this.list.append(
        el("li", { "aria-current": current ? "true" : "false", "data-id": conversation.id },
          el("button", { type: "button", class: "title", onclick: () => this.show(conversation.id) },
            conversation.title || "…"),
          el("button", { type: "button", class: "small", "data-action": "rename", title: this.t("chat.rename"),
            "aria-label": this.t("chat.rename"), onclick: () => this.rename(conversation) }, "✎"),
          el("button", { type: "button", class: "small", "data-action": "delete", title: this.t("chat.delete"),
            "aria-label": this.t("chat.delete"), onclick: () => this.remove(conversation) }, "✕")),
      );
    }
  }

  startNew() {
    this.conversationId = null;
    clear(this.messages);
    this.refreshList();
    this.question.focus();
  }

  async show(id) {
    const { turns } = await this.api.json(`${this.base()}/conversations/${encodeURIComponent(id)}`);
    this.conversationId = id;
    clear(this.messages);
    for (const turn of turns) {
      this.messages.append(el("li", { class: "question" }, turn.question));
      const reply = this.newReply();
      this.renderSources(reply, turn.sources);
      this.finish(reply, { ...turn, turn: turn.n, unsupported: [] }, turn.rating);
    }
    await this.refreshList();
  }

  async rename(conversation) {
    const title = prompt(this.t("chat.renamePrompt"), conversation.title);
    if (title === null) return;
    await this.api.json(`${this.base()}/conversations/${encodeURIComponent(conversation.id)}`,
      { method: "PATCH", body: { title: title.slice(0, 200) } });
    await this.refreshList();
  }

  async remove(conversation) {
    if (!confirm(this.t("chat.deleteConfirm"))) return;
    await this.api.json(`${this.base()}/conversations/${encodeURIComponent(conversation.id)}`, { method: "DELETE" });
    if (conversation.id === this.conversationId) this.startNew();
    else await this.refreshList();
  }

  newReply() {
    const index = ++this.replyCount;
    const reply = el("li", { class: "reply", "data-reply": index },
      el("div", { class: "status" }),
      el("div", { class: "sources", "aria-label": this.t("chat.sources") }),
      el("div", { class: "answer" }),
      el("div", { class: "warning", hidden: true }),
      el("div", { class: "feedback" }));
    this.messages.append(reply);
    return reply;
  }

  async ask() {
    const question = this.question.value.trim();
    if (!question || this.controller || !this.currentKb()) return;
    this.question.value = "";
    if (!this.conversationId) {
      const created = await this.api.json(`${this.base()}/conversations`, { method: "POST", body: {} });
      this.conversationId = created.id;
    }
    this.messages.append(el("li", { class: "question" }, question));
    const reply = this.newReply();
    reply.querySelector(".status").textContent = this.t("chat.waiting");
    reply.scrollIntoView({ block: "end" });
    const started = performance.now();
    const timing = { question, sourcesMs: null, firstTokenMs: null, doneMs: null };
    window.kbTimings = [...(window.kbTimings || []), timing];
    this.controller = new AbortController();
    this.setBusy(true);
    const answer = reply.querySelector(".answer");
    try {
      await this.api.ask(this.currentKb(), { question, session_id: this.conversationId }, this.controller.signal,
        (name, data) => {
          const ms = Math.round(performance.now() - started);
          if (name === "sources") {
            timing.sourcesMs = ms;
            reply.dataset.sourcesMs = ms;
            reply.querySelector(".status").textContent = "";
            this.renderSources(reply, data.sources);
          } else if (name === "token") {
            if (timing.firstTokenMs === null) {
              timing.firstTokenMs = ms;
              reply.dataset.firstTokenMs = ms;
              reply.dataset.sourcesAtFirstToken = reply.querySelectorAll(".source").length;
            }
            reply.dataset.tokens = Number(reply.dataset.tokens || 0) + 1;
            answer.append(data.text);
          } else if (name === "done") {
            timing.doneMs = ms;
            reply.dataset.doneMs = ms;
            this.renderSources(reply, data.sources);
            this.finish(reply, data, null);
          } else if (name === "error") {
            this.fail(reply, data.detail);
          }
        });
    } catch (error) {
      if (error.name === "AbortError") {
        reply.querySelector(".status").textContent = this.t("chat.stopped");
        reply.classList.add("stopped");
      } else {
        this.fail(reply, error.message);
      }
    } finally {
      this.controller = null;
      this.setBusy(false);
      this.refreshList();
    }
  }

  setBusy(busy) {
    this.askButton.disabled = busy;
    this.stopButton.hidden = !busy;
    if (busy) this.stopButton.focus();
  }

  fail(reply, detail) {
    reply.classList.add("failed");
    clear(reply.querySelector(".status")).append(el("span", { class: "error" }, `${this.t("chat.error")}: ${detail}`));
  }

  renderSources(reply, sources) {
    const box = clear(reply.querySelector(".sources"));
    const index = reply.dataset.reply;
    for (const source of sources) {
      const where = [source.source];
      if (source.page) where.push(`${this.t("chat.page")} ${source.page}`);
      const card = el("article", { class: source.cited ? "source cited" : "source", id: `source-${index}-${source.n}`,
        tabindex: "-1", "data-n": source.n },
        el("header", {},
          el("strong", {}, `[${source.n}]`),
          el("span", { class: "file" }, where.join(" · ")),
          el("span", { class: "score" }, `${this.t("chat.score")} ${Number(source.score).toFixed(2)}`),
          el("button", { type: "button", class: "open", onclick: () => this.openDocument(source) }, this.t("chat.open"))),
        el("p", { class: "passage" }, ...highlighted(source.text, source.quote_start, source.quote_end)));
      box.append(card);
    }
  }

  finish(reply, answer, rating) {
    const status = reply.querySelector(".status");
    const text = reply.querySelector(".answer");
    clear(text).append(...this.linked(answer.answer, reply.dataset.reply));
    if (answer.refused) {
      reply.classList.add("refused");
      status.textContent = this.t("chat.refused");
    } else if (answer.mode === "extractive") {
      status.textContent = this.t("chat.extractive");
    } else {
      status.textContent = "";
    }
    const warning = reply.querySelector(".warning");
    warning.hidden = !(answer.unsupported && answer.unsupported.length);
    if (!warning.hidden) warning.textContent = `⚠ ${this.t("chat.ungrounded")} ${answer.unsupported.join(", ")}`;
    if (answer.turn !== null && answer.turn !== undefined && this.conversationId) {
      this.renderFeedback(reply, this.conversationId, answer.turn, rating);
    }
  }

  /** The answer as text nodes, with each [n] a link to its source card. */
  linked(answer, index) {
    const nodes = [];
    let last = 0;
    for (const match of answer.matchAll(MARKER)) {
      nodes.push(answer.slice(last, match.index));
      const target = `source-${index}-${match[1]}`;
      nodes.push(el("a", { href: `#${target}`, class: "cite", onclick: (event) => {
        event.preventDefault();
        const card = document.getElementById(target);
        if (!card) return;
        card.scrollIntoView({ block: "center", behavior: "smooth" });
        card.classList.remove("flash");
        void card.offsetWidth;
        card.classList.add("flash");
        card.focus({ preventScroll: true });
      } }, match[0]));
      last = match.index + match[0].length;
    }
    nodes.push(answer.slice(last));
    return nodes;
  }

  renderFeedback(reply, conversationId, turn, rating) {
    const box = clear(reply.querySelector(".feedback"));
    const note = el("span", { class: "note" });
    const buttons = [["up", "▲", "chat.good"], ["down", "▼", "chat.bad"]].map(([value, icon, label]) =>
      el("button", { type: "button", "data-rating": value, "aria-pressed": rating === value ? "true" : "false",
        onclick: async () => {
          const chosen = buttons.find((b) => b.dataset.rating === value).getAttribute("aria-pressed") === "true"
            ? null : value;
          await this.api.json(`${this.base()}/conversations/${encodeURIComponent(conversationId)}/turns/${turn}/feedback`,
            { method: "PUT", body: { rating: chosen } });
          for (const b of buttons) b.setAttribute("aria-pressed", b.dataset.rating === chosen ? "true" : "false");
          note.textContent = this.t("chat.thanks");
        } }, `${icon} ${this.t(label)}`));
    box.append(...buttons, note);
  }
}
