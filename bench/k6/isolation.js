// isolation: BOX_VUS (30) users reserve through one strategy while
// BOX_VICTIMS (10) others call GET /api/members/{id}, starting
// BOX_VICTIM_DELAY (100ms) later. victim_latency shows how a strategy that
// holds DB connections while it waits starves unrelated requests. Run it once
// per strategy (BOX_STRATEGY) and compare victim_latency.
//   boxoffice seed --reset --concerts 1 --capacity 100000 --members 100000
//   k6 run -e BOX_STRATEGY=pessimistic bench/k6/isolation.js
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import {
  env, envInt, durationMs, singleStrategy, reserve, readMember, preflight, TIMEOUT,
} from './lib.js';

const strategy = singleStrategy('pessimistic');
const concerts = envInt('BOX_CONCERTS', 1);
const members = envInt('BOX_MEMBERS', 100000);
const vus = envInt('BOX_VUS', 30);
const victims = envInt('BOX_VICTIMS', 10);
const duration = env('BOX_DURATION', '5s');
const victimDelay = env('BOX_VICTIM_DELAY', '100ms');
const requestCap = envInt('BOX_REQUESTS', 0);

const victimMs = durationMs(duration) - durationMs(victimDelay);
if (victimMs <= 0) {
  throw new Error(`BOX_VICTIM_DELAY ${victimDelay} must be shorter than BOX_DURATION ${duration}`);
}
const reservations = requestCap > 0 ? Math.min(requestCap, members) : members;

const victimLatency = new Trend('victim_latency', true);
const victimErrors = new Counter('victim_errors');

export const options = {
  scenarios: {
    reservers: {
      executor: 'constant-vus',
      vus,
      duration,
      gracefulStop: TIMEOUT,
      exec: 'reserver',
      tags: { role: 'reserver', strategy },
    },
    victims: {
      executor: 'constant-vus',
      vus: victims,
      startTime: victimDelay,
      duration: `${victimMs}ms`,
      gracefulStop: TIMEOUT,
      exec: 'victim',
      tags: { role: 'victim', strategy },
    },
  },
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max', 'avg', 'count'],
};

export function setup() {
  preflight([strategy]);
}

// Reservers: a fresh member each time, so every request does the full work.
export function reserver() {
  const i = exec.scenario.iterationInTest;
  if (i >= reservations) {
    return;
  }
  reserve(strategy, 1 + (i % concerts), i + 1);
}

export function victim() {
  const id = 1 + Math.floor(Math.random() * members);
  const res = readMember(id);
  victimLatency.add(res.timings.duration, { strategy });
  if (res.status !== 200) {
    victimErrors.add(1, { strategy, code: res.status === 0 ? `conn/${res.error_code}` : String(res.status) });
  }
}
