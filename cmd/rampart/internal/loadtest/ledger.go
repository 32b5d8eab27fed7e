package loadtest

import (
	"fmt"
	"strconv"
)

// ledger is what one player knows the server has acknowledged. Every time
// the player reads its state back (login, refresh, the check after logout)
// the state is held against the ledger. Owned by whichever worker holds the
// player.
//
// The invariant: the server's last_seq equals the highest seq that got a
// fresh (non-duplicate) result, whether the action succeeded or failed —
// the seq was consumed either way. A reply lost in transit makes the
// seqs it carried doubtful until the next fresh result or state read.
type ledger struct {
	started  bool  // the first state read set the baseline
	base     int64 // last_seq at the first login
	acked    int64 // highest seq with a fresh result
	sent     int64 // highest seq sent
	doubtful bool  // some seq in (acked, sent] may or may not be applied

	// The last fresh result, resent to check it comes back duplicate.
	last lastAction

	fresh     int64 // fresh results
	reads     int64 // state reads checked
	dupChecks int64 // resends checked
	problems  []string
}

type lastAction struct {
	seq  int64
	name string
	args []byte // owned copy
	ok   bool
	code string
	// pending: the first answer was an asynchronous action's "pending".
	pending bool
}

// maxProblems bounds what one player keeps; the report counts all.
const maxProblems = 4

func (l *ledger) problem(format string, a ...any) {
	if len(l.problems) < maxProblems {
		l.problems = append(l.problems, fmt.Sprintf(format, a...))
	}
}

// sending notes that seq goes out.
func (l *ledger) sending(seq int64) {
	if seq > l.sent {
		l.sent = seq
	}
}

// lost notes that a request's reply never came.
func (l *ledger) lost() { l.doubtful = l.sent > l.acked }

// result takes one result of an action we sent as new. It reports whether
// the action is newly known to be applied: a fresh result, or a duplicate
// that resolves a seq whose first reply was lost.
func (l *ledger) result(r *result, name string, args []byte, code string) bool {
	if r.duplicate {
		// A seq whose earlier reply was lost (a retried request) was
		// applied then: fine, as long as it is one of those.
		if !l.doubtful || r.seq <= l.acked || r.seq > l.sent {
			l.problem("seq %d answered duplicate but was never sent before (acked %d)", r.seq, l.acked)
			return false
		}
		// The first copy was applied; its stored result is this one.
		l.acked = r.seq
		l.doubtful = l.acked < l.sent
	} else {
		if r.seq <= l.acked {
			l.problem("seq %d applied again: fresh result at or below acknowledged %d", r.seq, l.acked)
			return true
		}
		l.acked = r.seq
		l.doubtful = false
		l.fresh++
	}
	l.last.seq = r.seq
	l.last.name = name
	l.last.args = append(l.last.args[:0], args...)
	l.last.ok = r.ok
	l.last.code = code
	l.last.pending = r.pending
	return true
}

// observe holds a state read (last_seq) against the ledger.
func (l *ledger) observe(where string, lastSeq int64) {
	if !l.started {
		l.started = true
		l.base, l.acked, l.sent = lastSeq, lastSeq, lastSeq
		return
	}
	l.reads++
	switch {
	case lastSeq < l.acked:
		l.problem("%s: last_seq %d below acknowledged %d: an acknowledged action was lost", where, lastSeq, l.acked)
	case lastSeq > l.sent:
		l.problem("%s: last_seq %d above the highest seq ever sent %d", where, lastSeq, l.sent)
	case lastSeq > l.acked && !l.doubtful:
		l.problem("%s: last_seq %d above acknowledged %d: a rejected request was applied", where, lastSeq, l.acked)
	}
	if l.doubtful && lastSeq >= l.acked && lastSeq <= l.sent {
		l.acked = lastSeq
		l.doubtful = false
	}
}

// resent holds the reply to a resend of l.last against what was stored.
func (l *ledger) resent(where string, r *result, code string) {
	l.dupChecks++
	switch {
	case r.seq != l.last.seq:
		l.problem("%s: resent seq %d answered as seq %d", where, l.last.seq, r.seq)
	case !r.duplicate && code == "stale_seq":
		// Past the remembered window: not applied again, which is what matters.
	case !r.duplicate:
		l.problem("%s: resent seq %d was applied again (no \"duplicate\": true)", where, r.seq)
	case l.last.pending:
		// An asynchronous action's first answer was "pending": a resend
		// gets its final answer, whatever it is (API.md).
	case r.ok != l.last.ok || code != l.last.code:
		l.problem("%s: resent seq %d answered ok=%v %s, first answered ok=%v %s",
			where, r.seq, r.ok, code, l.last.ok, l.last.code)
	}
}

// snapshot is a player state read back from the server.
type snapshot struct {
	lastSeq int64
	raw     []byte // the player object, valid until the next exchange
}

// parseSnapshot finds the player object in a login or player reply (or
// WebSocket login_ok) and its last_seq.
func parseSnapshot(body []byte) (snapshot, error) {
	raw := field(body, "player")
	if len(raw) == 0 || raw[0] != '{' {
		return snapshot{}, fmt.Errorf("reply has no player object")
	}
	ls := field(raw, "last_seq")
	if ls == nil {
		return snapshot{raw: raw}, fmt.Errorf("player has no last_seq")
	}
	n, err := strconv.ParseInt(string(ls), 10, 64)
	if err != nil {
		return snapshot{raw: raw}, fmt.Errorf("player last_seq %q: %w", ls, err)
	}
	return snapshot{lastSeq: n, raw: raw}, nil
}
