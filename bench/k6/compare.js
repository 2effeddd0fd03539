// compare: the same rush against each strategy, one after another, at a
// constant arrival rate (k6's open model). k6 cannot reset stock between
// strategies, so strategy number i (0-based, in BOX_STRATEGIES order) books
// concert i+1: seed at least as many concerts as strategies, each with
// BOX_CAPACITY seats, before the run, e.g.
//   boxoffice seed --reset --concerts 4 --capacity 1000 --members 20000
//   k6 run -e BOX_RATE=2000 -e BOX_DURATION=10s bench/k6/compare.js
// Each member reserves once per strategy, in a scrambled order. The audit
// (oversell, leak, persisted/s) needs MySQL and Redis: use `boxoffice bench
// compare` for it; teardown prints what GET /api/concerts/{id} says is left.
import exec from 'k6/execution';
import {
  env, envInt, envList, durationMs, checkStrategy, reserve, memberOrder, preflight, remaining, TIMEOUT,
} from './lib.js';

const strategies = envList('BOX_STRATEGIES', 'async,pessimistic,distlock,unsafe').map(checkStrategy);
const capacity = envInt('BOX_CAPACITY', 1000);
const members = envInt('BOX_MEMBERS', 20000);
const rate = envInt('BOX_RATE', 2000);
const duration = env('BOX_DURATION', '10s');
const maxInFlight = envInt('BOX_MAX_INFLIGHT', 1000);
const requestCap = envInt('BOX_REQUESTS', 0);

// Requests per strategy: rate × duration, at most one per member.
let perStrategy = Math.min(Math.floor((rate * durationMs(duration)) / 1000), members);
if (requestCap > 0) {
  perStrategy = Math.min(perStrategy, requestCap);
}
// Each strategy starts after the previous one's sending time plus the
// request timeout (its last answers) plus a breather.
const slotMs = durationMs(duration) + durationMs(TIMEOUT) + 5000;
const order = memberOrder(members);

const scenarios = {};
strategies.forEach((s, i) => {
  scenarios[s] = {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration,
    // A request due while maxInFlight are outstanding is dropped and counted
    // in dropped_iterations, as the Go harness's --max-inflight does.
    preAllocatedVUs: Math.min(maxInFlight, Math.max(1, rate)),
    maxVUs: maxInFlight,
    startTime: `${i * slotMs}ms`,
    gracefulStop: TIMEOUT,
    exec: 'rush',
    env: { STRATEGY: s, CONCERT: String(i + 1) },
    tags: { strategy: s },
  };
});

export const options = {
  scenarios,
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max', 'avg', 'count'],
};

export function setup() {
  preflight(strategies);
  strategies.forEach((s, i) => {
    const left = remaining(i + 1);
    if (left !== null && left !== capacity) {
      console.warn(`concert ${i + 1} (${s}) has ${left} seats left, not ${capacity}: reseed before comparing`);
    }
  });
}

export function rush() {
  const i = exec.scenario.iterationInTest;
  if (i >= perStrategy) {
    return; // every member has had a try
  }
  reserve(__ENV.STRATEGY, Number(__ENV.CONCERT), order(i));
}

export function teardown() {
  strategies.forEach((s, i) => {
    console.log(`${s}: concert ${i + 1} has ${remaining(i + 1)} of ${capacity} seats left`);
  });
}
