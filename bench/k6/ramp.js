// ramp: the public reference's k6 run. Closed model: 0 → BOX_VUS (2,000)
// virtual users over BOX_RAMP (10s), hold BOX_HOLD (30s), down over
// BOX_RAMP. Each request books a random concert of BOX_CONCERTS (10) for a
// random member of a pool of BOX_MEMBERS (1,000,000); a member drawn twice
// for a concert gets 409 already_reserved (one seat per member per concert).
//   boxoffice seed --reset --concerts 10 --capacity 100000 --members 1000000
//   k6 run bench/k6/ramp.js
import { env, envInt, singleStrategy, reserve, preflight, TIMEOUT } from './lib.js';

const strategy = singleStrategy('async');
const concerts = envInt('BOX_CONCERTS', 10);
const members = envInt('BOX_MEMBERS', 1000000);
const vus = envInt('BOX_VUS', 2000);
const ramp = env('BOX_RAMP', '10s');
const hold = env('BOX_HOLD', '30s');

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: ramp, target: vus },
        { duration: hold, target: vus },
        { duration: ramp, target: 0 },
      ],
      gracefulRampDown: TIMEOUT,
      tags: { strategy },
    },
  },
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max', 'avg', 'count'],
};

export function setup() {
  preflight([strategy]);
}

const randInt = (n) => 1 + Math.floor(Math.random() * n);

export default function () {
  reserve(strategy, randInt(concerts), randInt(members));
}
