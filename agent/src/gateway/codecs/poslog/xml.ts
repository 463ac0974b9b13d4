import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * A namespace-agnostic view of an XML document: every element is known by its local name
 * (`nam:Sale`, `Sale` and `poslog:Sale` are all `Sale`), attributes too (`se:Copy` is `Copy`).
 * Comments, processing instructions and the declaration are dropped; CDATA sections and
 * character references are folded into the text.
 */
export interface XNode {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XNode[];
  /** The element's own text (CDATA included), trimmed. */
  readonly text: string;
}

export type ParseResult = { ok: true; root: XNode } | { ok: false; message: string };

/** Deeper than any POSLog document; a guard for the tree walkers, not a format rule. */
const MAX_DEPTH = 64;

const parser = new XMLParser({
  preserveOrder: true,
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the XML stack stays as is (docs/development.md)
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/** Bytes → text: UTF-8 (with or without BOM), UTF-16 with a BOM, or a declared Latin-1 / Windows-1252 / ASCII. */
export function decodeText(payload: Buffer): string | undefined {
  try {
    if (payload[0] === 0xfe && payload[1] === 0xff)
      return new TextDecoder('utf-16be', { fatal: true }).decode(payload.subarray(2));
    if (payload[0] === 0xff && payload[1] === 0xfe)
      return new TextDecoder('utf-16le', { fatal: true }).decode(payload.subarray(2));
    const head = payload.subarray(0, 200).toString('latin1');
    const declared = /^(?:\uFEFF|\u00EF\u00BB\u00BF)?\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/
      .exec(head)?.[1]
      ?.toLowerCase();
    if (declared === undefined || declared === 'utf-8' || declared === 'utf8') {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(payload);
    }
    if (['iso-8859-1', 'latin1', 'windows-1252', 'cp1252', 'us-ascii', 'ascii'].includes(declared)) {
      return new TextDecoder('windows-1252').decode(payload);
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** Parses one XML document with exactly one root element. Messages never quote the input. */
export function parseXml(payload: Buffer): ParseResult {
  const text = decodeText(payload);
  if (text === undefined)
    return {
      ok: false,
      message: 'the document is not UTF-8, UTF-16 with a byte order mark, or a declared ISO-8859-1/Windows-1252 text',
    };
  if (/<!DOCTYPE/i.test(text)) return { ok: false, message: 'a DOCTYPE is not accepted in a POSLog document' };
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    return { ok: false, message: `not well-formed XML (line ${valid.err.line}, column ${valid.err.col})` };
  let roots: XNode[];
  try {
    const raw: unknown = parser.parse(text);
    roots = Array.isArray(raw) ? raw.map((n) => toNode(n, 0)).filter((n): n is XNode => n !== undefined) : [];
  } catch {
    return { ok: false, message: 'not well-formed XML, or nested too deeply' };
  }
  const [root, ...others] = roots;
  if (!root || others.length > 0) return { ok: false, message: 'an XML document must have exactly one root element' };
  return { ok: true, root };
}

function toNode(raw: unknown, depth: number): XNode | undefined {
  if (depth > MAX_DEPTH) throw new RangeError('XML nested too deeply');
  if (raw === null || typeof raw !== 'object') return undefined;
  const entry = raw as Record<string, unknown>;
  const name = Object.keys(entry).find((k) => k !== ':@' && k !== '#text');
  if (name === undefined) return undefined;
  const attrs: Record<string, string> = {};
  const rawAttrs = entry[':@'];
  if (rawAttrs && typeof rawAttrs === 'object') {
    for (const [k, v] of Object.entries(rawAttrs as Record<string, unknown>)) if (typeof v === 'string') attrs[k] = v;
  }
  const children: XNode[] = [];
  let text = '';
  const content = entry[name];
  if (Array.isArray(content)) {
    for (const c of content) {
      if (c && typeof c === 'object' && '#text' in c) text += String((c as Record<string, unknown>)['#text']);
      else {
        const child = toNode(c, depth + 1);
        if (child) children.push(child);
      }
    }
  }
  return { name, attrs, children, text: text.trim() };
}

// ---- access by local name -------------------------------------------------------------------

export function child(node: XNode | undefined, name: string): XNode | undefined {
  return node?.children.find((c) => c.name === name);
}

export function childrenNamed(node: XNode | undefined, name: string): XNode[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

/** The trimmed text of the first element along `path` (direct children), if non-empty. */
export function textAt(node: XNode | undefined, ...path: string[]): string | undefined {
  let n = node;
  for (const p of path) n = child(n, p);
  return n && n.text !== '' ? n.text : undefined;
}

/** An attribute by local name, trimmed; undefined when absent or empty. */
export function attr(node: XNode | undefined, name: string): string | undefined {
  const v = node?.attrs[name]?.trim();
  return v === '' ? undefined : v;
}

/** An enumeration value without a vendor prefix, lower-cased: `acs:Auto` → `auto`. */
export function enumValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return (
    value
      .slice(value.lastIndexOf(':') + 1)
      .trim()
      .toLowerCase() || undefined
  );
}

export function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(true|1)$/i.test(value);
}

/** Every element named `name` below `node`, in document order, at most `maxDepth` levels down. */
export function descendants(node: XNode, name: string, maxDepth: number): XNode[] {
  const out: XNode[] = [];
  const walk = (n: XNode, depth: number): void => {
    for (const c of n.children) {
      if (c.name === name) out.push(c);
      if (depth < maxDepth) walk(c, depth + 1);
    }
  };
  walk(node, 1);
  return out;
}

/** The first value of any of `names` among the attributes of `node` and its descendants that passes `ok`. */
export function findAttr(
  node: XNode,
  names: readonly string[],
  ok: (v: string) => boolean,
  maxDepth: number,
): string | undefined {
  const visit = (n: XNode, depth: number): string | undefined => {
    for (const name of names) {
      const v = attr(n, name);
      if (v !== undefined && ok(v)) return v;
    }
    if (depth >= maxDepth) return undefined;
    for (const c of n.children) {
      const v = visit(c, depth + 1);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  return visit(node, 0);
}
