// The console follows every paged list to its end (issue 15).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { allPages } from '../src/api.js';

test('allPages gathers every page and stops at an empty token', async () => {
  const pages = { '': { utxos: [1, 2], nextPageToken: 'a', syncedHeight: 7 }, a: { utxos: [3, 4], nextPageToken: 'b', syncedHeight: 7 }, b: { utxos: [5], nextPageToken: '', syncedHeight: 8 } };
  const asked = [];
  const r = await allPages(async (token) => {
    asked.push(token);
    return pages[token];
  }, 'utxos');
  assert.deepEqual(asked, ['', 'a', 'b']);
  assert.deepEqual(r.utxos, [1, 2, 3, 4, 5]);
  assert.equal(r.syncedHeight, 8);
  assert.equal(r.nextPageToken, '');
});

test('allPages takes a list without pages or items', async () => {
  const r = await allPages(async () => ({}), 'proposals');
  assert.deepEqual(r.proposals, []);
});

test('allPages stops on a token that repeats instead of looping', async () => {
  let calls = 0;
  const r = await allPages(async () => {
    calls++;
    return { addresses: [calls], nextPageToken: 'same' };
  }, 'addresses');
  assert.equal(calls, 2);
  assert.deepEqual(r.addresses, [1, 2]);
});
