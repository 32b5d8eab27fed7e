package loadtest

import (
	"bytes"
	"fmt"

	"rampart/client"
)

// ledger is what one player knows the server has acknowledged. Every time
// the player reads its state back (sign-in, re-read, the check after
// logout) the state is held against the ledger. Owned by whichever worker
// holds the player.
//
// The invariant: the server's last_seq equals the highest seq that got a
// result, whether the action succeeded or failed — the seq was consumed
// either way. A batch that got no answer makes its seqs doubtful until
// the next state read, or until it is resent with the same seqs and
// answered.
type ledger struct {
	started  bool  // the first state read set the baseline
	base     int64 // last_seq at the first sign-in
	acked    int64 // highest seq with a result
	sent     int64 // highest seq sent
	doubtful bool  // some seq in (acked, sent] may or may not be applied

	// The last fresh result, resent to check it comes back duplicate
	// with the same answer.
	last lastAction

	fresh     int64 // fresh results
	dups      int64 // duplicates of a batch the client resent after a lost reply
	reads     int64 // state reads checked
	dupChecks int64 // resends checked
	problems  []string
	nProblems int
}

type lastAction struct {
	seq   int64
	act   client.Action // Args owned
	ok    bool
	code  string
	value []byte // owned copy
	// pending: the first answer was an asynchronous action's "pending".
	pending bool
}

// maxProblems bounds what one player keeps; the report counts all.
const maxProblems = 4

func (l *ledger) problem(format string, a ...any) {
	l.nProblems++
	if len(l.problems) < maxProblems {
		l.problems = append(l.problems, fmt.Sprintf(format, a...))
	}
}

// sending notes that seqs first..last go out.
func (l *ledger) sending(first, last int64) {
	if last > l.sent {
		l.sent = last
	}
}

// lost notes that a batch's answer never came.
func (l *ledger) lost() { l.doubtful = l.sent > l.acked }

// result takes one result of a batch whose seqs start at first. A
// duplicate is fine for a seq of this batch that was not answered
// before: the client resent the batch after a lost reply, or it is the
// resend of a lost batch on a new session. It reports whether the result
// is one to count as acknowledged.
func (l *ledger) result(r *client.Result, first int64, act client.Action) bool {
	if r.Duplicate {
		if r.Seq < first || r.Seq <= l.acked || r.Seq > l.sent {
			l.problem("seq %d answered duplicate but was never sent before unanswered (acked %d, batch from %d)", r.Seq, l.acked, first)
			return false
		}
		l.dups++
	} else {
		if r.Seq <= l.acked {
			l.problem("seq %d applied again: fresh result at or below acknowledged %d", r.Seq, l.acked)
			return true
		}
		l.fresh++
	}
	l.acked = r.Seq
	l.doubtful = l.acked < l.sent && l.doubtful
	l.last = lastAction{seq: r.Seq, act: client.Action{Name: act.Name, Args: bytes.Clone(act.Args)},
		ok: r.OK, code: r.Code, value: bytes.Clone(r.Value), pending: r.Pending}
	return true
}

// resentLost takes one result of a lost batch resent with its seqs on a
// new session, after the sign-in's last_seq settled which of them the
// server had applied: exactly those must answer duplicate, the others
// must be applied now.
func (l *ledger) resentLost(r *client.Result, act client.Action) {
	switch {
	case r.Duplicate && r.Seq > l.acked:
		l.problem("resent lost seq %d answered duplicate, but last_seq %d said it was never applied", r.Seq, l.acked)
		return
	case !r.Duplicate && r.Seq <= l.acked:
		l.problem("resent lost seq %d applied again: last_seq %d said it was applied", r.Seq, l.acked)
		return
	case r.Duplicate:
		l.dups++
	default:
		l.fresh++
		l.acked = r.Seq
	}
	l.last = lastAction{seq: r.Seq, act: client.Action{Name: act.Name, Args: bytes.Clone(act.Args)},
		ok: r.OK, code: r.Code, value: bytes.Clone(r.Value), pending: r.Pending}
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
		l.problem("%s: last_seq %d above acknowledged %d: a refused request was applied", where, lastSeq, l.acked)
	}
	if l.doubtful && lastSeq >= l.acked && lastSeq <= l.sent {
		l.acked = lastSeq
		l.doubtful = false
	}
}

// resent holds the reply to a resend of l.last against what was stored.
func (l *ledger) resent(where string, r *client.Result) {
	l.dupChecks++
	switch {
	case r.Seq != l.last.seq:
		l.problem("%s: resent seq %d answered as seq %d", where, l.last.seq, r.Seq)
	case !r.Duplicate && r.Code == "stale_seq":
		// Past the remembered window: not applied again, which is what matters.
	case !r.Duplicate:
		l.problem("%s: resent seq %d was applied again (no \"duplicate\": true)", where, r.Seq)
	case l.last.pending:
		// An asynchronous action's first answer was "pending": a resend
		// gets its final answer, whatever it is (API.md).
	case r.OK != l.last.ok || r.Code != l.last.code:
		l.problem("%s: resent seq %d answered ok=%v %s, first answered ok=%v %s",
			where, r.Seq, r.OK, r.Code, l.last.ok, l.last.code)
	case !bytes.Equal(r.Value, l.last.value):
		l.problem("%s: resent seq %d answered %s, first answered %s", where, r.Seq, r.Value, l.last.value)
	}
}
