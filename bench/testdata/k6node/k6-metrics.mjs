// Stand-in for k6/metrics: metrics are not what the test looks at.
export class Counter {
  add() {}
}

export class Trend {
  add() {}
}
