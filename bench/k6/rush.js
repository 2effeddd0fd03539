// rush: one strategy at a constant arrival rate until sold out. Reports, as
// trends in the summary, when the last seat was accepted (max of
// seat_accepted_at_ms) and when sold_out was first answered (min of
// first_sold_out_at_ms), both in ms from the start of the rush.
//   boxoffice seed --reset --concerts 1 --capacity 1000 --members 20000
//   k6 run -e BOX_STRATEGY=async -e BOX_RATE=2000 bench/k6/rush.js
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import {
  env, envInt, durationMs, singleStrategy, reserve, memberOrder, preflight, remaining, TIMEOUT,
} from './lib.js';

const strategy = singleStrategy('async');
const concerts = envInt('BOX_CONCERTS', 1);
const capacity = envInt('BOX_CAPACITY', 1000);
const members = envInt('BOX_MEMBERS', 20000);
const rate = envInt('BOX_RATE', 2000);
const duration = env('BOX_DURATION', '10s');
const maxInFlight = envInt('BOX_MAX_INFLIGHT', 1000);
const requestCap = envInt('BOX_REQUESTS', 0);

let total = Math.min(Math.floor((rate * durationMs(duration)) / 1000), members);
if (requestCap > 0) {
  total = Math.min(total, requestCap);
}
const order = memberOrder(members);

const seatAcceptedAt = new Trend('seat_accepted_at_ms', true);
const firstSoldOutAt = new Trend('first_sold_out_at_ms', true);

export const options = {
  scenarios: {
    rush: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration,
      preAllocatedVUs: Math.min(maxInFlight, Math.max(1, rate)),
      maxVUs: maxInFlight,
      gracefulStop: TIMEOUT,
      tags: { strategy },
    },
  },
  summaryTrendStats: ['min', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function setup() {
  preflight([strategy]);
  return { start: Date.now() };
}

// Per VU (each VU is its own JS runtime): once this VU has seen every
// concert sold out it stops sending; each VU sends at most one more request
// after the sell-out.
const soldOut = new Set();

export default function (data) {
  const i = exec.scenario.iterationInTest;
  if (i >= total || soldOut.size === concerts) {
    return;
  }
  const concert = 1 + (i % concerts);
  const outcome = reserve(strategy, concert, order(i));
  const at = Date.now() - data.start;
  if (outcome === 'accepted') {
    seatAcceptedAt.add(at);
  } else if (outcome === 'sold_out' && !soldOut.has(concert)) {
    soldOut.add(concert);
    firstSoldOutAt.add(at);
  }
}

export function teardown() {
  for (let c = 1; c <= concerts; c++) {
    console.log(`${strategy}: concert ${c} has ${remaining(c)} of ${capacity} seats left`);
  }
}
