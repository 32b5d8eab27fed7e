package loadtest

import (
	"math/rand/v2"
	"time"

	"github.com/coder/websocket"
)

type phase int

const (
	phaseLogin  phase = iota // next step logs in
	phaseAct                 // online: next step plays (or logs out)
	phaseVerify              // the run is over and the player logged out: check the ledger
	phaseDone
)

// player is one simulated player. It is held by the scheduler's heap or by
// one worker at a time; the handoff orders every access, so no lock.
type player struct {
	idx int
	id  string // the load test's name for the player (reports)
	// device is its credential (device sign-in, created on first use);
	// playerID is the id the server gave its account.
	device   string
	playerID string
	rng      *rand.Rand

	next  time.Time // when the next step is due; the heap key
	phase phase

	session    string          // bearer token of the live session
	ws         *websocket.Conn // the player's socket, WebSocket transport only
	online     bool            // logged in, as far as we know
	everOnline bool
	sessionEnd time.Time // zero: the session lasts the whole run
	loginFails int

	needLogin   bool // the session was lost (401, socket gone): log in first
	needRefresh bool // the local model drifted or a reply was lost: re-read

	led  ledger
	m    model
	cand []int // planners' scratch
}

// think draws a think time around mean: exponential, as independent
// people are, clipped so nobody hammers or sleeps through the run.
func think(r *rand.Rand, mean time.Duration) time.Duration {
	f := r.ExpFloat64()
	f = min(max(f, 0.05), 5)
	return time.Duration(f * float64(mean))
}
