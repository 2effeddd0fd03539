package stock

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The stock-transfer scripts of bucketed concerts (buckets.go), kept beside
// scripts.go rather than in it so that the two lists grow apart.

var (
	//go:embed scripts/transfer_take.lua
	transferTakeSrc string
	//go:embed scripts/transfer_apply.lua
	transferApplySrc string
	//go:embed scripts/transfer_done.lua
	transferDoneSrc string
)

// A transfer moves seats from a donor bucket to a member's home bucket in
// two steps on two slots: take (donor), apply (home), done (donor).
var (
	transferTakeScript  = redis.NewScript(transferTakeSrc)
	transferApplyScript = redis.NewScript(transferApplySrc)
	transferDoneScript  = redis.NewScript(transferDoneSrc)
)

func init() {
	allScripts = append(allScripts, transferTakeScript, transferApplyScript, transferDoneScript)
}

// transfer_apply.lua's result codes.
const (
	// applyRefused: the home bucket's marker is not the one the seats were
	// taken under (a reload or an unmark since): the donor takes them back.
	applyRefused = 0
	// applyNow: the seats are in the home bucket's stock now.
	applyNow = 1
	// applyBefore: an earlier call with this transfer id applied them.
	applyBefore = 2
)
