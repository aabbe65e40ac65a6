// signin.js: the login page. The key file is opened here, with its
// passphrase, and signs the server's challenge; neither the key nor the
// passphrase leaves the page or is stored.

import * as api from '../api.js';
import { openKeyFile } from '../keyfile.js';
import { loginMessage } from '../login.js';
import { h, setText } from './dom.js';
import { hex, fromHex } from '../fmt.js';

function errText(err) {
  if (err instanceof api.ApiError) return err.text;
  const msg = (err && err.message) || String(err);
  if (err && err.field && !msg.startsWith(err.field)) return `${err.field}: ${msg}`;
  return msg;
}

export async function render(ctx, root) {
  const fileIn = h('input', { id: 'login-file', type: 'file', accept: '.key,.json,application/json,text/plain', required: true });
  const passIn = h('input', { id: 'login-passphrase', type: 'password', autocomplete: 'off', required: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, 'Unlock and log in');
  const status = h('p', { id: 'login-status', class: 'status', role: 'status' });
  const error = h('p', { id: 'login-error', class: 'field-error', role: 'alert' }, ctx.loginReason || '');

  const form = h(
    'form',
    { class: 'login-form', autocomplete: 'off' },
    h('h1', null, 'Log in'),
    h(
      'p',
      { class: 'muted' },
      'Open your sealed key file (officer or auditor) with its passphrase. The key is unlocked in this page and ' +
        'signs a one-time challenge from the server; it is never sent or stored.',
    ),
    h('label', { for: 'login-file' }, 'Key file'),
    fileIn,
    h('label', { for: 'login-passphrase' }, 'Passphrase'),
    passIn,
    h('div', { class: 'actions' }, submit),
    status,
    error,
  );
  root.append(h('section', { class: 'login-page' }, h('div', { class: 'card login-card' }, form)));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setText(error, '');
    ctx.clearError();
    const file = fileIn.files && fileIn.files[0];
    if (!file) {
      setText(error, 'key file: choose your key file');
      return;
    }
    submit.disabled = true;
    let key = null;
    try {
      setText(status, 'Unlocking the key file…');
      const text = await file.text();
      const pass = passIn.value;
      passIn.value = '';
      key = await openKeyFile(text, pass);
      setText(status, 'Signing the server’s challenge…');
      const ch = await api.challenge();
      const msg = loginMessage(fromHex(String(ch.challenge || '')), window.location.origin);
      const sig = key.sign(msg);
      const sess = await api.login(String(ch.challenge), hex(key.publicKey), hex(sig));
      setText(status, `Logged in as ${sess.name} (${sess.role}).`);
      const k = key;
      key = null;
      ctx.loggedIn(sess, k);
    } catch (err) {
      setText(status, '');
      setText(error, errText(err));
      if (key) key.forget();
      key = null;
    } finally {
      submit.disabled = false;
    }
  });
  fileIn.focus();
}
