// The page's shell: knowledge-base picker, views, language, the API-key dialog and the document view.

import { Api } from "./api.js";
import { Chat } from "./chat.js";
import { el, highlighted, clear } from "./dom.js";
import { I18n, initialLanguage } from "./i18n.js";
import { Library } from "./library.js";

const KB_STORAGE = "kb.current";
const i18n = new I18n(initialLanguage());
const select = document.getElementById("kb-select");
const documentIds = new Map(); // kb -> Map(source -> doc_id)

function askForKey() {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" && input.value ? input.value : null),
      { once: true });
    dialog.showModal();
  });
}

const api = new Api(askForKey);
const alertBox = document.getElementById("alert");
let alertTimer = 0;

/** Show a failed call's reason (the server's `detail`) until the next one, or for a while. */
function showError(message) {
  alertBox.textContent = `${i18n.t("chat.error")}: ${message}`;
  alertBox.hidden = false;
  clearTimeout(alertTimer);
  alertTimer = setTimeout(() => (alertBox.hidden = true), 10_000);
}

// Every action is an async handler: whatever one of them fails with is shown, never silently dropped.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  showError(event.reason?.message || String(event.reason));
});
const currentKb = () => select.value;

async function docId(kb, source) {
  if (!documentIds.get(kb)?.has(source)) {
    const { documents } = await api.json(`/kbs/${encodeURIComponent(kb)}/documents`);
    documentIds.set(kb, new Map(documents.map((doc) => [doc.source, doc.doc_id])));
  }
  return documentIds.get(kb).get(source);
}

/** Show the whole document as kb indexed it, scrolled to the source's chunk with its quote marked. */
async function openDocument(source) {
  const kb = currentKb();
  const dialog = document.getElementById("document-view");
  const body = clear(document.getElementById("document-body"));
  document.getElementById("document-title").textContent = source.source;
  const id = await docId(kb, source.source);
  if (!id) throw new Error(`${source.source}: not in this knowledge base any more`);
  const documentText = await api.json(`/kbs/${encodeURIComponent(kb)}/documents/${encodeURIComponent(id)}`);
  let page = null;
  let target = null;
  for (const chunk of documentText.chunks) {
    if (chunk.page && chunk.page !== page) {
      page = chunk.page;
      body.append(el("div", { class: "page" }, `${i18n.t("doc.page")} ${page}`));
    }
    const cited = Boolean(source.chunk_id) && chunk.chunk_id === source.chunk_id;
    const node = el("div", { class: cited ? "chunk cited" : "chunk", "data-chunk": chunk.chunk_id },
      ...(cited ? highlighted(chunk.text, source.quote_start, source.quote_end) : [chunk.text]));
    if (cited) target = node;
    body.append(node);
  }
  document.getElementById("download").onclick = async () => {
    const blob = await api.download(kb, id);
    const link = el("a", { href: URL.createObjectURL(blob), download: source.source.split("/").pop() });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  };
  if (!dialog.open) dialog.showModal();
  target?.scrollIntoView({ block: "center" });
}

const chat = new Chat({ api, i18n, openDocument, currentKb });
const library = new Library({ api, i18n, currentKb, openDocument, onKbsChanged: (name) => loadKbs(name) });

async function loadKbs(preferred) {
  const before = select.value;
  const { knowledge_bases: kbs } = await api.json("/kbs");
  const wanted = preferred || localStorage.getItem(KB_STORAGE) || select.value;
  clear(select).append(...kbs.map((info) => el("option", { value: info.name }, info.name)));
  if (kbs.some((info) => info.name === wanted)) select.value = wanted;
  document.getElementById("no-kb").hidden = kbs.length > 0;
  documentIds.clear();
  await library.load(kbs);
  if (preferred === undefined || select.value !== before) await chat.load();
}

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-current", tab.dataset.view === name ? "page" : "false");
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "settings") library.loadSettings();
  location.hash = name;
}

document.getElementById("close-document").addEventListener("click", () => document.getElementById("document-view").close());
document.getElementById("lang").addEventListener("click", () => {
  i18n.set(i18n.lang === "zh" ? "en" : "zh");
  showView(location.hash.slice(1) || "chat");
});
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
select.addEventListener("change", async () => {
  localStorage.setItem(KB_STORAGE, select.value);
  await loadKbs(select.value);
  await chat.load();
  if (location.hash === "#settings") library.loadSettings();
});

i18n.apply(document);
showView(["chat", "kbs", "settings"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "chat");
loadKbs().then(() => document.body.setAttribute("data-ready", "true"));
