// A small Markdown subset rendered as DOM nodes, never through HTML: every piece of text becomes a
// Text node, so no markup from a model or a prompt is ever interpreted. Blocks: paragraphs,
// headings, lists (flat), fenced code; inline: code, strong, emphasis, and links whose address is
// an absolute http(s) URL (anything else, javascript: included, stays text).

const INLINE = new RegExp([
  "`([^`\\n]+)`",                                   // 1: code
  "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)",            // 2, 3: link
  "\\*\\*(?=\\S)([^*\\n]+?)\\*\\*",                 // 4: strong
  "(?<![\\w*])\\*(?=\\S)([^*\\n]+?)\\*(?![\\w*])",  // 5: emphasis
  "(?<![\\w_])_(?=\\S)([^_\\n]+?)_(?![\\w_])",      // 6: emphasis
  "(https?://[^\\s<>()\\[\\]]+[^\\s<>()\\[\\].,;:!?'\"])", // 7: a bare address
].join("|"), "g");

function el(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

/** The URL if `href` is an absolute http or https address, else null. */
export function safeHref(href) {
  let url;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

function link(children, href) {
  const safe = safeHref(href);
  if (safe === null) return null;
  const a = el("a", ...children);
  a.href = safe;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  return a;
}

/** Inline Markdown of one block's text, as nodes. */
export function inline(text) {
  const nodes = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    let node = null;
    if (m[1] !== undefined) node = el("code", m[1]);
    else if (m[2] !== undefined) node = link(inline(m[2]), m[3]);
    else if (m[4] !== undefined) node = el("strong", ...inline(m[4]));
    else if (m[5] !== undefined || m[6] !== undefined) node = el("em", ...inline(m[5] ?? m[6]));
    else if (m[7] !== undefined) node = link([m[7]], m[7]);
    if (node === null) continue; // an address we do not link stays text, as written
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    nodes.push(node);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const ITEM = /^\s{0,3}(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/;

/** Markdown text as a fragment of block nodes; headings start at `<h{top}>`. */
export function markdown(text, top = 3) {
  const out = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) out.append(el("p", ...inline(paragraph.join("\n"))));
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      flush();
      list = null;
      const body = [];
      while (++i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i]);
      out.append(el("pre", el("code", body.join("\n"))));
      continue;
    }
    const heading = line.match(HEADING);
    const item = line.match(ITEM);
    if (!line.trim()) {
      flush();
      list = null;
    } else if (heading) {
      flush();
      list = null;
      out.append(el(`h${Math.min(top + heading[1].length - 1, 6)}`, ...inline(heading[2])));
    } else if (item) {
      flush();
      const tag = item[1] ? "ul" : "ol";
      if (list === null || list.tagName.toLowerCase() !== tag) {
        list = el(tag);
        if (item[2] && item[2] !== "1") list.start = Number(item[2]);
        out.append(list);
      }
      list.append(el("li", ...inline(item[3])));
    } else if (list !== null && /^\s+\S/.test(line)) {
      list.lastElementChild.append(document.createTextNode("\n"), ...inline(line.trim()));
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
  return out;
}
