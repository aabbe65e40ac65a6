// login.js — the message a key file signs to log in to the console
// (docs: console contract, "Session endpoints"): ASCII
// "custos-console-login/v1", one 0x00 byte, the 32 challenge bytes, then
// the UTF-8 bytes of the page's origin.

import { FieldError, concat, utf8 } from './bytes.js';

/** LOGIN_TAG starts every login message. */
export const LOGIN_TAG = 'custos-console-login/v1';

/** loginMessage is the byte string the key signs for challenge at origin. */
export function loginMessage(challenge, origin) {
  if (!(challenge instanceof Uint8Array) || challenge.length !== 32) {
    throw new FieldError('challenge', 'is not 32 bytes');
  }
  if (typeof origin !== 'string' || origin === '') throw new FieldError('origin', 'is empty');
  return concat(utf8(LOGIN_TAG), new Uint8Array([0]), challenge, utf8(origin));
}
