package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"rampart/actions"
	"rampart/gamedata"
	"rampart/profiler"
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

// EventAsyncResult and EventRaided are pushed to players.
const (
	EventAsyncResult = "async_result"
	EventRaided      = "raided"
)

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
	leaderboardTTL = 2 * time.Second // a burst of leaderboard calls costs one query
	raidLock       = 2 * time.Minute
	jobBudget      = 20 * time.Second // one slow step, its adapters' retries included
	mailBudget     = 10 * time.Second // reading a mailbox after a load
)

// asyncState is the store's part of asynchronous work.
type asyncState struct {
	wg   sync.WaitGroup // slow steps and mailbox reads in flight
	rows map[string]*profiler.Row

	lbMu  sync.Mutex
	lbAt  time.Time
	lbTop []Summary
	lbRun chan struct{} // closed when the running query lands; nil when none runs
}

// job is one asynchronous action between its pure steps.
type job struct {
	player string
	seq    int64
	name   string
	// run is the slow step: I/O only, no player state.
	run func(ctx context.Context) (any, error)
	// ok and failed, if set, change the player when the outcome lands
	// (o.mu held).
	ok     func(o *Online, res any, now time.Time)
	failed func(o *Online)
	// byMail: a successful outcome reaches the player as mail, not here.
	byMail bool
}

// beginAsync is step 1, with o.mu held: the job to start once the lock is
// released, or the error reply.
func (s *Store) beginAsync(o *Online, gd *gamedata.Bundle, now time.Time, a *Action) (*job, *actions.Error) {
	m := s.mongo
	if m.Index == nil || (a.Name == actions.Attack && m.Mail == nil) {
		return nil, &actions.Error{Code: actions.CodeUnavailable, Message: a.Name + " needs MongoDB, which this server runs without"}
	}
	j := &job{player: o.id, seq: a.Seq, name: a.Name}
	b := &o.p.Base
	switch a.Name {
	case actions.Leaderboard:
		req, err := actions.BeginLeaderboard(b, a.Args)
		if err != nil {
			return nil, asActionError(err)
		}
		j.run = func(ctx context.Context) (any, error) { return s.leaderboard(ctx, o.id, req) }
	case actions.FindOpponent:
		req, err := actions.BeginFindOpponent(b, a.Args)
		if err != nil {
			return nil, asActionError(err)
		}
		j.run = func(ctx context.Context) (any, error) { return s.findOpponent(ctx, o.id, a.Seq, req) }
		j.ok = func(o *Online, res any, now time.Time) {
			o.p.Found = &Found{ID: res.(actions.OpponentResult).Opponent.ID, Until: now.Add(actions.OpponentOffer).UnixMilli()}
		}
	case actions.Attack:
		req, err := actions.BeginAttack(b, o.id, a.Seq, o.p.Found, a.Args, gd, now)
		if err != nil {
			return nil, asActionError(err)
		}
		o.p.Found = nil
		o.p.RaidsOut++
		j.run = func(ctx context.Context) (any, error) { return s.raid(ctx, &req) }
		j.failed = func(o *Online) {
			actions.FailAttack(&o.p.Base, &req)
			o.p.RaidsOut = max(0, o.p.RaidsOut-1)
		}
		j.byMail = true
	default:
		return nil, &actions.Error{Code: actions.CodeUnknownAction, Message: "no such action"}
	}
	return j, nil
}

// start runs step 2 of each job on its own goroutine; the adapters'
// bookkeepers bound the I/O.
func (s *Store) start(jobs []*job) {
	for _, j := range jobs {
		s.async.wg.Add(1)
		go func() {
			defer s.async.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), jobBudget)
			defer cancel()
			t0 := time.Now()
			res, err := j.run(ctx)
			s.async.rows[j.name].Record(time.Since(t0))
			s.withOnline(j.player, func(o *Online) { s.complete(o, j, res, err) })
		}()
	}
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

// complete is step 3, with o.mu held. A player who left memory meanwhile
// is not reached (withOnline): its raid result waits in its mailbox, and a
// failed job's units are lost with the session (ACTIONS.md).
func (s *Store) complete(o *Online, j *job, res any, err error) {
	now := s.cfg.Now()
	r := AsyncResult{Seq: j.seq, Name: j.name, At: now.UnixMilli()}
	switch {
	case err != nil:
		r.Error = toActionError(err)
		if j.failed != nil {
			j.failed(o)
		}
	case j.byMail:
		return
	default:
		r.OK = true
		if r.Result, err = json.Marshal(res); err != nil {
			r.Result = json.RawMessage("{}")
		}
		if j.ok != nil {
			j.ok(o, res, now)
		}
	}
	s.settle(o, r)
}

// settle records r as the answer to its seq (o.mu held): it replaces the
// pending reply, joins the async list once and is pushed.
func (s *Store) settle(o *Online, r AsyncResult) {
	for _, a := range o.p.Async {
		if a.Seq == r.Seq {
			return // answered already
		}
	}
	for i := range o.p.Replies {
		if o.p.Replies[i].Seq == r.Seq {
			o.p.Replies[i] = Reply{Seq: r.Seq, OK: r.OK, Result: r.Result, Error: r.Error}
		}
	}
	pushCapped(&o.p.Async, r, maxAsync)
	o.changes++
	if o.conn != nil {
		ev, _ := json.Marshal(struct {
			Kind string `json:"kind"`
			AsyncResult
		}{EventAsyncResult, r})
		o.conn.Push(ev)
	}
}

// withOnline runs fn with id's lock held if id is online here, and
// reports whether it ran.
func (s *Store) withOnline(id string, fn func(o *Online)) bool {
	v, ok := s.players.Load(id)
	if !ok {
		return false
	}
	o := v.(*Online)
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

// leaderboard answers from a short-lived cache of the top players, so a
// burst of requests costs one query; a caller outside the cached top costs
// one count for its rank.
func (s *Store) leaderboard(ctx context.Context, self string, req actions.LeaderboardRequest) (actions.LeaderboardResult, error) {
	top, err := s.topPlayers(ctx)
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

// topPlayers returns the cached top players, refreshing them once per
// leaderboardTTL whoever asks.
func (s *Store) topPlayers(ctx context.Context) ([]Summary, error) {
	a := &s.async
	for {
		a.lbMu.Lock()
		if !a.lbAt.IsZero() && time.Since(a.lbAt) < leaderboardTTL {
			top := a.lbTop
			a.lbMu.Unlock()
			return top, nil
		}
		if a.lbRun != nil { // someone is querying: wait for their answer
			run := a.lbRun
			a.lbMu.Unlock()
			select {
			case <-run:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		run := make(chan struct{})
		a.lbRun = run
		a.lbMu.Unlock()

		top, err := s.mongo.Index.Top(ctx, actions.LeaderboardMax)
		a.lbMu.Lock()
		a.lbRun = nil
		if err == nil { // failures are not cached
			a.lbAt, a.lbTop = time.Now(), top
		}
		close(run)
		a.lbMu.Unlock()
		return top, err
	}
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
