// The knowledge-base view: list, create and delete knowledge bases; upload files with progress; list and
// remove documents; a retrieval test. And the settings view: what a knowledge base is built with.

import { el, clear } from "./dom.js";

const POLL_MS = 600;

export class Library {
  constructor({ api, i18n, currentKb, onKbsChanged, openDocument }) {
    this.api = api;
    this.openDocument = openDocument;
    this.i18n = i18n;
    this.currentKb = currentKb;
    this.onKbsChanged = onKbsChanged;
    document.getElementById("create-kb").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    const drop = document.getElementById("drop");
    const input = document.getElementById("files");
    input.addEventListener("change", () => {
      if (input.files.length) this.upload([...input.files]);
      input.value = "";
    });
    drop.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length) this.upload([...event.dataTransfer.files]);
    });
  }

  t(key, values) {
    return this.i18n.t(key, values);
  }

  base() {
    return `/kbs/${encodeURIComponent(this.currentKb())}`;
  }

  async load(kbs) {
    const rows = clear(document.getElementById("kb-rows"));
    for (const info of kbs) {
      rows.append(el("tr", { "data-kb": info.name },
        el("td", {}, info.name), el("td", {}, info.description), el("td", {}, info.documents), el("td", {}, info.chunks),
        el("td", {}, el("button", { type: "button", onclick: () => this.drop(info.name) }, this.t("kbs.delete")))));
    }
    document.getElementById("docs-kb").textContent = this.currentKb() || "";
    await this.loadDocuments();
  }

  async create() {
    const name = document.getElementById("new-kb-name");
    const description = document.getElementById("new-kb-description");
    await this.api.json("/kbs", { method: "POST", body: { name: name.value.trim(), description: description.value } });
    const created = name.value.trim();
    name.value = "";
    description.value = "";
    await this.onKbsChanged(created);
  }

  async drop(kb) {
    if (!confirm(this.t("kbs.deleteConfirm"))) return;
    await this.api.json(`/kbs/${encodeURIComponent(kb)}`, { method: "DELETE" });
    await this.onKbsChanged(null);
  }

  async loadDocuments() {
    const rows = clear(document.getElementById("doc-rows"));
    if (!this.currentKb()) return;
    const { documents } = await this.api.json(`${this.base()}/documents`);
    documents.sort((a, b) => a.source.localeCompare(b.source));
    for (const doc of documents) {
      const status = doc.status === "failed" ? `${this.t("kbs.failed")}: ${doc.error}` : this.t("kbs.indexed");
      rows.append(el("tr", { "data-source": doc.source },
        el("td", {}, doc.source), el("td", {}, doc.chunks), el("td", { class: doc.status }, status),
        el("td", { class: "row" },
          el("button", { type: "button", class: "open", onclick: () => this.openDocument({ source: doc.source }) },
            this.t("chat.open")),
          el("button", { type: "button", class: "remove", onclick: () => this.removeDocument(doc) }, this.t("kbs.remove")))));
    }
  }

  async removeDocument(doc) {
    if (!confirm(this.t("kbs.removeConfirm"))) return;
    await this.api.json(`${this.base()}/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
    await this.loadDocuments();
  }

  async upload(files) {
    const bar = el("progress", { max: 1, value: 0 });
    const label = el("div", { class: "label" }, files.map((f) => f.name).join(", "));
    const results = el("ul", { class: "results" });
    const item = el("li", { class: "job" }, label, bar, results);
    document.getElementById("jobs").prepend(item);
    let job;
    try {
      job = await this.api.upload(this.currentKb(), files);
    } catch (error) {
      item.classList.add("failed");
      results.append(el("li", { class: "failed" }, error.message));
      return;
    }
    item.dataset.job = job.id;
    while (job.status === "queued" || job.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await this.api.json(`${this.base()}/jobs/${encodeURIComponent(job.id)}`);
      bar.max = Math.max(job.bytes_total, 1);
      bar.value = job.bytes_done;
    }
    bar.max = 1;
    bar.value = 1;
    item.dataset.status = job.status;
    if (job.status === "failed") results.append(el("li", { class: "failed" }, job.error));
    const outcome = job.result || { added: [], updated: [], unchanged: [], failed: [] };
    for (const source of [...outcome.added, ...outcome.updated])
      results.append(el("li", { "data-outcome": "indexed" }, `${source} — ${this.t("kbs.indexed")}`));
    for (const source of outcome.unchanged)
      results.append(el("li", { "data-outcome": "unchanged" }, `${source} — ${this.t("kbs.unchanged")}`));
    for (const failure of outcome.failed)
      results.append(el("li", { class: "failed", "data-outcome": "failed" },
        `${failure.source} — ${this.t("kbs.failed")}: ${failure.reason}`));
    await this.onKbsChanged(this.currentKb());
  }

  async search() {
    const rows = clear(document.getElementById("search-rows"));
    const body = { query: document.getElementById("search-query").value, mode: document.getElementById("search-mode").value, k: 8 };
    const { hits } = await this.api.json(`${this.base()}/search`, { method: "POST", body });
    hits.forEach((hit, rank) => {
      rows.append(el("tr", {}, el("td", {}, rank + 1), el("td", {}, hit.score.toFixed(3)),
        el("td", {}, hit.page ? `${hit.source} · ${hit.page}` : hit.source), el("td", { class: "text" }, hit.text)));
    });
  }

  async loadSettings() {
    const facts = clear(document.getElementById("settings"));
    const health = await this.api.json("/health");
    const add = (label, value) => facts.append(el("dt", {}, this.t(label)), el("dd", {}, value));
    if (this.currentKb()) {
      const info = await this.api.json(this.base());
      facts.append(el("dt", {}, this.t("kb.pick")), el("dd", {}, info.name));
      add("settings.embedding", info.embedding_model);
      add("settings.chat", info.chat_model);
      add("settings.chunking", this.t("settings.chunkingValue", { size: info.chunk_size, overlap: info.chunk_overlap }));
      add("settings.retrieval", this.t("settings.retrievalValue", { mode: info.retrieval_mode, k: info.k }));
    }
    add("settings.server", `kb ${health.version} · ${this.t(health.model_loaded ? "settings.modelLoaded" : "settings.modelNotLoaded")}`);
  }
}
