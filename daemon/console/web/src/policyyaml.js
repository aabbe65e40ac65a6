// policyyaml.js — the YAML reader under policy.js, reading a policy document
// as reserve.ParsePolicy does through gopkg.in/yaml.v3 (v3.0.1): one
// document of block and flow mappings and sequences, plain, quoted and block
// scalars, comments; each node with its line, its YAML tag resolved as
// yaml.v3 resolves it (resolve.go), its anchor and whether it had an explicit
// tag, so that policy.js can apply reserve/policy_yaml.go's checks to the
// same tree. The scalar scanners (plain, quoted, block) port yaml.v3's
// scannerc.go line by line; the block structure follows its indentation
// rules. What it cannot read it refuses as "malformed YAML" with the line.
//
// Known differences, all refusals of documents yaml.v3 accepts (the page
// then sends the officer to custosctl; none can make the browser accept a
// document with another meaning): %YAML/%TAG directives, content on the
// `---` line other than a flow collection or scalar, explicit `?` keys
// written over several lines, a flow mapping as a key with its value on
// another line.

import { FieldError } from './bytes.js';

/**
 * PolicyError is a refusal of a policy document. Its message is Go's in full
 * ("policy line 14: tiers[1].up_to: …"); field is the field's path (empty
 * for refusals of the document as a whole), line the line (0 when Go names
 * none), syntax true for malformed YAML (whose wording is not Go's).
 */
export class PolicyError extends FieldError {
  constructor(line, field, reason, syntax = false) {
    super(field, reason);
    this.name = 'PolicyError';
    this.line = line;
    this.syntax = syntax;
    const where = line ? `policy line ${line}` : 'policy';
    this.message = field ? `${where}: ${field}: ${reason}` : `${where}: ${reason}`;
  }
}

const isBlank = (c) => c === ' ' || c === '\t';
const isBlankZ = (c) => c === ' ' || c === '\t' || c === '\n' || c === undefined || c === '';
const isAnchorChar = (c) => c !== undefined && /[0-9A-Za-z_-]/.test(c);
const isHex = (c) => c !== undefined && /[0-9A-Fa-f]/.test(c);
const TAG_PREFIX = 'tag:yaml.org,2002:';

/** shortTag is yaml.v3's shortTag: tag:yaml.org,2002:x is written !!x. */
function shortTag(t) {
  return t.startsWith(TAG_PREFIX) ? '!!' + t.slice(TAG_PREFIX.length) : t;
}

class Reader {
  constructor(src) {
    this.s = src;
    this.pos = 0;
    this.flow = 0;
    this.anchors = new Set();
    this.lineStarts = [0];
    for (let i = 0; i < src.length; i++) if (src[i] === '\n') this.lineStarts.push(i + 1);
  }

  lineOf(p) {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  colOf(p) {
    return p - this.lineStarts[this.lineOf(p) - 1];
  }

  get c() {
    return this.s[this.pos];
  }

  at(i) {
    return this.s[this.pos + i];
  }

  eof() {
    return this.pos >= this.s.length;
  }

  fail(p, msg) {
    throw new PolicyError(this.lineOf(Math.min(p, this.s.length)), '', `malformed YAML: ${msg}`, true);
  }

  /** atMarker: a document marker (--- or ...) at the start of a line at p. */
  atMarker(p = this.pos) {
    if (this.colOf(p) !== 0) return '';
    const m = this.s.slice(p, p + 3);
    if ((m === '---' || m === '...') && isBlankZ(this.s[p + 3])) return m;
    return '';
  }

  /**
   * skip moves to the next token, over spaces, comments and line breaks. A
   * tab may separate tokens only where yaml.v3 does not allow a simple key
   * (keyAllowed false) or inside a flow collection; at the start of a line,
   * or after "- " and "? ", it cannot start a token.
   */
  skip(keyAllowed) {
    const s = this.s;
    for (;;) {
      while (s[this.pos] === ' ' || (s[this.pos] === '\t' && (this.flow > 0 || !keyAllowed))) this.pos++;
      if (s[this.pos] === '#') while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      if (s[this.pos] === '\n') {
        this.pos++;
        if (this.flow === 0) keyAllowed = true;
        continue;
      }
      break;
    }
    if (s[this.pos] === '\t') this.fail(this.pos, 'found character that cannot start any token');
  }

  scalar(value, tag, line, extra = {}) {
    return { kind: 'scalar', value, tag, line, anchor: '', tagged: false, content: [], ...extra };
  }

  empty(line) {
    return this.scalar('', '!!null', line);
  }

  // --- the document ---------------------------------------------------

  document(onlyRoot = false) {
    this.skip(true);
    if (this.eof()) throw new PolicyError(1, '', 'the document is empty');
    const directives = this.colOf(this.pos) === 0 && this.c === '%';
    if (directives) this.directives();
    let root;
    if (directives && this.atMarker() !== '---') this.fail(this.pos, 'did not find expected <document start>');
    if (this.atMarker() === '---') {
      const line = this.lineOf(this.pos);
      this.pos += 3;
      this.skip(false);
      // yaml.v3 puts the end of a stream that does not end a line on the next.
      if (this.eof()) root = this.empty(this.lineOf(this.pos) + (this.colOf(this.pos) ? 1 : 0));
      else if (this.atMarker()) root = this.empty(this.lineOf(this.pos));
      else if (this.lineOf(this.pos) === line) {
        root = this.node(-1, { noBlock: true });
      } else root = this.node(-1, {});
    } else if (this.atMarker() === '...') {
      this.fail(this.pos, 'did not find expected node content');
    } else {
      root = this.node(-1, {});
    }
    if (onlyRoot) return root;
    this.skip(true);
    if (this.eof()) return root;
    let m = this.atMarker();
    if (m === '...') {
      this.pos += 3;
      this.skip(true);
      if (this.eof()) return root;
      m = this.atMarker();
      while (m === '...') {
        this.pos += 3;
        this.skip(true);
        if (this.eof()) return root;
        m = this.atMarker();
      }
    }
    if (m === '---' || this.directiveAhead()) {
      // yaml.v3 reads the next document before refusing it: its syntax
      // errors come first.
      const line = this.lineOf(this.pos);
      try {
        this.document(true);
      } catch (e) {
        if (e.syntax) throw e;
      }
      throw new PolicyError(line, '', 'a second YAML document follows the policy; a policy file holds one');
    }
    this.fail(this.pos, 'did not find expected <document start>');
  }

  /** directiveAhead: a directive line, which ends a document, at pos. */
  directiveAhead() {
    return this.colOf(this.pos) === 0 && this.c === '%';
  }

  /** directives reads %YAML 1.1 and %TAG lines before a document. */
  directives() {
    let version = false;
    this.handles = new Set();
    while (this.colOf(this.pos) === 0 && this.c === '%') {
      const start = this.pos;
      const eol = this.s.indexOf('\n', start) < 0 ? this.s.length : this.s.indexOf('\n', start);
      const text = this.s.slice(start, eol).replace(/[ \t]+#.*$/, '');
      let m;
      if ((m = /^%YAML[ \t]+([0-9]+)\.([0-9]+)[ \t]*$/.exec(text))) {
        if (version) this.fail(start, 'found duplicate %YAML directive');
        version = true;
        if (m[1] !== '1' || m[2] !== '1') this.fail(start, 'found incompatible YAML document');
      } else if ((m = /^%TAG[ \t]+(!|!!|![0-9A-Za-z_-]+!)[ \t]+([^ \t]+)[ \t]*$/.exec(text))) {
        if (this.handles.has(m[1])) this.fail(start, 'found duplicate %TAG directive');
        this.handles.add(m[1]);
      } else this.fail(start, 'found unknown directive name');
      this.pos = eol;
      this.skip(true);
    }
  }

  // --- block structure ------------------------------------------------

  /** props reads anchors and tags before a node. */
  props() {
    const p = { anchor: '', tag: '', tagged: false, line: 0 };
    while (this.c === '&' || this.c === '!') {
      if (!p.line) p.line = this.lineOf(this.pos);
      const start = this.pos;
      if (this.c === '&' ? p.anchor : p.tagSeen) this.fail(start, 'did not find expected node content');
      if (this.c === '&') {
        this.pos++;
        const from = this.pos;
        while (isAnchorChar(this.c)) this.pos++;
        if (this.pos === from || !(isBlankZ(this.c) || '?:,]}%@`'.includes(this.c))) {
          this.fail(start, 'did not find expected alphabetic or numeric character');
        }
        p.anchor = this.s.slice(from, this.pos);
      } else {
        p.tag = this.tag();
        p.tagged = p.tag !== '';
        p.tagSeen = true;
      }
      this.skip(false);
    }
    return p;
  }

  tag() {
    const start = this.pos;
    this.pos++; // !
    if (this.c === '<') {
      const end = this.s.indexOf('>', this.pos);
      if (end < 0 || this.s.slice(this.pos, end).includes('\n')) this.fail(start, 'did not find the expected \'>\'');
      const t = this.s.slice(this.pos + 1, end);
      this.pos = end + 1;
      if (t === '') this.fail(start, 'did not find expected tag URI');
      return shortTag(t);
    }
    if (isBlankZ(this.c)) return ''; // "!": the non-specific tag
    let handle = '!';
    if (this.c === '!') {
      handle = '!!';
      this.pos++;
    } else {
      let q = this.pos;
      while (isAnchorChar(this.s[q])) q++;
      if (this.s[q] === '!' && !this.handles?.has(this.s.slice(start, q + 1))) this.fail(start, 'found undefined tag handle');
    }
    const from = this.pos;
    while (this.c !== undefined && /[0-9A-Za-z\-;/?:@&=+$,_.!~*'()[\]%]/.test(this.c) && !(this.flow > 0 && ',[]{}'.includes(this.c))) this.pos++;
    const suffix = this.s.slice(from, this.pos);
    if (suffix === '' && handle === '!!') this.fail(start, 'did not find expected tag URI');
    if (!isBlankZ(this.c) && !(this.flow > 0 && this.c === ',')) this.fail(start, 'did not find expected whitespace or line break');
    return handle === '!!' ? '!!' + suffix : '!' + suffix;
  }

  withProps(n, p) {
    if (p.anchor) n.anchor = p.anchor;
    if (p.tagged) {
      n.tagged = true;
      n.tag = p.tag;
    }
    if (p.line) n.line = p.line;
    return n;
  }

  /**
   * node reads the node at pos, a block node whose parent collection is at
   * column indent (-1 for the root). noBlock: the node starts on the line of
   * a ':' (a block collection cannot start there).
   */
  node(indent, { noBlock = false, mapValue = false } = {}) {
    const propLine = this.lineOf(this.pos);
    const startCol = this.colOf(this.pos);
    const p = this.props();
    if (p.line) {
      if (p.anchor) this.anchors.add(p.anchor);
      if (this.eof() || this.atMarker()) return this.withProps(this.empty(p.line), p);
      if (this.lineOf(this.pos) !== propLine) {
        // The node is on the lines below its properties.
        const col = this.colOf(this.pos);
        const seq = this.c === '-' && isBlankZ(this.at(1));
        if (col > indent || (mapValue && col === indent && seq)) {
          if (seq) return this.withProps(this.sequence(col, col === indent), p);
          if (this.keyAhead()) return this.withProps(this.mapping(col), p);
          return this.withProps(this.inline(indent), p);
        }
        return this.withProps(this.empty(p.line), p);
      }
    }
    const sameLine = !p.line || this.lineOf(this.pos) === propLine;
    if (this.c === '-' && isBlankZ(this.at(1))) {
      if (noBlock || p.line) this.fail(this.pos, 'block sequence entries are not allowed in this context');
      return this.sequence(this.colOf(this.pos), false);
    }
    if (this.c === '?' && isBlankZ(this.at(1))) {
      if (noBlock || p.line) this.fail(this.pos, 'mapping keys are not allowed in this context');
      return this.mapping(this.colOf(this.pos));
    }
    if (this.keyAhead() || (p.line && this.c === ':' && isBlankZ(this.at(1)))) {
      if (noBlock) this.fail(this.pos, 'mapping values are not allowed in this context');
      // Properties on the line of a key belong to the key.
      return sameLine && p.line ? this.mapping(startCol, p) : this.mapping(this.colOf(this.pos));
    }
    const n = this.withProps(this.inline(indent), p);
    return n;
  }

  /** endOfLine requires nothing but blanks and a comment after a node. */
  endOfLine() {
    while (isBlank(this.c)) this.pos++;
    if (this.eof() || this.c === '\n' || this.c === '#') return;
    if (this.c === ':' && isBlankZ(this.at(1))) this.fail(this.pos, "could not find expected ':'");
    this.fail(this.pos, 'did not find expected key');
  }

  /** inline reads a scalar, flow collection or alias (no block collection). */
  inline(indent) {
    const c = this.c;
    let n;
    if (c === '|' || c === '>') return this.blockScalar(indent);
    if (c === '[' || c === '{') n = this.flowCollection();
    else if (c === '"' || c === "'") n = this.quoted();
    else if (c === '*') n = this.alias();
    else if (this.plainStart()) return this.plain(indent);
    else this.fail(this.pos, 'found character that cannot start any token');
    this.endOfLine();
    return n;
  }

  plainStart(p = this.pos) {
    const c = this.s[p];
    const next = this.s[p + 1];
    if (c === undefined) return false;
    if (!'-?:,[]{}#&*!|>\'"%@`'.includes(c) && !isBlankZ(c)) return true;
    if (c === '-' && !isBlank(next) && next !== undefined && next !== '\n') return true;
    if (this.flow === 0 && (c === '?' || c === ':') && !isBlankZ(next)) return true;
    return false;
  }

  /** keyAhead reports whether a simple key and ':' start at pos, on this line. */
  keyAhead() {
    const s = this.s;
    let q = this.pos;
    const eol = s.indexOf('\n', q) < 0 ? s.length : s.indexOf('\n', q);
    // Properties of the key.
    while (s[q] === '&' || s[q] === '!') {
      while (q < eol && !isBlank(s[q])) q++;
      while (isBlank(s[q])) q++;
    }
    const c = s[q];
    if (c === '"' || c === "'") {
      q++;
      for (; q < eol; q++) {
        if (c === "'" && s[q] === "'" && s[q + 1] === "'") q++;
        else if (c === '"' && s[q] === '\\') q++;
        else if (s[q] === c) break;
      }
      if (q >= eol) return false;
      q++;
    } else if (c === '[' || c === '{') {
      let depth = 0;
      for (; q < eol; q++) {
        const d = s[q];
        if (d === '[' || d === '{') depth++;
        else if (d === ']' || d === '}') {
          depth--;
          if (depth === 0) break;
        } else if (d === '"' || d === "'") {
          for (q++; q < eol && s[q] !== d; q++) if (d === '"' && s[q] === '\\') q++;
        }
      }
      if (q >= eol) return false;
      q++;
    } else if (c === '*') {
      q++;
      while (isAnchorChar(s[q])) q++;
    } else if (this.plainStart(q)) {
      for (; q < eol; q++) {
        if (s[q] === ':' && isBlankZ(s[q + 1])) return true;
        if (isBlank(s[q])) {
          let r = q;
          while (isBlank(s[r])) r++;
          if (s[r] === '#') return false;
          q = r - 1;
        }
      }
      return false;
    } else return false;
    while (isBlank(s[q])) q++;
    return s[q] === ':' && isBlankZ(s[q + 1]);
  }

  /** mapping reads a block mapping whose keys are at column col. */
  mapping(col, firstKeyProps = null) {
    const m = { kind: 'mapping', line: this.lineOf(this.pos), anchor: '', tagged: false, tag: '!!map', content: [] };
    if (firstKeyProps) m.line = firstKeyProps.line;
    let keyProps = firstKeyProps;
    for (;;) {
      let key;
      if (this.c === '?' && isBlankZ(this.at(1))) {
        const q = this.pos;
        this.pos++;
        key = this.value(col, q, 'complex');
        this.skip(true);
        key.complexKey = true;
        if (this.eof() || this.atMarker() || !(this.colOf(this.pos) === col && this.c === ':' && isBlankZ(this.at(1)))) {
          m.content.push(key, this.empty(key.line));
          if (this.next(col)) continue;
          return m;
        }
      } else {
        const p = keyProps || this.props();
        keyProps = null;
        if (p.anchor) this.anchors.add(p.anchor);
        if (this.c === ':' && isBlankZ(this.at(1))) {
          // A ':' after properties: the key is empty; without them, no key.
          if (!p.line) this.fail(this.pos, 'did not find expected key');
          key = this.withProps(this.empty(this.lineOf(this.pos)), p);
          key.complexKey = true;
        } else {
          if (!this.keyAhead()) this.fail(this.pos, "could not find expected ':'");
          key = this.withProps(this.keyNode(), p);
        }
        while (isBlank(this.c)) this.pos++;
        if (!(this.c === ':' && isBlankZ(this.at(1)))) this.fail(this.pos, "could not find expected ':'");
      }
      const colon = this.pos;
      const complex = key.complexKey;
      this.pos++;
      m.content.push(key, this.value(col, colon, complex ? 'complex' : 'map'));
      if (!this.next(col)) return m;
      if (this.c === '-' && isBlankZ(this.at(1))) this.fail(this.pos, 'did not find expected key');
    }
  }

  /** next moves to the next entry of a block collection at col; false when it ended. */
  next(col) {
    this.skip(true);
    if (this.eof() || this.atMarker() || this.directiveAhead()) return false;
    const c = this.colOf(this.pos);
    if (c < col) return false;
    if (c > col) this.fail(this.pos, 'did not find expected key');
    return true;
  }

  /** keyNode reads a simple key: a scalar, flow collection or alias on one line. */
  keyNode() {
    const c = this.c;
    if (c === '"' || c === "'") return this.quoted();
    if (c === '[' || c === '{') return this.flowCollection();
    if (c === '*') return this.alias();
    const line = this.lineOf(this.pos);
    const from = this.pos;
    while (!(this.c === ':' && isBlankZ(this.at(1)))) this.pos++;
    let v = this.s.slice(from, this.pos);
    v = v.replace(/[ \t]+$/, '');
    this.pos = from + v.length;
    return this.scalar(v, v === '<<' ? '!!merge' : resolve(v), line);
  }

  /**
   * value reads what follows an indicator of a block collection at col:
   * mode 'map' the ':' after a simple key, 'seq' a '-', 'complex' a '?' or
   * the ':' after its key.
   */
  value(col, indPos, mode) {
    const mapValue = mode === 'map';
    const indentless = mode !== 'seq';
    const indLine = this.lineOf(indPos);
    this.skip(!mapValue);
    if (this.eof() || this.atMarker()) return this.empty(indLine);
    const c = this.colOf(this.pos);
    if (this.lineOf(this.pos) === indLine) return this.node(col, { noBlock: mapValue, mapValue: indentless });
    if (c > col) return this.node(col, { mapValue: indentless });
    if (indentless && c === col && this.c === '-' && isBlankZ(this.at(1))) return this.sequence(col, true);
    // A block scalar is no key: yaml.v3 reads it as the value even at col.
    if (c === col && (this.c === '|' || this.c === '>')) return this.node(col, {});
    return this.empty(indLine);
  }

  /** sequence reads a block sequence whose '-' are at column col. */
  sequence(col, indentless) {
    const n = { kind: 'sequence', line: this.lineOf(this.pos), anchor: '', tagged: false, tag: '!!seq', content: [] };
    for (;;) {
      const dash = this.pos;
      this.pos++;
      n.content.push(this.value(col, dash, 'seq'));
      this.skip(true);
      if (this.eof() || this.atMarker() || this.directiveAhead()) return n;
      const c = this.colOf(this.pos);
      if (c < col) return n;
      if (c > col) this.fail(this.pos, "did not find expected '-' indicator");
      if (this.c === '-' && isBlankZ(this.at(1))) continue;
      if (indentless) return n;
      this.fail(this.pos, "did not find expected '-' indicator");
    }
  }

  // --- flow collections -------------------------------------------------

  flowCollection() {
    const open = this.c;
    const line = this.lineOf(this.pos);
    const start = this.pos;
    this.pos++;
    this.flow++;
    const n = { kind: open === '[' ? 'sequence' : 'mapping', line, anchor: '', tagged: false, tag: open === '[' ? '!!seq' : '!!map', content: [] };
    const close = open === '[' ? ']' : '}';
    for (;;) {
      this.skip(true);
      if (this.eof()) this.fail(start, `did not find expected ',' or '${close}'`);
      if (this.c === close) break;
      let explicit = false;
      if (this.c === '?' && isBlankZ(this.at(1))) {
        explicit = true;
        this.pos++;
        this.skip(true);
      }
      let k = this.c === ':' ? this.empty(this.lineOf(this.pos)) : this.flowNode();
      this.skip(true);
      if (this.c === ':') {
        const colon = this.pos;
        this.pos++;
        this.skip(true);
        const v = this.c === ',' || this.c === close ? this.empty(this.lineOf(colon)) : this.flowNode();
        if (open === '{') n.content.push(k, v);
        else n.content.push({ kind: 'mapping', line: k.line, anchor: '', tagged: false, tag: '!!map', content: [k, v] });
        this.skip(true);
      } else if (open === '{') {
        n.content.push(k, this.empty(this.lineOf(this.pos)));
      } else if (explicit) {
        n.content.push({ kind: 'mapping', line: k.line, anchor: '', tagged: false, tag: '!!map', content: [k, this.empty(this.lineOf(this.pos))] });
      } else {
        n.content.push(k);
      }
      if (this.c === ',') {
        this.pos++;
        continue;
      }
      if (this.c === close) break;
      this.fail(start, `did not find expected ',' or '${close}'`);
    }
    this.pos++;
    this.flow--;
    return n;
  }

  flowNode() {
    const p = this.props();
    if (p.anchor) this.anchors.add(p.anchor);
    const c = this.c;
    let n;
    if (p.line && (c === ',' || c === ']' || c === '}' || c === ':' || this.eof())) n = this.empty(p.line);
    else if (c === '[' || c === '{') n = this.flowCollection();
    else if (c === '"' || c === "'") n = this.quoted();
    else if (c === '*') n = this.alias();
    else if (this.plainStart()) n = this.plain(-1);
    else this.fail(this.pos, 'found character that cannot start any token');
    return this.withProps(n, p);
  }

  alias() {
    const start = this.pos;
    this.pos++;
    const from = this.pos;
    while (isAnchorChar(this.c)) this.pos++;
    if (this.pos === from || !(isBlankZ(this.c) || '?:,]}%@`'.includes(this.c))) {
      this.fail(start, 'did not find expected alphabetic or numeric character');
    }
    const name = this.s.slice(from, this.pos);
    if (!this.anchors.has(name)) {
      // yaml.v3 names no line; reserve finds the first "*name" in the text.
      const i = this.s.indexOf('*' + name);
      throw new PolicyError(this.lineOf(i), '', `malformed YAML: unknown anchor '${name}' referenced`, true);
    }
    return { kind: 'alias', value: name, line: this.lineOf(start), anchor: '', tagged: false, tag: '', content: [] };
  }

  // --- scalars (yaml.v3 scannerc.go) ------------------------------------

  /** plain is yaml_parser_scan_plain_scalar; indent is the enclosing block's column. */
  plain(indent) {
    const line = this.lineOf(this.pos);
    const start = this.pos;
    const minCol = indent + 1;
    let out = '';
    let leadingBreak = '';
    let trailingBreaks = '';
    let whitespaces = '';
    let leadingBlanks = false;
    let end = this.pos;
    for (;;) {
      if (this.atMarker()) break;
      if (this.c === '#') break;
      while (!isBlankZ(this.c)) {
        if (this.c === ':' && isBlankZ(this.at(1))) break;
        if (this.flow > 0 && ',?[]{}'.includes(this.c)) break;
        if (leadingBlanks || whitespaces) {
          if (leadingBlanks) {
            if (leadingBreak[0] === '\n') out += trailingBreaks === '' ? ' ' : trailingBreaks;
            else out += leadingBreak + trailingBreaks;
            trailingBreaks = '';
            leadingBreak = '';
            leadingBlanks = false;
          } else {
            out += whitespaces;
            whitespaces = '';
          }
        }
        out += this.c;
        this.pos++;
        end = this.pos;
      }
      if (!(isBlank(this.c) || this.c === '\n')) break;
      while (isBlank(this.c) || this.c === '\n') {
        if (isBlank(this.c)) {
          if (leadingBlanks && this.colOf(this.pos) < minCol && this.c === '\t') {
            this.fail(start, 'found a tab character that violates indentation');
          }
          if (!leadingBlanks) whitespaces += this.c;
          this.pos++;
        } else {
          if (!leadingBlanks) {
            whitespaces = '';
            leadingBreak = '\n';
            leadingBlanks = true;
          } else trailingBreaks += '\n';
          this.pos++;
        }
      }
      if (this.flow === 0 && this.colOf(this.pos) < minCol) break;
    }
    if (this.flow > 0) {
      // In a flow collection the caller goes on from the end of the scalar.
      if (!leadingBlanks) this.pos = end;
    } else if (!leadingBlanks) {
      // The scalar ended on its own line: the rest of it must be a comment.
      this.pos = end;
      this.endOfLine();
    }
    return this.scalar(out, out === '<<' ? '!!merge' : resolve(out), line, { plain: true });
  }

  /** quoted is yaml_parser_scan_flow_scalar. */
  quoted() {
    const single = this.c === "'";
    const start = this.pos;
    const line = this.lineOf(this.pos);
    this.pos++;
    let out = '';
    let leadingBreak = '';
    let trailingBreaks = '';
    let whitespaces = '';
    for (;;) {
      if (this.atMarker()) this.fail(start, 'found unexpected document indicator');
      if (this.eof()) this.fail(start, 'found unexpected end of stream');
      let leadingBlanks = false;
      while (!isBlankZ(this.c)) {
        const c = this.c;
        if (single && c === "'" && this.at(1) === "'") {
          out += "'";
          this.pos += 2;
        } else if (single && c === "'") break;
        else if (!single && c === '"') break;
        else if (!single && c === '\\' && this.at(1) === '\n') {
          this.pos += 2;
          leadingBlanks = true;
          break;
        } else if (!single && c === '\\') {
          const e = this.at(1);
          const simple = { 0: '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ', '"': '"', "'": "'", '\\': '\\', '/': '/', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029' };
          const len = { x: 2, u: 4, U: 8 }[e] || 0;
          if (!len && !(e in simple)) this.fail(start, 'found unknown escape character');
          this.pos += 2;
          if (len) {
            let v = 0;
            for (let k = 0; k < len; k++) {
              if (!isHex(this.at(k))) this.fail(start, 'did not find expected hexdecimal number');
              v = v * 16 + parseInt(this.at(k), 16);
            }
            if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) this.fail(start, 'found invalid Unicode character escape code');
            out += String.fromCodePoint(v);
            this.pos += len;
          } else out += simple[e];
        } else {
          out += c;
          this.pos++;
        }
      }
      if (single ? this.c === "'" : this.c === '"') break;
      while (isBlank(this.c) || this.c === '\n') {
        if (isBlank(this.c)) {
          if (!leadingBlanks) whitespaces += this.c;
          this.pos++;
        } else {
          if (!leadingBlanks) {
            whitespaces = '';
            leadingBreak = '\n';
            leadingBlanks = true;
          } else trailingBreaks += '\n';
          this.pos++;
        }
      }
      if (leadingBlanks) {
        if (leadingBreak[0] === '\n') out += trailingBreaks === '' ? ' ' : trailingBreaks;
        else out += leadingBreak + trailingBreaks;
        trailingBreaks = '';
        leadingBreak = '';
      } else {
        out += whitespaces;
        whitespaces = '';
      }
    }
    this.pos++;
    return this.scalar(out, '!!str', line);
  }

  /** blockScalar is yaml_parser_scan_block_scalar; indent is the enclosing block's column. */
  blockScalar(indent) {
    const literal = this.c === '|';
    const start = this.pos;
    const line = this.lineOf(this.pos);
    this.pos++;
    let chomping = 0;
    let increment = 0;
    const digit = () => {
      if (this.c === '0') this.fail(start, 'found an indentation indicator equal to 0');
      increment = Number(this.c);
      this.pos++;
    };
    if (this.c === '+' || this.c === '-') {
      chomping = this.c === '+' ? 1 : -1;
      this.pos++;
      if (/[0-9]/.test(this.c || '')) digit();
    } else if (/[0-9]/.test(this.c || '')) {
      digit();
      if (this.c === '+' || this.c === '-') {
        chomping = this.c === '+' ? 1 : -1;
        this.pos++;
      }
    }
    while (isBlank(this.c)) this.pos++;
    if (this.c === '#') while (!this.eof() && this.c !== '\n') this.pos++;
    if (!(this.eof() || this.c === '\n')) this.fail(start, 'did not find expected comment or line break');
    if (this.c === '\n') this.pos++;
    const ind = { v: increment > 0 ? (indent >= 0 ? indent + increment : increment) : 0 };
    const breaks = () => {
      let maxIndent = 0;
      let b = '';
      for (;;) {
        while ((ind.v === 0 || this.colOf(this.pos) < ind.v) && this.c === ' ') this.pos++;
        if (this.colOf(this.pos) > maxIndent) maxIndent = this.colOf(this.pos);
        if ((ind.v === 0 || this.colOf(this.pos) < ind.v) && this.c === '\t') {
          this.fail(start, 'found a tab character where an indentation space is expected');
        }
        if (this.c !== '\n') break;
        b += '\n';
        this.pos++;
      }
      if (ind.v === 0) ind.v = Math.max(maxIndent, indent + 1, 1);
      return b;
    };
    let out = '';
    let leadingBreak = '';
    let trailingBreaks = breaks();
    let leadingBlank = false;
    while (this.colOf(this.pos) === ind.v && !this.eof()) {
      const trailingBlank = isBlank(this.c);
      if (!literal && !leadingBlank && !trailingBlank && leadingBreak[0] === '\n') {
        if (trailingBreaks === '') out += ' ';
      } else out += leadingBreak;
      leadingBreak = '';
      out += trailingBreaks;
      trailingBreaks = '';
      leadingBlank = isBlank(this.c);
      while (!this.eof() && this.c !== '\n') out += this.s[this.pos++];
      if (this.eof()) break;
      leadingBreak = '\n';
      this.pos++;
      trailingBreaks = breaks();
    }
    if (chomping !== -1) out += leadingBreak;
    if (chomping === 1) out += trailingBreaks;
    return this.scalar(out, '!!str', line);
  }
}

// --- yaml.v3's resolve (resolve.go) for plain scalars --------------------

const RESOLVE_MAP = new Map([
  ...['true', 'True', 'TRUE', 'false', 'False', 'FALSE'].map((s) => [s, '!!bool']),
  ...['', '~', 'null', 'Null', 'NULL'].map((s) => [s, '!!null']),
  ...['.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF'].map((s) => [s, '!!float']),
  ['<<', '!!merge'],
]);

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** goParseInt is strconv.ParseInt(s, 0, 64) (or ParseUint when unsigned) succeeding. */
function goParseInt(s, unsigned) {
  let t = s;
  let neg = false;
  if (!unsigned && (t[0] === '+' || t[0] === '-')) {
    neg = t[0] === '-';
    t = t.slice(1);
  }
  let base = 10;
  let digits = t;
  if (/^0[xX]/.test(t)) [base, digits] = [16, t.slice(2)];
  else if (/^0[bB]/.test(t)) [base, digits] = [2, t.slice(2)];
  else if (/^0[oO]/.test(t)) [base, digits] = [8, t.slice(2)];
  else if (t.length > 1 && t[0] === '0') [base, digits] = [8, t.slice(1)];
  const re = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base];
  if (!re.test(digits)) return false;
  const prefix = { 2: '0b', 8: '0o', 10: '', 16: '0x' }[base];
  const v = BigInt(prefix + digits) * (neg ? -1n : 1n);
  if (unsigned) return v <= 0xffffffffffffffffn;
  return v >= -(1n << 63n) && v < 1n << 63n;
}

/** goParseFloat reports whether strconv.ParseFloat(s, 64) succeeds on a decimal float. */
function goParseFloatOK(s) {
  const v = Number(s);
  return Number.isFinite(v);
}

/** timestampOK is yaml.v3's parseTimestamp succeeding. */
function timestampOK(s) {
  if (!/^[0-9]{4}-/.test(s)) return false;
  const m = /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})|( )([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?)?$/.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y)) return false;
  const hms = m[4] ? [m[5], m[6], m[7]] : m[9] ? [m[10], m[11], m[12]] : null;
  if (hms && (Number(hms[0]) > 23 || Number(hms[1]) > 59 || Number(hms[2]) > 59)) return false;
  if (m[8] && m[8] !== 'Z' && (Number(m[8].slice(1, 3)) > 24 || Number(m[8].slice(4, 6)) > 60)) return false;
  return true;
}

/** daysIn is the number of days of month mo (1-12) of year y. */
export function daysIn(mo, y) {
  if (mo === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
}

/** resolve is yaml.v3's resolve("", s): the tag of a plain scalar. */
export function resolve(s) {
  const c = s === '' ? 'N' : s[0];
  const hint = /[+-]/.test(c) ? 'S' : /[0-9]/.test(c) ? 'D' : /[yYnNtTfFoO~]/.test(c) ? 'M' : c === '.' ? '.' : '';
  if (!hint) return '!!str';
  if (RESOLVE_MAP.has(s)) return RESOLVE_MAP.get(s);
  if (hint === '.') {
    return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s) && goParseFloatOK(s) ? '!!float' : '!!str';
  }
  if (hint === 'D' || hint === 'S') {
    if (timestampOK(s)) return '!!timestamp';
    const plain = s.replaceAll('_', '');
    if (goParseInt(plain, false) || goParseInt(plain, true)) return '!!int';
    if (YAML_STYLE_FLOAT.test(plain) && goParseFloatOK(plain)) return '!!float';
  }
  return '!!str';
}

/** readYAML parses src (line breaks already LF) as yaml.v3 does and returns the root node. */
export function readYAML(src) {
  return new Reader(src).document();
}
