// Interface strings in English and Chinese; the browser's language picks one, the header button switches.

const STRINGS = {
  en: {
    "app.title": "kb — ask your documents",
    "nav.chat": "Chat",
    "nav.kbs": "Knowledge bases",
    "nav.settings": "Settings",
    "lang.switch": "中文",
    "kb.pick": "Knowledge base",
    "kb.none": "No knowledge base yet: create one under Knowledge bases.",
    "chat.new": "New conversation",
    "chat.conversations": "Conversations",
    "chat.rename": "Rename",
    "chat.delete": "Delete",
    "chat.renamePrompt": "New title",
    "chat.deleteConfirm": "Delete this conversation?",
    "chat.placeholder": "Ask a question about your documents (Enter sends, Shift+Enter adds a line)",
    "chat.ask": "Ask",
    "chat.stop": "Stop",
    "chat.stopped": "Stopped.",
    "chat.sources": "Sources",
    "chat.waiting": "Searching…",
    "chat.refused": "No source answers this — kb refuses rather than guess.",
    "chat.extractive": "Quoted from the sources: the model's reply did not pass the checks.",
    "chat.ungrounded": "Warning: these figures are in none of the sources:",
    "chat.error": "Error",
    "chat.open": "Open document",
    "chat.page": "page",
    "chat.score": "score",
    "chat.good": "Helpful",
    "chat.bad": "Wrong",
    "chat.thanks": "Thanks — saved.",
    "chat.empty": "Ask something to start.",
    "doc.title": "Document",
    "doc.download": "Download original",
    "doc.close": "Close",
    "doc.page": "Page",
    "kbs.title": "Knowledge bases",
    "kbs.name": "Name",
    "kbs.description": "Description",
    "kbs.documents": "Documents",
    "kbs.chunks": "Chunks",
    "kbs.create": "Create",
    "kbs.delete": "Delete",
    "kbs.deleteConfirm": "Delete this knowledge base and everything in it?",
    "kbs.upload": "Add files",
    "kbs.drop": "Drop files here, or choose them",
    "kbs.jobs": "Uploads",
    "kbs.indexed": "indexed",
    "kbs.unchanged": "unchanged",
    "kbs.failed": "failed",
    "kbs.docs": "Documents of",
    "kbs.source": "File",
    "kbs.status": "Status",
    "kbs.remove": "Remove",
    "kbs.removeConfirm": "Remove this document from the knowledge base?",
    "kbs.test": "Retrieval test",
    "kbs.query": "Query",
    "kbs.mode": "Mode",
    "kbs.search": "Search",
    "kbs.rank": "#",
    "kbs.passage": "Passage",
    "settings.title": "Settings",
    "settings.embedding": "Embedding model",
    "settings.chat": "Chat model",
    "settings.chunking": "Chunking",
    "settings.chunkingValue": "{size} characters, {overlap} shared",
    "settings.retrieval": "Retrieval",
    "settings.retrievalValue": "{mode}, {k} passages",
    "settings.server": "Server",
    "settings.modelLoaded": "model loaded",
    "settings.modelNotLoaded": "model loads on the first question",
    "key.title": "API key",
    "key.explain": "This server needs an API key. It is kept for this browser session only.",
    "key.ok": "Continue",
    "key.cancel": "Cancel",
  },
  zh: {
    "app.title": "kb — 文档问答",
    "nav.chat": "对话",
    "nav.kbs": "知识库",
    "nav.settings": "设置",
    "lang.switch": "English",
    "kb.pick": "知识库",
    "kb.none": "还没有知识库：请在「知识库」页创建。",
    "chat.new": "新对话",
    "chat.conversations": "对话列表",
    "chat.rename": "重命名",
    "chat.delete": "删除",
    "chat.renamePrompt": "新标题",
    "chat.deleteConfirm": "删除这个对话？",
    "chat.placeholder": "就文档提问（回车发送，Shift+回车换行）",
    "chat.ask": "提问",
    "chat.stop": "停止",
    "chat.stopped": "已停止。",
    "chat.sources": "来源",
    "chat.waiting": "检索中…",
    "chat.refused": "没有来源能回答这个问题——kb 宁可不答，也不乱猜。",
    "chat.extractive": "摘自来源原文：模型的回答未通过检查。",
    "chat.ungrounded": "注意：以下数字在所有来源中都找不到：",
    "chat.error": "出错",
    "chat.open": "打开文档",
    "chat.page": "第",
    "chat.score": "相关度",
    "chat.good": "有用",
    "chat.bad": "有误",
    "chat.thanks": "谢谢，已保存。",
    "chat.empty": "提个问题开始吧。",
    "doc.title": "文档",
    "doc.download": "下载原文件",
    "doc.close": "关闭",
    "doc.page": "第几页",
    "kbs.title": "知识库",
    "kbs.name": "名称",
    "kbs.description": "说明",
    "kbs.documents": "文档数",
    "kbs.chunks": "分块数",
    "kbs.create": "创建",
    "kbs.delete": "删除",
    "kbs.deleteConfirm": "删除这个知识库及其全部内容？",
    "kbs.upload": "添加文件",
    "kbs.drop": "把文件拖到这里，或点击选择",
    "kbs.jobs": "上传任务",
    "kbs.indexed": "已索引",
    "kbs.unchanged": "未变化",
    "kbs.failed": "失败",
    "kbs.docs": "文档：",
    "kbs.source": "文件",
    "kbs.status": "状态",
    "kbs.remove": "移除",
    "kbs.removeConfirm": "从知识库移除这个文档？",
    "kbs.test": "检索测试",
    "kbs.query": "查询",
    "kbs.mode": "方式",
    "kbs.search": "检索",
    "kbs.rank": "#",
    "kbs.passage": "段落",
    "settings.title": "设置",
    "settings.embedding": "向量模型",
    "settings.chat": "对话模型",
    "settings.chunking": "分块",
    "settings.chunkingValue": "每块 {size} 字符，重叠 {overlap}",
    "settings.retrieval": "检索",
    "settings.retrievalValue": "{mode}，取 {k} 段",
    "settings.server": "服务",
    "settings.modelLoaded": "模型已加载",
    "settings.modelNotLoaded": "首次提问时加载模型",
    "key.title": "API 密钥",
    "key.explain": "这个服务需要 API 密钥，只在本次浏览器会话中保存。",
    "key.ok": "继续",
    "key.cancel": "取消",
  },
};

const LANG_STORAGE = "kb.lang";

export function initialLanguage() {
  const saved = localStorage.getItem(LANG_STORAGE);
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export class I18n {
  constructor(lang) {
    this.lang = lang;
  }

  t(key, values = {}) {
    const text = STRINGS[this.lang][key] ?? STRINGS.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  set(lang) {
    this.lang = lang;
    localStorage.setItem(LANG_STORAGE, lang);
    this.apply(document);
  }

  /** Fill every element marked data-i18n (text) or data-i18n-placeholder / -title / -label. */
  apply(root) {
    document.documentElement.lang = this.lang === "zh" ? "zh-CN" : "en";
    document.title = this.t("app.title");
    for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = this.t(element.dataset.i18n);
    for (const element of root.querySelectorAll("[data-i18n-placeholder]"))
      element.placeholder = this.t(element.dataset.i18nPlaceholder);
    for (const element of root.querySelectorAll("[data-i18n-title]")) {
      element.title = this.t(element.dataset.i18nTitle);
      element.setAttribute("aria-label", element.title);
    }
  }
}
