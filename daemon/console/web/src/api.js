// api.js: the console's only way to the server. The Connect protocol
// (unary, JSON) for the API under /api/, and the plain JSON /session
// endpoints. Every request is same-origin; the session cookie is HttpOnly
// and never seen here.

// ApiError is a refusal from the server, in its own words.
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }

  // text is the message with its field, as shown on the page.
  get text() {
    if (this.field && !this.message.startsWith(this.field)) return `${this.field}: ${this.message}`;
    return this.message;
  }
}

const hooks = {
  busy: () => {},
  unauthenticated: () => {},
};

// setHooks lets the app see when requests run (busy(count)) and when the
// server says the session is gone (unauthenticated(reason)).
export function setHooks(h) {
  Object.assign(hooks, h);
}

let running = 0;

async function request(path, init, { quiet401 = false } = {}) {
  running++;
  hooks.busy(running);
  let resp;
  try {
    resp = await fetch(path, {
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      ...init,
    });
  } catch (e) {
    throw new ApiError(0, 'unavailable', 'the server cannot be reached: ' + (e && e.message ? e.message : String(e)));
  } finally {
    running--;
    hooks.busy(running);
  }
  let body = null;
  const text = await resp.text();
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (resp.ok) return body || {};
  const b = body && typeof body === 'object' ? body : {};
  const err = new ApiError(
    resp.status,
    typeof b.code === 'string' ? b.code : '',
    typeof b.message === 'string' ? b.message : typeof b.error === 'string' ? b.error : `request failed (HTTP ${resp.status})`,
    typeof b.field === 'string' ? b.field : '',
  );
  if (resp.status === 401 && !quiet401) hooks.unauthenticated(err.text);
  throw err;
}

const jsonHeaders = { 'Content-Type': 'application/json' };

// call makes one unary Connect call: call('SpendService', 'GetProposal', {id}).
export function call(service, method, body = {}) {
  return request(`/api/custos.v1.${service}/${method}`, {
    method: 'POST',
    headers: { ...jsonHeaders, 'Connect-Protocol-Version': '1' },
    body: JSON.stringify(body),
  });
}

// allPages follows a paged list to its end: fetchPage(token) returns one
// response; the items of field are gathered from every page and returned
// in the last response, whose nextPageToken is "" (issue 15: every list
// is paged, 1000 at most per page).
export async function allPages(fetchPage, field) {
  const items = [];
  let token = '';
  for (let pages = 0; ; pages++) {
    const r = await fetchPage(token);
    for (const x of r[field] || []) items.push(x);
    const next = r.nextPageToken || '';
    if (next === '' || next === token || pages > 100000) return { ...r, [field]: items, nextPageToken: '' };
    token = next;
  }
}

// callAll is call for a paged list: callAll('SpendService',
// 'ListProposals', {state}, 'proposals') fetches every page, 1000 each.
export function callAll(service, method, body, field) {
  return allPages((pageToken) => call(service, method, { ...body, pageSize: 1000, pageToken }), field);
}

// session returns {name, role, expires_at_unix} or throws (401 when not
// logged in; the reason is the error's message).
export function session() {
  return request('/session', { method: 'GET' }, { quiet401: true });
}

// challenge returns {challenge: hex, expires_at_unix}.
export function challenge() {
  return request('/session/challenge', { method: 'GET' }, { quiet401: true });
}

// login posts the signed challenge.
export function login(challengeHex, publicKeyHex, signatureHex) {
  return request(
    '/session/login',
    {
      method: 'POST',
      headers: jsonHeaders,
      body: JSON.stringify({ challenge: challengeHex, public_key: publicKeyHex, signature: signatureHex }),
    },
    { quiet401: true },
  );
}

// logout ends the session on the server.
export function logout() {
  return request('/session/logout', { method: 'POST', headers: jsonHeaders, body: '{}' }, { quiet401: true });
}
