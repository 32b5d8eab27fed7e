package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/profiler"
)

// Asynchronous actions follow DESIGN.md principle 3: a pure "before" step
// under the player's lock answers {"pending": true}; the slow step (MongoDB,
// S3) runs outside it through a bookkeeper; the "after" step comes back
// through the player's lock, updates the stored reply for the seq, lands
// in the player's "async" list and is pushed as an "async_result" event.

// Async action names.
const (
	ActionLeaderboard  = "leaderboard"
	ActionFindOpponent = "find_opponent"
	ActionAttack       = "attack"
)

// AsyncNames lists the asynchronous actions.
func AsyncNames() []string { return []string{ActionLeaderboard, ActionFindOpponent, ActionAttack} }

// Error codes of the asynchronous actions.
const (
	CodeUnavailable = "unavailable"
	CodeNoOpponent  = "no_opponent"
	CodeUnderAttack = "under_attack"
	CodeBadArgs     = "bad_args"
)

// EventAsyncResult and EventRaided are pushed to players.
const (
	EventAsyncResult = "async_result"
	EventRaided      = "raided"
)

// Mongo is the MongoDB side of the store. Without it (or without the part
// an action needs) the asynchronous actions answer "unavailable"; what is
// missing is not indexed, mailed or recorded. Keeper is required.
type Mongo struct {
	Index     Index
	Mail      Mailbox
	Analytics Analytics
	// Keeper is the mongo bookkeeper every call goes through.
	Keeper *bookkeeper.Keeper
}

// Tuning of the asynchronous actions.
const (
	leaderboardTTL  = 2 * time.Second // a burst of leaderboard calls costs one query
	leaderboardMax  = 100
	opponentBand    = 100 // find_opponent's first tolerance, doubled on each retry
	opponentWidens  = 5   // at most 100 << 5 = 3200 trophies
	opponentOffer   = 5 * time.Minute
	raidLock        = 2 * time.Minute
	mongoCallBudget = 10 * time.Second // one slow step, retries included
)

// UseMongo connects the store to MongoDB. Call it before serving.
func (s *Store) UseMongo(m *Mongo) {
	s.mongo = m
}

// asyncState is the store's part of asynchronous work.
type asyncState struct {
	wg   sync.WaitGroup // slow steps in flight
	rows map[string]*profiler.Row

	lbMu  sync.Mutex
	lbAt  time.Time
	lbTop []Summary
	lbErr error
	lbRun chan struct{} // closed when the running query lands; nil when none runs
}

// launch is a slow step to start once the player's lock is released.
type launch struct {
	player   string
	seq      int64
	name     string
	n        int            // leaderboard size
	trophies int            // the player's
	tries    int            // find_opponent: earlier tries, widening the band
	target   string         // attack
	army     map[string]int // attack: the deployed units
	raidID   string
}

type asyncArgs struct {
	N          int    `json:"n"`
	OpponentID string `json:"opponent_id"`
	Retry      int    `json:"retry"`
}

// beforeAsync is the pure step of an asynchronous action, with o.mu held.
// It returns the launch to start, or an error reply.
func (s *Store) beforeAsync(o *Online, gd *gamedata.Bundle, now time.Time, a *Action) (*launch, *actions.Error) {
	if s.mongo == nil || s.mongo.Index == nil || (a.Name == ActionAttack && s.mongo.Mail == nil) {
		return nil, &actions.Error{Code: CodeUnavailable, Message: a.Name + " needs MongoDB, which this server runs without"}
	}
	var args asyncArgs
	if len(a.Args) > 0 && string(a.Args) != "null" {
		if err := json.Unmarshal(a.Args, &args); err != nil {
			return nil, &actions.Error{Code: CodeBadArgs, Message: err.Error()}
		}
	}
	p := &o.p
	l := &launch{player: o.id, seq: a.Seq, name: a.Name, trophies: p.Base.Trophies}
	switch a.Name {
	case ActionLeaderboard:
		l.n = args.N
		if l.n <= 0 {
			l.n = 20
		}
		if l.n > leaderboardMax {
			return nil, &actions.Error{Code: CodeBadArgs, Message: fmt.Sprintf("n: at most %d", leaderboardMax)}
		}
	case ActionFindOpponent:
		l.tries = min(max(args.Retry, 0), opponentWidens)
	case ActionAttack:
		if args.OpponentID == "" {
			return nil, &actions.Error{Code: CodeBadArgs, Message: "opponent_id is required"}
		}
		if p.Found == nil || p.Found.ID != args.OpponentID || p.Found.Until <= now.UnixMilli() {
			return nil, &actions.Error{Code: CodeNoOpponent, Message: "attack an opponent find_opponent offered in the last " + opponentOffer.String()}
		}
		army, err := actions.StartAttack(&p.Base, gd, now)
		if err != nil {
			var ae *actions.Error
			if errors.As(err, &ae) {
				return nil, ae
			}
			return nil, &actions.Error{Code: "internal", Message: "internal error"}
		}
		p.Found = nil
		l.target, l.army = args.OpponentID, army
		// Player ids are unique and seqs only grow: so is this.
		l.raidID = fmt.Sprintf("%s-%d", o.id, a.Seq)
	}
	return l, nil
}

// start runs the slow step of each launch, each on its own goroutine,
// bounded by the bookkeepers it calls through.
func (s *Store) start(launches []*launch) {
	for _, l := range launches {
		s.async.wg.Add(1)
		go func() {
			defer s.async.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), mongoCallBudget+raidLock)
			defer cancel()
			t0 := time.Now()
			result, err := s.slow(ctx, l)
			s.async.rows[l.name].Record(time.Since(t0))
			s.completeAsync(l, result, err)
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

func (s *Store) slow(ctx context.Context, l *launch) (any, error) {
	switch l.name {
	case ActionLeaderboard:
		return s.leaderboard(ctx, l)
	case ActionFindOpponent:
		return s.findOpponent(ctx, l)
	case ActionAttack:
		return s.raid(ctx, l)
	}
	return nil, fmt.Errorf("no slow step for %s", l.name)
}

// completeAsync is the "after" step: with the player's lock, the result
// replaces the pending reply, joins the async list and is pushed. A player
// who left memory meanwhile does not get it (a raid's effects travel by
// mail instead and are applied at the next load).
func (s *Store) completeAsync(l *launch, result any, err error) {
	s.withOnline(l.player, func(o *Online) { s.finishAsync(o, l, result, err) })
}

// withOnline runs fn with id's lock held if id is online here.
func (s *Store) withOnline(id string, fn func(o *Online)) {
	v, ok := s.players.Load(id)
	if !ok {
		return
	}
	o := v.(*Online)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.gone {
		fn(o)
	}
}

// finishAsync is completeAsync's work, with o.mu held.
func (s *Store) finishAsync(o *Online, l *launch, result any, err error) {
	now := s.cfg.Now()
	r := AsyncResult{Seq: l.seq, Name: l.name, At: now.UnixMilli()}
	if err != nil {
		r.Error = toActionError(err)
		if l.army != nil { // the raid never happened: the units come home
			actions.RefundAttack(&o.p.Base, l.army)
		}
	} else {
		r.OK = true
		if r.Result, err = json.Marshal(result); err != nil {
			r.Result = json.RawMessage("{}")
		}
	}
	if l.name == ActionFindOpponent && r.OK {
		if f, ok := result.(opponentResult); ok {
			o.p.Found = &Found{ID: f.Opponent.ID, Until: now.Add(opponentOffer).UnixMilli()}
		}
	}
	for i := range o.p.Replies {
		if o.p.Replies[i].Seq == l.seq {
			o.p.Replies[i] = Reply{Seq: l.seq, OK: r.OK, Result: r.Result, Error: r.Error}
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

// toActionError turns a slow step's failure into a stable code.
func toActionError(err error) *actions.Error {
	var ae *actions.Error
	if errors.As(err, &ae) {
		return ae
	}
	return &actions.Error{Code: CodeUnavailable, Message: "the service this action needs is unavailable; retry later"}
}

// mongoDo runs fn through the mongo bookkeeper.
func (s *Store) mongoDo(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return s.mongo.Keeper.Do(ctx, op, fn)
}

type leaderboardResult struct {
	Top      []Summary `json:"top"`
	Rank     int       `json:"rank"`
	Trophies int       `json:"trophies"`
}

// leaderboard answers from a short-lived cache of the top players, so a
// burst of requests costs one query; a caller outside the cached top costs
// one count for its rank.
func (s *Store) leaderboard(ctx context.Context, l *launch) (any, error) {
	top, err := s.topPlayers(ctx)
	if err != nil {
		return nil, err
	}
	res := leaderboardResult{Top: top[:min(l.n, len(top))], Trophies: l.trophies}
	for i, p := range top {
		if p.ID == l.player {
			res.Rank = i + 1
		}
	}
	if res.Rank == 0 {
		err := s.mongoDo(ctx, "mongo:rank", func(ctx context.Context) error {
			var err error
			res.Rank, err = s.mongo.Index.Rank(ctx, l.trophies, l.player)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// topPlayers returns the cached top leaderboardMax players, refreshing
// them once per leaderboardTTL whoever asks.
func (s *Store) topPlayers(ctx context.Context) ([]Summary, error) {
	a := &s.async
	for {
		a.lbMu.Lock()
		if !a.lbAt.IsZero() && time.Since(a.lbAt) < leaderboardTTL {
			top, err := a.lbTop, a.lbErr
			a.lbMu.Unlock()
			return top, err
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

		var top []Summary
		err := s.mongoDo(ctx, "mongo:top", func(ctx context.Context) error {
			var err error
			top, err = s.mongo.Index.Top(ctx, leaderboardMax)
			return err
		})
		a.lbMu.Lock()
		a.lbRun = nil
		if err == nil { // failures are not cached
			a.lbAt, a.lbTop, a.lbErr = time.Now(), top, nil
		}
		close(run)
		a.lbMu.Unlock()
		return top, err
	}
}

type opponentResult struct {
	Opponent  Summary `json:"opponent"`
	Tolerance int     `json:"tolerance"`
}

// findOpponent looks for raid targets near the player's trophies, in a
// band that doubles with each retry (Eliminate's widening matchmaking).
func (s *Store) findOpponent(ctx context.Context, l *launch) (any, error) {
	tol := opponentBand << l.tries
	var found []Summary
	err := s.mongoDo(ctx, "mongo:opponents", func(ctx context.Context) error {
		var err error
		found, err = s.mongo.Index.Opponents(ctx, OpponentQuery{Trophies: l.trophies, Tolerance: tol,
			Exclude: l.player, Now: s.cfg.Now().UnixMilli(), Limit: 10})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, &actions.Error{Code: CodeNoOpponent,
			Message: fmt.Sprintf("no opponent within %d trophies; retry to widen the search", tol)}
	}
	// Closest first; the seq spreads ties over the candidates.
	best := found[int(l.seq%int64(len(found)))]
	for _, c := range found {
		if abs(c.Trophies-l.trophies) < abs(best.Trophies-l.trophies) {
			best = c
		}
	}
	return opponentResult{Opponent: best, Tolerance: tol}, nil
}

func abs(x int) int { return max(x, -x) }
