// A small Markdown renderer that builds DOM nodes (never HTML text), so nothing a model writes can become markup:
// fenced code, headings, lists, quotes, paragraphs; inline code, bold, italic and http(s) links.

const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;

export function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1;
      root.append(codeBlock(body.join("\n"), fence[2]));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      root.append(inline(element(`h${Math.min(heading[1].length + 2, 6)}`), heading[2]));
      i += 1;
      continue;
    }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      i = list(lines, i, root);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      const quote = element("blockquote");
      quote.append(renderMarkdown(quoted.join("\n")));
      root.append(quote);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) paragraph.push(lines[i++]);
    if (!paragraph.length) paragraph.push(lines[i++]);
    root.append(inline(element("p"), paragraph.join("\n")));
  }
  return root;
}

function startsBlock(line) {
  return /^\s*(```|~~~|#{1,6}\s|>|[-*+]\s|\d+[.)]\s)/.test(line);
}

function list(lines, start, root) {
  const ordered = /^\s*\d+[.)]\s/.test(lines[start]);
  const node = element(ordered ? "ol" : "ul");
  let i = start;
  while (i < lines.length) {
    const match = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (!match || /\d/.test(match[1]) !== ordered) break;
    node.append(inline(element("li"), match[2]));
    i += 1;
  }
  root.append(node);
  return i;
}

function codeBlock(code, language) {
  const pre = element("pre");
  const node = element("code");
  if (language) node.dataset.language = language;
  node.textContent = code;
  pre.append(node);
  return pre;
}

function inline(parent, text) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    appendText(parent, text.slice(last, match.index));
    parent.append(inlineNode(match));
    last = match.index + match[0].length;
  }
  appendText(parent, text.slice(last));
  return parent;
}

function inlineNode(match) {
  if (match[1]) return withText("code", match[2]);
  if (match[3] || match[4]) return inline(element("strong"), match[3] || match[4]);
  if (match[5] || match[6]) return inline(element("em"), match[5] || match[6]);
  const link = element("a");
  link.href = match[8];
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  return inline(link, match[7]);
}

function appendText(parent, text) {
  const parts = text.split("\n");
  parts.forEach((part, index) => {
    if (index) parent.append(element("br"));
    if (part) parent.append(document.createTextNode(part));
  });
}

function element(name) {
  return document.createElement(name);
}

function withText(name, text) {
  const node = element(name);
  node.textContent = text;
  return node;
}
