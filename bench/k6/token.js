// HS256 member tokens, as `boxoffice token` and the Go harness mint them:
// header {"alg":"HS256","typ":"JWT"}, claims sub (the member id as a
// string), iat, nbf, exp. No k6 import here, so that a test can run this
// file under node and check its tokens with the gateway's own verifier
// (bench/k6_test.go); the HMAC comes from the caller (k6/crypto in lib.js).

// TOKEN_TTL_S is how long a token is good for: the Go harness's longest run
// (24 h) plus an hour, so that no token expires during a run.
export const TOKEN_TTL_S = 25 * 3600;

// MIN_SECRET is the gateway's shortest HS256 secret (RFC 7518 §3.2: at
// least the hash's 256 bits); a shorter one would only earn 401s.
export const MIN_SECRET = 32;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// utf8 encodes a string as UTF-8 bytes (TextEncoder is not in every k6).
function utf8(s) {
  const out = [];
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    } else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
  }
  return out;
}

// byteLength is a string's length in UTF-8 bytes, as the gateway counts a secret.
export function byteLength(s) {
  return utf8(s).length;
}

// base64url is the unpadded base64url of a string's UTF-8 bytes (RFC 7515 §2).
export function base64url(s) {
  const b = utf8(s);
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] || 0) << 8) | (b[i + 2] || 0);
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    if (i + 1 < b.length) {
      out += ALPHABET[(n >> 6) & 63];
    }
    if (i + 2 < b.length) {
      out += ALPHABET[n & 63];
    }
  }
  return out;
}

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

// mintToken returns member's HS256 token, good from nowS (Unix seconds) for
// ttlS seconds. hmac(secret, data) must return the HMAC-SHA256 of data as
// unpadded base64url (k6: crypto.hmac('sha256', secret, data, 'base64rawurl')).
export function mintToken(secret, member, nowS, ttlS, hmac) {
  if (!Number.isInteger(member) || member <= 0) {
    throw new Error(`member must be a positive integer, got ${member}`);
  }
  const claims = { sub: String(member), iat: nowS, nbf: nowS, exp: nowS + ttlS };
  const input = `${HEADER}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${hmac(secret, input)}`;
}
