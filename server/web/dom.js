// Building DOM from data: every text from the server (model output, document text, file names) goes in as
// text nodes, never as HTML, so a document holding <script> or <img onerror=…> stays inert.

/** Create an element; `children` are nodes or strings (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** `text` with `text[start:end]` wrapped in <mark>, as nodes. */
export function highlighted(text, start, end) {
  if (start === null || start === undefined || end === null || end === undefined || end <= start) return [text];
  return [text.slice(0, start), el("mark", {}, text.slice(start, end)), text.slice(end)];
}

export function clear(element) {
  element.replaceChildren();
  return element;
}
