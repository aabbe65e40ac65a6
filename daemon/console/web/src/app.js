// app.js: the console's shell: the session, the officer's unlocked key (in
// this module's memory only), the left navigation by role, hash routing,
// and where errors and the busy mark are shown.

import * as api from './api.js';
import { openKeyFile } from './keyfile.js';
import { h, clear, setText } from './views/dom.js';
import { hex } from './fmt.js';
import * as signin from './views/signin.js';
import * as reserve from './views/reserve.js';
import * as proposals from './views/proposals.js';
import * as proposal from './views/proposal.js';
import * as addresses from './views/addresses.js';
import * as policy from './views/policy.js';
import * as audit from './views/audit.js';

const routes = {
  login: signin,
  reserve,
  proposals,
  proposal,
  addresses,
  policy,
  audit,
};

const NAV = [
  { route: 'reserve', label: 'Reserve', roles: ['officer', 'auditor'] },
  { route: 'proposals', label: 'Proposals', roles: ['officer', 'auditor'] },
  { route: 'addresses', label: 'Deposit addresses', roles: ['officer'] },
  { route: 'policy', label: 'Policy & freeze', roles: ['officer', 'auditor'] },
  { route: 'audit', label: 'Audit log', roles: ['auditor'] },
];

// state is the page's whole memory. key is the unlocked officer key: never
// written anywhere, forgotten on lock, logout and expiry.
const state = {
  session: null, // {name, role, expires_at_unix}
  key: null,
  loginKeyHex: '', // the public key the session was opened with
  loginReason: '',
  cleanup: null,
  renderSeq: 0,
  expiryTimer: null,
};

function $(id) {
  return document.getElementById(id);
}

// errorText is how any failure reads on the page: the server's words, or
// a key file's, with the field they concern.
export function errorText(err) {
  if (!err) return '';
  if (err instanceof api.ApiError) return err.text;
  const msg = err.message || String(err);
  if (err.field && !msg.startsWith(err.field)) return `${err.field}: ${msg}`;
  return msg;
}

function showError(err) {
  const el = $('error');
  const text = errorText(err);
  setText(el, text);
  el.hidden = text === '';
}

function clearError() {
  showError(null);
}

function setBusy(n) {
  const existing = $('busy');
  if (n > 0 && !existing) {
    $('topbar').appendChild(h('span', { id: 'busy', class: 'busy', role: 'status' }, 'Working…'));
  } else if (n === 0 && existing) {
    existing.remove();
  }
}

function forgetKey() {
  if (state.key) {
    try {
      state.key.forget();
    } catch {
      // forgetting is best effort; the reference goes anyway
    }
  }
  state.key = null;
  renderChrome();
}

// keepKey holds an unlocked key for later approvals.
function keepKey(key) {
  if (state.key && state.key !== key) forgetKey();
  state.key = key;
  renderChrome();
}

// expiredReason is what the page says of a session that its own clock
// shows past expires_at_unix: the browser drops the cookie then, so the
// server can only answer "not logged in". '' while the session stands.
export function expiredReason(sess, nowMs) {
  const at = sess ? Number(sess.expires_at_unix || 0) : 0;
  if (!at || nowMs < at * 1000) return '';
  return `session expired at ${new Date(at * 1000).toISOString().replace(/\.\d+Z$/, 'Z')}: log in again`;
}

// armExpiry ends the session on the page when it expires, with that
// reason, instead of waiting for the next request to be refused.
function armExpiry() {
  if (state.expiryTimer) clearTimeout(state.expiryTimer);
  state.expiryTimer = null;
  const at = state.session ? Number(state.session.expires_at_unix || 0) : 0;
  if (!at) return;
  const wait = Math.min(Math.max(0, at * 1000 - Date.now()), 0x7fffffff);
  state.expiryTimer = setTimeout(() => {
    state.expiryTimer = null;
    if (state.session) endSession(expiredReason(state.session, Date.now()) || 'session expired: log in again');
  }, wait);
}

// unauthenticated is the server's 401 for a request: the session is gone,
// for its reason, or because it expired (as the page's clock shows).
function unauthenticated(reason) {
  const expired = expiredReason(state.session, Date.now());
  endSession(expired ? `${expired} (the server says: ${reason || 'not logged in'})` : reason);
}

function endSession(reason) {
  if (state.expiryTimer) clearTimeout(state.expiryTimer);
  state.expiryTimer = null;
  forgetKey();
  state.session = null;
  state.loginKeyHex = '';
  state.loginReason = reason || '';
  renderChrome();
  if (location.hash !== '#/login') location.hash = '#/login';
  else route();
}

// requireKey returns the officer's unlocked key, asking for the key file
// and passphrase again when it was locked.
function requireKey(purpose) {
  if (state.key) return Promise.resolve(state.key);
  return new Promise((resolve, reject) => {
    const fileIn = h('input', { id: 'key-file', type: 'file', accept: '.key,.json,application/json,text/plain' });
    const passIn = h('input', { id: 'key-passphrase', type: 'password', autocomplete: 'off' });
    const err = h('p', { id: 'key-error', class: 'field-error', role: 'alert' });
    const unlock = h('button', { id: 'key-unlock', type: 'submit', class: 'primary' }, 'Unlock and sign');
    const cancel = h('button', { id: 'key-cancel', type: 'button' }, 'Cancel');
    const form = h(
      'form',
      { class: 'dialog-body' },
      h('h2', null, 'Unlock your officer key'),
      h('p', null, `To ${purpose}, open your officer key file again. The key stays in this page; it is never sent.`),
      h('label', { for: 'key-file' }, 'Key file'),
      fileIn,
      h('label', { for: 'key-passphrase' }, 'Passphrase'),
      passIn,
      err,
      h('div', { class: 'actions' }, unlock, cancel),
    );
    const dlg = h('dialog', { id: 'key-dialog', class: 'dialog' }, form);
    document.body.appendChild(dlg);
    const close = () => {
      passIn.value = '';
      dlg.close();
      dlg.remove();
    };
    cancel.addEventListener('click', () => {
      close();
      reject(new Error('not signed: the key was not unlocked'));
    });
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      close();
      reject(new Error('not signed: the key was not unlocked'));
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setText(err, '');
      const file = fileIn.files && fileIn.files[0];
      if (!file) {
        setText(err, 'key file: choose your officer key file');
        return;
      }
      unlock.disabled = true;
      setText(unlock, 'Unlocking…');
      try {
        const key = await openKeyFile(await file.text(), passIn.value);
        if (key.type !== 'officer') {
          key.forget();
          throw Object.assign(new Error('this is not an officer key file'), { field: 'key file' });
        }
        if (state.loginKeyHex && hex(key.publicKey) !== state.loginKeyHex) {
          key.forget();
          throw Object.assign(new Error('this is not the key you logged in with'), { field: 'key file' });
        }
        keepKey(key);
        close();
        resolve(key);
      } catch (ex) {
        setText(err, errorText(ex));
        unlock.disabled = false;
        setText(unlock, 'Unlock and sign');
      }
    });
    dlg.showModal();
    fileIn.focus();
  });
}

function renderChrome() {
  const s = state.session;
  setText($('whoami'), s ? `${s.name} · ${s.role}` : '');
  $('logout').hidden = !s;
  $('lock-key').hidden = !state.key;
  const nav = clear($('nav-links'));
  $('nav').hidden = !s;
  if (!s) return;
  const current = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || '';
  for (const item of NAV) {
    if (!item.roles.includes(s.role)) continue;
    const active = current === item.route || (item.route === 'proposals' && current === 'proposal');
    nav.appendChild(h('a', { href: `#/${item.route}`, class: active ? 'active' : null }, item.label));
  }
}

function parseHash() {
  const m = location.hash.match(/^#\/([a-z]+)(?:\/(.*))?$/);
  if (!m) return { name: '', arg: '' };
  let arg = '';
  try {
    arg = m[2] ? decodeURIComponent(m[2]) : '';
  } catch {
    arg = '';
  }
  return { name: m[1], arg };
}

async function route() {
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch {
      // a view's cleanup failing must not stop navigation
    }
    state.cleanup = null;
  }
  const seq = ++state.renderSeq;
  let { name, arg } = parseHash();
  if (!state.session && name !== 'login') {
    location.hash = '#/login';
    return;
  }
  if (state.session && (name === 'login' || !routes[name])) {
    location.hash = '#/reserve';
    return;
  }
  clearError();
  renderChrome();
  const view = clear($('view'));
  view.setAttribute('data-view', name);
  const ctx = {
    session: state.session,
    alive: () => seq === state.renderSeq,
    showError,
    clearError,
    requireKey,
    forgetKey,
    hasKey: () => state.key !== null,
    navigate: (hash) => {
      location.hash = hash;
    },
    loginReason: state.loginReason,
    loggedIn: (sess, key) => {
      state.session = sess;
      state.loginReason = '';
      state.loginKeyHex = hex(key.publicKey);
      armExpiry();
      if (sess.role === 'officer') keepKey(key);
      else key.forget();
      location.hash = '#/reserve';
    },
  };
  try {
    const cleanup = await routes[name].render(ctx, view, arg);
    if (typeof cleanup === 'function') {
      if (seq === state.renderSeq) state.cleanup = cleanup;
      else cleanup();
    }
  } catch (err) {
    if (seq === state.renderSeq) showError(err);
  }
}

async function logout() {
  let reason = '';
  try {
    await api.logout();
  } catch (err) {
    // The session ends here whatever the server said.
    reason = 'the server did not confirm the logout: ' + errorText(err);
  }
  endSession(reason);
}

// start wires the shell and shows the first page.
export async function start() {
  api.setHooks({
    busy: setBusy,
    unauthenticated,
  });
  $('logout').addEventListener('click', logout);
  $('lock-key').addEventListener('click', () => {
    forgetKey();
  });
  window.addEventListener('hashchange', route);
  try {
    state.session = await api.session();
  } catch (err) {
    state.session = null;
    if (err instanceof api.ApiError && err.status !== 401) state.loginReason = errorText(err);
  }
  armExpiry();
  renderChrome();
  route();
}
