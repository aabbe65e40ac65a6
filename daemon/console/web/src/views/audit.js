// audit.js: the audit log for auditors: every leaf, filtered by kind and
// text; the checkpoint verified with the pinned log key and the listed
// leaves hashed to its root, in this page; inclusion proofs per leaf; and
// an export file verified as custosctl audit verify does.

import * as api from '../api.js';
import { verifyCheckpoint, verifyInclusion, verifyExport, decodeLeaf, treeHash, recordHash } from '../tlog.js';
import { h, clear, setText } from './dom.js';
import { fromBase64, hex } from '../fmt.js';

const PAGE = 1000;
const SHOW_STEP = 500;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function errWords(err) {
  if (err instanceof api.ApiError) return err.text;
  const msg = (err && err.message) || String(err);
  return err && err.field && !msg.startsWith(err.field) ? `${err.field}: ${msg}` : msg;
}

// row is what the table shows of one leaf.
export function leafRow(bytes) {
  let l;
  try {
    l = decodeLeaf(bytes);
  } catch (err) {
    return { seq: 0, time: '', actor: '', kind: '(undecodable)', ids: '', detail: errWords(err), bytes };
  }
  const actor = l.actor ? `${l.actor.name || ''}${l.actor.role ? ' (' + l.actor.role + ')' : ''}` : '';
  const ids = l.ids ? Object.entries(l.ids).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  return { seq: Number(l.seq), time: String(l.time || ''), actor, kind: String(l.kind || ''), ids, detail: String(l.detail || ''), bytes };
}

// shortHex shortens every run of 24 or more hex digits (hashes, serials,
// keys) to its first 12 and an ellipsis, for reading in the table; the
// cell's title keeps the whole text, and the search sees it.
export function shortHex(text) {
  return String(text).replace(/[0-9a-f]{24,}/g, (m) => m.slice(0, 12) + '…');
}

// idsCell shows a leaf's ids one per line, long hex shortened.
function idsCell(ids) {
  const parts = ids ? ids.split(' ') : [];
  return h(
    'td',
    { class: 'mono small ids', title: ids },
    parts.map((kv) => h('div', { class: 'kv' }, shortHex(kv))),
  );
}

// listAll reads every leaf from seq from on, 1000 per page.
async function listAll(from, ctx) {
  const out = [];
  let next = from;
  for (;;) {
    const r = await api.call('AuditService', 'ListAudit', { fromSeq: String(next), pageSize: PAGE });
    if (!ctx.alive()) return out;
    for (const b of r.leaves || []) out.push(fromBase64(b));
    const n = Number(r.nextSeq || 0);
    if (n === 0 || (r.leaves || []).length === 0) return out;
    next = n;
  }
}

export async function render(ctx, root) {
  root.append(h('h1', null, 'Audit log'));
  const keyIn = h('input', { id: 'audit-log-key', type: 'text', class: 'mono wide', spellcheck: 'false', autocomplete: 'off' });
  const verifyBtn = h('button', { id: 'verify-log-button', type: 'button', class: 'primary' }, 'Verify the log');
  const verifyResult = h('p', { id: 'verify-result', class: 'result', role: 'status' });
  const proofResult = h('p', { id: 'proof-result', class: 'result', role: 'status' });
  const exportIn = h('input', { id: 'export-file', type: 'file', accept: '.jsonl,.txt,text/plain,application/octet-stream' });
  const exportResult = h('p', { id: 'export-result', class: 'result', role: 'status' });
  const kindSel = h('select', { id: 'audit-filter-kind' }, h('option', { value: '' }, 'All kinds'));
  const textIn = h('input', { id: 'audit-filter-text', type: 'search', placeholder: 'actor, id, detail' });
  const count = h('span', { class: 'muted' });
  const tbody = h('tbody', { id: 'audit-table' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Show more');

  root.append(
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Verify'),
      h('label', { for: 'audit-log-key' }, 'Pinned log key (verifier key “name+hash+base64”; compare it with the one you were given)'),
      keyIn,
      h('div', { class: 'actions' }, verifyBtn),
      verifyResult,
      proofResult,
      h('label', { for: 'export-file' }, 'Verify an export file (custosctl audit export)'),
      exportIn,
      exportResult,
    ),
  );
  root.append(
    h('div', { class: 'filters' }, h('label', { for: 'audit-filter-kind' }, 'Kind'), kindSel, h('label', { for: 'audit-filter-text' }, 'Search'), textIn, count),
  );
  root.append(
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data audit' },
          h(
            'thead',
            null,
            h('tr', null, h('th', { class: 'num' }, 'Seq'), h('th', null, 'Time'), h('th', null, 'Actor'), h('th', null, 'Kind'), h('th', null, 'Ids'), h('th', null, 'Detail'), h('th', null, 'Proof')),
          ),
          tbody,
        ),
      ),
      more,
    ),
  );

  // The leaves as listed (bytes) and their rows.
  let leaves = [];
  let rows = [];
  let shown = [];
  let limit = SHOW_STEP;

  const drawRows = () => {
    const kind = kindSel.value;
    const q = textIn.value.trim().toLowerCase();
    shown = rows.filter((r) => {
      if (kind && r.kind !== kind) return false;
      if (!q) return true;
      return [String(r.seq), r.time, r.actor, r.kind, r.ids, r.detail].some((x) => x.toLowerCase().includes(q));
    });
    shown.reverse(); // newest first
    const frag = document.createDocumentFragment();
    for (const r of shown.slice(0, limit)) {
      frag.append(
        h(
          'tr',
          { 'data-seq': String(r.seq) },
          h('td', { class: 'num' }, String(r.seq)),
          h('td', { class: 'nowrap' }, r.time),
          h('td', null, r.actor),
          h('td', { class: 'mono' }, r.kind),
          idsCell(r.ids),
          h('td', { class: 'wrap detail', title: r.detail }, shortHex(r.detail)),
          h('td', null, h('button', { type: 'button', class: 'small', 'data-prove': String(r.seq) }, 'Prove')),
        ),
      );
    }
    clear(tbody).append(frag);
    if (shown.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: 7 }, rows.length ? 'No entry matches the filters.' : 'The log is empty.')));
    count.textContent = `${shown.length} of ${rows.length}` + (shown.length > limit ? ` (showing the newest ${limit})` : '');
    more.hidden = shown.length <= limit;
  };

  const setLeaves = (list) => {
    leaves = list;
    rows = leaves.map(leafRow);
    const kinds = [...new Set(rows.map((r) => r.kind))].sort();
    const keep = kindSel.value;
    clear(kindSel).append(h('option', { value: '' }, 'All kinds'));
    for (const k of kinds) kindSel.append(h('option', { value: k }, k));
    kindSel.value = kinds.includes(keep) ? keep : '';
    drawRows();
  };

  kindSel.addEventListener('change', () => {
    limit = SHOW_STEP;
    drawRows();
  });
  textIn.addEventListener('input', () => {
    limit = SHOW_STEP;
    drawRows();
  });
  more.addEventListener('click', () => {
    limit += SHOW_STEP;
    drawRows();
  });

  tbody.addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-prove]');
    if (!btn) return;
    const seq = Number(btn.getAttribute('data-prove'));
    setText(proofResult, '');
    ctx.clearError();
    try {
      const r = await api.call('AuditService', 'ProveInclusion', { seq: String(seq) });
      const leaf = fromBase64(r.leaf);
      const cp = verifyCheckpoint(fromBase64(r.checkpoint), keyIn.value.trim());
      const listed = leaves[seq - 1];
      if (listed && hex(listed) !== hex(leaf)) {
        setText(proofResult, `FAILED: leaf ${seq}: the server proved a leaf that differs from the one it listed`);
        return;
      }
      verifyInclusion(leaf, seq, cp.size, utf8.decode(fromBase64(r.proof)), cp.root);
      setText(proofResult, `verified: leaf ${seq} is in the log of ${cp.size} leaves (checkpoint signed by the pinned key)`);
    } catch (err) {
      setText(proofResult, `FAILED: leaf ${seq}: ${errWords(err)}`);
    }
  });

  verifyBtn.addEventListener('click', async () => {
    setText(verifyResult, '');
    ctx.clearError();
    verifyBtn.disabled = true;
    try {
      const c = await api.call('AuditService', 'GetCheckpoint', {});
      const cp = verifyCheckpoint(fromBase64(c.checkpoint), keyIn.value.trim());
      const size = Number(cp.size);
      if (size > leaves.length) setLeaves(leaves.concat(await listAll(leaves.length + 1, ctx)));
      if (size > leaves.length) throw new Error(`the checkpoint has ${size} leaves, the server listed ${leaves.length}`);
      const got = treeHash(leaves.slice(0, size).map(recordHash));
      if (hex(got) !== hex(cp.root)) throw new Error(`the ${size} listed leaves hash to ${hex(got)}, the checkpoint says ${hex(cp.root)}`);
      setText(verifyResult, `verified: the checkpoint of ${size} leaves is signed by the pinned key, and the ${size} listed leaves hash to its root ${hex(cp.root)}`);
    } catch (err) {
      setText(verifyResult, `FAILED: ${errWords(err)}`);
    } finally {
      verifyBtn.disabled = false;
    }
  });

  exportIn.addEventListener('change', async () => {
    setText(exportResult, '');
    const file = exportIn.files && exportIn.files[0];
    if (!file) return;
    try {
      const r = verifyExport(await file.text(), { logKey: keyIn.value.trim(), witnessKeys: [] });
      if (r.ok) {
        setText(exportResult, `verified: ${r.size} leaves, root ${hex(fromBase64(r.root))}, signed by the pinned key`);
      } else {
        setText(exportResult, `FAILED: ${r.message || (r.firstBadLine ? `line ${r.firstBadLine}: ${r.reason}` : r.reason)}`);
      }
    } catch (err) {
      setText(exportResult, `FAILED: ${errWords(err)}`);
    }
    exportIn.value = '';
  });

  const c = await api.call('AuditService', 'GetCheckpoint', {});
  if (!ctx.alive()) return;
  if (!keyIn.value) keyIn.value = c.logKey || '';
  const list = await listAll(1, ctx);
  if (!ctx.alive()) return;
  setLeaves(list);
}
