// Shared helpers of the boxoffice k6 scripts. Every parameter is read from
// __ENV under the same BOX_* name as the Go harness (`boxoffice bench`):
// BOX_TARGET, BOX_STRATEGY(IES), BOX_CONCERTS, BOX_CAPACITY, BOX_MEMBERS,
// BOX_RATE, BOX_DURATION, BOX_VUS, BOX_RAMP, BOX_HOLD, BOX_REQUESTS,
// BOX_TIMEOUT, BOX_MAX_INFLIGHT, BOX_VICTIMS, BOX_VICTIM_DELAY, and
// BOX_AUTH_SECRET or BOX_AUTH_SECRET_FILE (the gateway's HS256 secret: each
// request then carries its member's token).
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check, fail } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { mintToken, byteLength, MIN_SECRET, TOKEN_TTL_S } from './token.js';

export function env(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

export function envInt(name, def) {
  const raw = env(name, String(def));
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) {
    throw new Error(`${name}=${raw}: want a non-negative integer`);
  }
  return v;
}

export function envList(name, def) {
  return env(name, def).split(',').map((s) => s.trim()).filter((s) => s !== '');
}

// k6 and Go read the same duration strings ("10s", "100ms", "1m30s"); this
// turns one into milliseconds for arithmetic.
export function durationMs(s) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  let matched = '';
  let m;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    matched += m[0];
  }
  if (matched === '' || matched !== s) {
    throw new Error(`bad duration "${s}": want e.g. 10s, 500ms, 1m30s`);
  }
  return total;
}

export const STRATEGIES = ['async', 'pessimistic', 'distlock', 'unsafe'];
export const TARGET = env('BOX_TARGET', 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const TIMEOUT = env('BOX_TIMEOUT', '5s');

// AUTH_SECRET is the gateway's HS256 secret, '' for a gateway started with
// --trust-body-member (no tokens sent). The file is read here, in k6's init
// context, the only place open() works; a trailing newline is not part of
// the secret, as for the gateway's --auth-secret-file.
export const AUTH_SECRET = authSecret();

function authSecret() {
  const inline = env('BOX_AUTH_SECRET', '');
  const file = env('BOX_AUTH_SECRET_FILE', '');
  if (inline !== '' && file !== '') {
    throw new Error('give BOX_AUTH_SECRET or BOX_AUTH_SECRET_FILE, not both');
  }
  const secret = file !== '' ? open(file).replace(/[\r\n]+$/, '') : inline;
  if (secret !== '' && byteLength(secret) < MIN_SECRET) {
    throw new Error(`the auth secret is ${byteLength(secret)} bytes; the gateway wants at least ${MIN_SECRET}`);
  }
  return secret;
}

// Tokens are minted lazily, per VU (each VU is its own JS runtime, and
// setup data is copied into every one of them: a million tokens there
// would be a million per VU). Minting is an HMAC outside res.timings, so it
// costs load-generator CPU but no measured latency. The cache is bounded
// so that the ramp's million members cannot fill a VU's memory.
const TOKEN_CACHE = 10000;
const tokens = new Map();

// authorization is member's Authorization header value, or undefined when
// there is no secret.
export function authorization(member) {
  if (AUTH_SECRET === '' || !(member > 0)) {
    return undefined;
  }
  let t = tokens.get(member);
  if (t === undefined) {
    if (tokens.size >= TOKEN_CACHE) {
      tokens.clear();
    }
    const hmac = (secret, data) => crypto.hmac('sha256', secret, data, 'base64rawurl');
    t = `Bearer ${mintToken(AUTH_SECRET, member, Math.floor(Date.now() / 1000), TOKEN_TTL_S, hmac)}`;
    tokens.set(member, t);
  }
  return t;
}

// headers are a request's headers: extra plus member's token, if any.
export function headers(member, extra) {
  const h = Object.assign({}, extra);
  const auth = authorization(member);
  if (auth !== undefined) {
    h.Authorization = auth;
  }
  return h;
}

export function checkStrategy(s) {
  if (!STRATEGIES.includes(s)) {
    throw new Error(`unknown strategy "${s}": want one of ${STRATEGIES.join(', ')}`);
  }
  return s;
}

// Outcomes, tagged by strategy: 2xx accepted, 409 rejected (sold_out,
// already_reserved: a normal answer), anything else an error.
export const accepted = new Counter('reservations_accepted');
export const rejected = new Counter('reservations_rejected');
export const errors = new Counter('reservations_errors');
export const reservationLatency = new Trend('reservation_latency', true);

// 409 is an expected business answer, not a failed request.
const reservationStatuses = http.expectedStatuses({ min: 200, max: 299 }, 409);

// reserve sends one reservation and returns the outcome: 'accepted',
// 'sold_out', 'already_reserved', another 409 code, or 'error'.
export function reserve(strategy, concertId, memberId) {
  const tags = { strategy, name: `POST /api/reservations/${strategy}` };
  const res = http.post(`${TARGET}/api/reservations/${strategy}`, JSON.stringify({ concertId, memberId }), {
    headers: headers(memberId, { 'Content-Type': 'application/json' }),
    timeout: TIMEOUT,
    responseCallback: reservationStatuses,
    tags,
  });
  reservationLatency.add(res.timings.duration, { strategy });
  if (res.status >= 200 && res.status <= 299) {
    accepted.add(1, { strategy });
    return 'accepted';
  }
  if (res.status === 409) {
    const code = errorCode(res);
    rejected.add(1, { strategy, code });
    return code;
  }
  const code = res.status === 0 ? `conn/${res.error_code}` : `${res.status}/${errorCode(res)}`;
  errors.add(1, { strategy, code });
  return 'error';
}

// readMember is GET /api/members/{id}, with that member's token: a
// verifying gateway shows a member to that member only.
export function readMember(id) {
  return http.get(`${TARGET}/api/members/${id}`, {
    headers: headers(id, {}),
    timeout: TIMEOUT,
    tags: { name: 'GET /api/members/{id}' },
  });
}

export function errorCode(res) {
  try {
    const body = res.json();
    return body && typeof body.error === 'string' ? body.error : 'unknown';
  } catch (e) {
    return 'unknown';
  }
}

// singleStrategy is the one strategy of a script that drives one:
// BOX_STRATEGY, else BOX_STRATEGIES (the Go harness's name) if it names one.
export function singleStrategy(def) {
  const list = envList('BOX_STRATEGY', env('BOX_STRATEGIES', def));
  if (list.length !== 1) {
    throw new Error(`this script drives one strategy per run, got "${list.join(',')}": set BOX_STRATEGY`);
  }
  return checkStrategy(list[0]);
}

// memberOrder maps iteration i to a member in 1..members, each member once
// for i < members, in a scrambled order: i·P mod members with P coprime to
// members is a permutation, and P near members/φ spreads neighbours far
// apart (the Go harness shuffles instead; same idea).
export function memberOrder(members) {
  const gcd = (a, b) => (b === 0 ? a : gcd(b, a % b));
  let p = Math.max(1, Math.floor(members * 0.6180339887));
  while (gcd(p, members) !== 1) {
    p += 1;
  }
  return (i) => ((i % members) * p) % members + 1;
}

// preflight checks that the gateway answers and serves each strategy,
// without reserving: concert 0 does not exist, so a served strategy answers
// 400 or 404 concert_not_found, one not served 404 not_found. The probe
// carries member 1's token, as a verifying gateway looks at it first: 401
// means no secret or the wrong one.
export function preflight(strategies) {
  const health = http.get(`${TARGET}/healthz`, { timeout: TIMEOUT });
  if (health.status === 0) {
    fail(`target ${TARGET} unreachable: ${health.error}`);
  }
  for (const s of strategies) {
    const res = http.post(`${TARGET}/api/reservations/${s}`, JSON.stringify({ concertId: 0, memberId: 1 }), {
      headers: headers(1, { 'Content-Type': 'application/json' }),
      timeout: TIMEOUT,
      responseCallback: http.expectedStatuses({ min: 200, max: 499 }),
    });
    if (res.status === 401) {
      fail(AUTH_SECRET === ''
        ? `the gateway verifies member tokens (401 ${errorCode(res)}): set BOX_AUTH_SECRET_FILE (or BOX_AUTH_SECRET) to its secret, or start it with --trust-body-member`
        : `the gateway refused the token minted with the given secret (401 ${errorCode(res)}): is BOX_AUTH_SECRET(_FILE) the gateway's --auth-secret?`);
    }
    const served = !(res.status === 404 && errorCode(res) === 'not_found');
    check(res, { [`${s} is served`]: () => served });
    if (!served) {
      fail(`the gateway does not serve POST /api/reservations/${s}` + (s === 'unsafe' ? ' (start it with --enable-unsafe)' : ` (start it with --strategies naming ${s}, e.g. --strategies async,pessimistic,distlock)`));
    }
  }
}

// remaining reads GET /api/concerts/{id}.remaining (null if unreadable).
export function remaining(concertId) {
  const res = http.get(`${TARGET}/api/concerts/${concertId}`, { timeout: TIMEOUT });
  if (res.status !== 200) {
    return null;
  }
  try {
    return res.json().remaining;
  } catch (e) {
    return null;
  }
}
