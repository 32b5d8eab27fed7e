package loadtest

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"rampart/client"
)

type phase int

const (
	phaseLogin  phase = iota // next step signs in
	phaseAct                 // online: next step plays (or logs out)
	phaseVerify              // the run is over and the player logged out: check the ledger
	phaseDone
)

// player is one simulated player. It is held by the scheduler's heap or by
// one worker at a time; the handoff orders every access, so no lock, but
// for pushed, which the sessions' socket readers set.
type player struct {
	idx int
	id  string // the load test's name for the player (reports)
	// device is its credential (device sign-in, created on first use);
	// playerID is the id the server gave its account, sent with every
	// later sign-in (client.KnownPlayer) for a balancer to hash on.
	device   string
	playerID string
	rng      *rand.Rand

	next  time.Time // when the next step is due; the heap key
	phase phase

	sess       *client.Session // the live session; nil while signed out
	online     bool            // signed in, as far as we know
	everOnline bool
	sessionEnd time.Time // zero: the session lasts the whole run
	loginFails int

	needLogin bool   // the session was lost (401, socket gone): sign in first
	needRead  bool   // the local base cannot be predicted on: re-read first
	readWhy   string // why needRead: the re-reads are counted by reason

	// lost is a batch whose answer never came; it is resent with its seqs
	// on the next session (after a re-signin), exactly once.
	lost *lostBatch

	// pushed is set by the socket's reader when the server pushed a change
	// the rules cannot predict (a raid, an async result, new game data).
	pushed atomic.Bool

	led ledger
	w   world
}

// lostBatch is a batch sent without an answer.
type lostBatch struct {
	first int64
	acts  []client.Action
}

// think draws a think time around mean: exponential, as independent
// people are, clipped so nobody hammers or sleeps through the run.
func think(r *rand.Rand, mean time.Duration) time.Duration {
	f := r.ExpFloat64()
	f = min(max(f, 0.05), 5)
	return time.Duration(f * float64(mean))
}
