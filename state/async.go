package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"rampart/actions"
	"rampart/journal"
	"rampart/profiler"
	"rampart/state/push"
)

// Asynchronous actions follow DESIGN.md principle 3. The rules are pure
// functions in actions (Begin*, Finish*, Defend); this file is the one
// generic runner around them:
//
//  1. under the player's lock, actions.Begin* checks the args and returns
//     a request; the reply is {"pending": true};
//  2. outside the lock, job.run does the I/O (MongoDB, S3), each adapter
//     bookkeeping its own calls;
//  3. back under the player's lock, complete records the result: it
//     replaces the pending reply, joins the player's async list and is
//     pushed as an "async_result" event. A raid's result does not come
//     back this way: it travels as mail, like its other side, so a seq has
//     one async entry however the player is reached.

// Mongo is the MongoDB side of the store, handed to NewStore. A nil part
// switches off what needs it: without Index the asynchronous actions
// answer "unavailable", without Mail attack does; without Updates or
// Analytics nothing is published or recorded.
type Mongo struct {
	Index     Index
	Updates   Updates
	Mail      Mailbox
	Analytics Analytics
}

// Tuning of the asynchronous actions.
const (
	raidLock   = 2 * time.Minute
	jobBudget  = 20 * time.Second // one slow step, its adapters' retries included
	mailBudget = 10 * time.Second // reading a mailbox after a load
)

// asyncState is the store's part of asynchronous work.
type asyncState struct {
	wg   sync.WaitGroup // slow steps and mailbox reads in flight
	rows map[string]*profiler.Row
}

// job is one asynchronous action between its pure steps.
type job struct {
	player string
	seq    int64
	name   string
	// run is the slow step: I/O only, no player state.
	run func(ctx context.Context) (any, error)
	// army is what a failed attack gives back.
	army map[string]int
	// byMail: a successful outcome reaches the player as mail, not here.
	byMail bool
}

// newJob is step 2's work for an asynchronous action whose Begin step
// (applyRules) returned req.
func (s *Store) newJob(player string, a *Action, req any) *job {
	j := &job{player: player, seq: a.Seq, name: a.Name}
	switch req := req.(type) {
	case actions.LeaderboardRequest:
		j.run = func(ctx context.Context) (any, error) { return s.leaderboard(ctx, player, req) }
	case actions.OpponentRequest:
		seq := a.Seq
		j.run = func(ctx context.Context) (any, error) { return s.findOpponent(ctx, player, seq, req) }
	case actions.RaidRequest:
		j.run = func(ctx context.Context) (any, error) { return s.raid(ctx, &req) }
		j.army = req.Army
		j.byMail = true
	}
	return j
}

// start runs step 2 of each job on its own goroutine; the adapters'
// bookkeepers bound the I/O.
func (s *Store) start(o *Online, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	o.mu.Lock()
	if o.jobs == 0 {
		o.jobsIdle = make(chan struct{})
	}
	o.jobs += len(jobs)
	o.mu.Unlock()
	for _, j := range jobs {
		s.async.wg.Add(1)
		go func() {
			defer s.async.wg.Done()
			defer s.jobDone(o)
			ctx, cancel := context.WithTimeout(context.Background(), jobBudget)
			defer cancel()
			t0 := time.Now()
			res, err := j.run(ctx)
			s.async.rows[j.name].Record(time.Since(t0))
			s.withOnline(j.player, func(o *Online) { s.complete(o, j, res, err) })
		}()
	}
}

// jobDone counts one of o's asynchronous actions finished.
func (s *Store) jobDone(o *Online) {
	o.mu.Lock()
	if o.jobs--; o.jobs == 0 {
		close(o.jobsIdle)
		o.jobsIdle = nil
	}
	o.mu.Unlock()
}

// WaitAsync waits for the slow steps in flight, or for ctx to end.
func (s *Store) WaitAsync(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.async.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("asynchronous actions still running: %w", ctx.Err())
	}
}

// complete is step 3, with o.mu held: the outcome is applied
// (applyOutcome, as replay does), journaled and pushed. A player who left
// memory meanwhile is not reached (withOnline): its raid result waits in
// its mailbox, and a failed job's units are lost with the session
// (ACTIONS.md).
func (s *Store) complete(o *Online, j *job, res any, err error) {
	if err == nil && j.byMail {
		return
	}
	now := s.cfg.Now()
	out := asyncOutcome{OK: err == nil}
	if err != nil {
		out.Error, out.Army = toActionError(err), j.army
	} else if out.Result, err = json.Marshal(res); err != nil {
		out.Result = json.RawMessage("{}")
	}
	fresh := !answered(&o.p, j.seq)
	applyOutcome(&o.p, j.name, j.seq, &out, now)
	o.changes++
	args, _ := json.Marshal(&out)
	if _, err := s.journaled(o, journal.KindAsync, j.name, j.seq, now, args); err != nil {
		go s.dropPoisoned(o)
		return
	}
	if fresh {
		s.pushResult(o, AsyncResult{Seq: j.seq, Name: j.name, OK: out.OK, Result: out.Result, Error: out.Error, At: now.UnixMilli()})
	}
}

// answered reports whether seq has its final answer in p's async list.
func answered(p *Player, seq int64) bool {
	for _, a := range p.Async {
		if a.Seq == seq {
			return true
		}
	}
	return false
}

// push sends r to o's connection as an async_result event (o.mu held).
func (s *Store) pushResult(o *Online, r AsyncResult) {
	if !o.push.Connected() {
		return
	}
	ev, _ := json.Marshal(struct {
		Kind string `json:"kind"`
		AsyncResult
	}{push.AsyncResult, r})
	o.push.Push(ev)
}

// withOnline runs fn with id's lock held if id is online here, and
// reports whether it ran.
func (s *Store) withOnline(id string, fn func(o *Online)) bool {
	o, ok := s.players.load(id)
	if !ok {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return false
	}
	fn(o)
	return true
}

// asActionError is err as a reply error: a rule failure keeps its code,
// anything else is internal.
func asActionError(err error) *actions.Error {
	var ae *actions.Error
	if errors.As(err, &ae) {
		return ae
	}
	return actions.ErrInternal
}

// toActionError turns a slow step's failure into a stable code: a rule
// failure keeps its code, an I/O failure is unavailable.
func toActionError(err error) *actions.Error {
	var ae *actions.Error
	if errors.As(err, &ae) {
		return ae
	}
	return actions.ErrUnavailable
}

// leaderboard answers the top players and, for a caller outside them,
// its rank: two reads of the index (from memory behind an IndexSnapshot).
func (s *Store) leaderboard(ctx context.Context, self string, req actions.LeaderboardRequest) (actions.LeaderboardResult, error) {
	top, err := s.mongo.Index.Top(ctx, actions.LeaderboardMax)
	if err != nil {
		return actions.LeaderboardResult{}, err
	}
	res := actions.FinishLeaderboard(self, req, top, 0)
	if res.Rank == 0 {
		if res.Rank, err = s.mongo.Index.Rank(ctx, req.Trophies, self); err != nil {
			return actions.LeaderboardResult{}, err
		}
	}
	return res, nil
}

// findOpponent asks the index for raid targets in the request's band.
func (s *Store) findOpponent(ctx context.Context, self string, seq int64, req actions.OpponentRequest) (actions.OpponentResult, error) {
	found, err := s.mongo.Index.Opponents(ctx, OpponentQuery{Trophies: req.Trophies, Tolerance: req.Tolerance,
		Exclude: self, Now: s.cfg.Now().UnixMilli(), Limit: req.Limit})
	if err != nil {
		return actions.OpponentResult{}, err
	}
	return actions.FinishFindOpponent(req, seq, found)
}
