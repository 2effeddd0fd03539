package bench

import (
	"fmt"
	"slices"
	"strings"
)

// medians reduces each strategy's rounds to one result: the round with the
// median accepted/s (the lower of the two middle ones for an even count),
// carrying a brief of every round. One round is returned as it is.
func medians(order []string, byName map[string][]StrategyResult) []StrategyResult {
	out := []StrategyResult{}
	for _, name := range order {
		rs := byName[name]
		switch len(rs) {
		case 0:
			continue
		case 1:
			rs[0].Rounds = []RoundBrief{}
			out = append(out, rs[0])
			continue
		}
		ran := []int{}
		for i, r := range rs {
			if !r.Skipped {
				ran = append(ran, i)
			}
		}
		pick := 0
		if len(ran) > 0 {
			slices.SortStableFunc(ran, func(a, b int) int {
				switch x, y := rs[a].AcceptedPerS, rs[b].AcceptedPerS; {
				case x < y:
					return -1
				case x > y:
					return 1
				}
				return 0
			})
			pick = ran[(len(ran)-1)/2]
		}
		m := rs[pick]
		rates := make([]string, 0, len(rs))
		for _, r := range rs {
			m.Rounds = append(m.Rounds, RoundBrief{Round: r.Round, Skipped: r.Skipped, AcceptedPerS: r.AcceptedPerS,
				PersistedPerS: r.PersistedPerS, Errors: r.Errors, LatencyMs: r.LatencyMs, Audit: r.Audit})
			if !r.Skipped {
				rates = append(rates, rate(r.AcceptedPerS))
			}
		}
		if len(rates) > 0 {
			m.Notes = append(slices.Clone(m.Notes), fmt.Sprintf("%d rounds, accepted/s %s; this is round %d, the median", len(rs), strings.Join(rates, " · "), m.Round))
		}
		out = append(out, m)
	}
	return out
}

// asyncVsLock is async's accepted/s over the better of pessimistic and
// distlock, from the median rounds, with the factor of each round when
// there were several.
func asyncVsLock(rs []StrategyResult) *Speedup {
	var async *StrategyResult
	var lock *StrategyResult
	for i := range rs {
		r := &rs[i]
		if r.Skipped {
			continue
		}
		switch r.Name {
		case strategyAsync:
			async = r
		case strategyPessimistic, strategyDistlock:
			if lock == nil || r.AcceptedPerS > lock.AcceptedPerS {
				lock = r
			}
		}
	}
	if async == nil || lock == nil || lock.AcceptedPerS <= 0 {
		return nil
	}
	sp := &Speedup{Lock: lock.Name, Factor: async.AcceptedPerS / lock.AcceptedPerS, Rounds: []float64{}}
	if len(async.Rounds) > 1 {
		for i, a := range async.Rounds {
			best := 0.0
			for _, r := range rs {
				if (r.Name == strategyPessimistic || r.Name == strategyDistlock) && i < len(r.Rounds) && !r.Rounds[i].Skipped {
					best = max(best, r.Rounds[i].AcceptedPerS)
				}
			}
			if best > 0 && !a.Skipped {
				sp.Rounds = append(sp.Rounds, a.AcceptedPerS/best)
			}
		}
	}
	return sp
}
