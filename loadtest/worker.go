package loadtest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"rampart/actions"
	"rampart/client"
)

// worker runs players' steps, one at a time, and owns the player it holds
// while doing so.
type worker struct {
	r    *runner
	st   *shard
	res  []client.Result
	acts []client.Action
	ks   []*kind
}

func (w *worker) run() {
	for p := range w.r.sched.due {
		w.step(p)
		if p.phase == phaseDone {
			w.drop(p)
			w.r.finished()
			continue
		}
		w.r.sched.push(p)
	}
}

func (w *worker) ctx() context.Context { return w.r.abort }

// step does one thing for p and sets p.next and p.phase.
func (w *worker) step(p *player) {
	now := time.Now()
	if lag := now.Sub(p.next); lag > 0 && !w.r.over(now) {
		w.st.lagged(lag)
	}
	switch p.phase {
	case phaseLogin:
		w.stepLogin(p, now)
	case phaseAct:
		w.stepAct(p, now)
	case phaseVerify:
		if w.r.cfg.Verify {
			w.verify(p)
		}
		p.phase = phaseDone
	}
}

func (w *worker) stepLogin(p *player, now time.Time) {
	if w.r.over(now) {
		if p.everOnline && w.r.cfg.Verify {
			p.phase = phaseVerify
		} else {
			p.phase = phaseDone
		}
		return
	}
	where := "first sign-in"
	if p.everOnline {
		where = "sign-in after logout"
	}
	if !w.login(p, where) {
		p.loginFails++
		backoff := min(time.Duration(1<<min(p.loginFails, 4))*250*time.Millisecond, 5*time.Second)
		p.next = w.r.capNext(now.Add(backoff))
		return
	}
	p.loginFails = 0
	p.phase = phaseAct
	if s := w.r.cfg.Session; s > 0 {
		p.sessionEnd = now.Add(think(p.rng, s))
	}
	p.next = w.r.capNext(time.Now().Add(think(p.rng, w.r.meanThink)))
}

func (w *worker) stepAct(p *player, now time.Time) {
	if w.r.over(now) && !w.r.cfg.FinalLogout {
		p.phase = phaseDone // the benchmark throws the server away
		return
	}
	if w.r.over(now) || (!p.sessionEnd.IsZero() && !now.Before(p.sessionEnd)) {
		w.logout(p)
		if w.r.over(now) {
			p.phase = phaseVerify
			return
		}
		p.phase = phaseLogin
		// Players stay away for about a quarter of a session.
		p.next = w.r.capNext(time.Now().Add(think(p.rng, w.r.cfg.Session/4)))
		return
	}
	if p.pushed.Swap(false) && !p.needRead {
		p.needRead, p.readWhy = true, "pushed change"
	}
	next := w.r.meanThink
	switch {
	case p.needLogin:
		w.st.tally(w.st.resignins, p.readWhy)
		if !w.login(p, "re-signin") {
			next = time.Second
		}
	case p.needRead:
		w.reread(p, p.readWhy)
	default:
		k := w.r.mix.pick(p.rng)
		switch k.move {
		case moveReconnect:
			w.reconnect(p)
		case moveRefresh:
			w.reread(p, "refresh")
		case moveResend:
			if p.led.last.seq == 0 {
				w.sendActions(p, w.r.mix.fallback)
			} else {
				w.resend(p, "resend")
			}
		default:
			w.sendActions(p, k)
		}
	}
	p.next = w.r.capNext(time.Now().Add(think(p.rng, next)))
}

// login signs p in with its device (a returning player names its id, for
// the balancer), holds the state it gets against the ledger and the
// predicted base, and resends the batch a lost session left unanswered.
func (w *worker) login(p *player, where string) bool {
	if p.sess != nil {
		w.drop(p)
	}
	var opts []client.SignInOption
	if p.playerID != "" {
		opts = append(opts, client.KnownPlayer(p.playerID))
	}
	t0 := time.Now()
	s, err := w.r.client.SignInDevice(w.ctx(), p.device, true, opts...)
	t1 := time.Now()
	w.st.exchange(opLogin, t1.Sub(t0))
	if err != nil {
		w.callError(err)
		return false
	}
	p.sess, p.playerID = s, s.PlayerID()
	w.r.sessions.Store(s, p)
	doc := s.TakeLoginPlayer()
	w.readState(p, where, doc, s.ServerTime(), t0, t1)
	p.needLogin = false
	if !p.online {
		p.online, p.everOnline = true, true
		w.r.changeOnline(1)
	}
	if lb := p.lost; lb != nil {
		p.lost = nil
		w.resendLost(p, lb)
	}
	return true
}

// resendLost sends a batch whose answer was lost with its session again,
// with its seqs: what the server had applied answers duplicate, the rest
// is applied now.
func (w *worker) resendLost(p *player, lb *lostBatch) {
	t0 := time.Now()
	res, err := p.sess.DoSeq(w.ctx(), w.res[:0], lb.first, lb.acts...)
	w.st.exchange(opActions, time.Since(t0))
	w.res = res
	if err != nil {
		w.lostAnswer(p, err, lb) // still unanswered: again on the next session
		return
	}
	w.st.mu.Lock()
	w.st.actionsSent += int64(len(res))
	w.st.mu.Unlock()
	for i := range res {
		if res[i].Seq != lb.first+int64(i) {
			p.led.problem("resent lost batch: result %d has seq %d, want %d", i, res[i].Seq, lb.first+int64(i))
		}
		p.led.resentLost(&res[i], lb.acts[i])
		if !res[i].Duplicate {
			w.st.mu.Lock()
			w.st.actionsAck++
			w.st.mu.Unlock()
		}
	}
	// The base the first copies met is gone: read what they left.
	p.needRead, p.readWhy = true, "after a resent lost batch"
	p.w.known = false
}

// readState holds a state read (the player document raw, read between t0
// and t1 with the server's clock at st) against the ledger and the
// predicted base, and takes it as the new base.
func (w *worker) readState(p *player, where string, raw []byte, st int64, t0, t1 time.Time) *playerDoc {
	d, err := parseDoc(raw)
	if err != nil {
		w.protocolError(p, where+": "+err.Error())
		p.w.known = false
		return nil
	}
	doubtful := p.led.doubtful
	p.led.observe(where, d.LastSeq)
	p.led.sent = max(p.led.sent, d.LastSeq) // never reuse a seq the server has seen
	gd := w.r.gamedata(w.ctx(), p.sess.GamedataVersion())
	pw := &p.w
	if pw.known && !doubtful && pw.ext == d.ext() && pw.gd == gd {
		w.st.mu.Lock()
		w.st.stateChecks++
		w.st.mu.Unlock()
		if diff := project(&pw.base).diff(project(&d.Base)); diff != "" {
			w.diverged(p, where+": the state read differs from the state the rules predicted: "+diff)
		}
	}
	pw.adopt(gd, d)
	pw.clock(st, t0, t1)
	p.needRead = false
	return d
}

// reread reads p's state back (GET /api/v1/player); why says what made it
// necessary, for the report.
func (w *worker) reread(p *player, why string) *playerDoc {
	w.st.tally(w.st.rereads, why)
	t0 := time.Now()
	ps, err := p.sess.Player(w.ctx())
	t1 := time.Now()
	w.st.exchange(opPlayer, t1.Sub(t0))
	if err != nil {
		w.lostAnswer(p, err, nil)
		return nil
	}
	return w.readState(p, why, ps.Raw, ps.ServerTime, t0, t1)
}

func (w *worker) logout(p *player) {
	if !p.online {
		return
	}
	if p.sess != nil { // nil: a re-signin is still failing; the idle timeout logs it out
		t0 := time.Now()
		err := p.sess.Logout(w.ctx())
		w.st.exchange(opLogout, time.Since(t0))
		if err != nil && !errors.Is(err, client.ErrUnauthorized) {
			w.callError(err)
		}
	}
	// Whatever the answer, the player walks away; the server's idle
	// timeout covers a logout that did not arrive.
	w.drop(p)
	p.online = false
	p.needLogin, p.needRead = false, false
	p.sessionEnd = time.Time{}
	w.r.changeOnline(-1)
}

// drop closes p's session on this side.
func (w *worker) drop(p *player) {
	if p.sess != nil {
		w.r.sessions.Delete(p.sess)
		p.sess.Close()
		p.sess = nil
	}
}

// reconnect signs in again with a fresh session, as a client that lost
// its connection does. Over HTTP the old session must then answer 401.
func (w *worker) reconnect(p *player) {
	old := p.sess
	w.r.sessions.Delete(old)
	p.sess = nil
	if !w.login(p, "reconnect") {
		old.Close()
		p.needLogin, p.readWhy = true, "reconnect failed"
		return
	}
	defer old.Close()
	if old.Transport() != client.HTTP {
		return
	}
	t0 := time.Now()
	_, err := old.Player(w.ctx())
	w.st.exchange(opPlayer, time.Since(t0))
	if !errors.Is(err, client.ErrUnauthorized) {
		p.led.problem("reconnect: the replaced session answered %v, want 401", err)
	}
}

// sendActions plans 1..Batch actions, the first of kind k, on the real
// rules, sends them, and holds every answer against the ledger and the
// prediction.
func (w *worker) sendActions(p *player, k *kind) {
	if !p.w.known {
		p.needRead, p.readWhy = true, "base unknown"
		return
	}
	n := 1
	if b := w.r.cfg.Batch; b > 1 {
		n = 1 + p.rng.IntN(b)
	}
	first := p.sess.NextSeq()
	sc := p.w.scratch(p.rng, first)
	w.acts, w.ks = w.acts[:0], w.ks[:0]
	for len(w.acts) < n {
		a, ok := k.plan(sc)
		if !ok {
			// Nothing of that kind is possible now: try another kind,
			// and ping when all else fails.
			if k = w.r.mix.pick(p.rng); k.move == moveAction {
				a, ok = k.plan(sc)
			}
			if !ok {
				k = w.r.mix.fallback
				a, _ = k.plan(sc)
			}
		}
		w.acts, w.ks = append(w.acts, a), append(w.ks, k)
		if async(a.Name) {
			break // its result lands later: the batch ends with it
		}
		k = w.r.mix.pick(p.rng)
		for k.move != moveAction {
			k = w.r.mix.pick(p.rng)
		}
	}
	last := first + int64(len(w.acts)) - 1
	p.led.sending(first, last)

	t0 := time.Now()
	res, err := p.sess.DoAppend(w.ctx(), w.res[:0], w.acts...)
	t1 := time.Now()
	w.res = res
	w.st.exchange(opActions, t1.Sub(t0))
	if err != nil {
		w.lostAnswer(p, err, &lostBatch{first: first, acts: append([]client.Action(nil), w.acts...)})
		return
	}
	p.w.clock(p.sess.ServerTime(), t0, t1)

	w.r.actions.Add(int64(len(res)))
	w.st.mu.Lock()
	w.st.actionsSent += int64(len(res))
	w.st.ivlActions += int64(len(res))
	w.st.mu.Unlock()
	for i := range res {
		if res[i].Seq != first+int64(i) {
			p.led.problem("result %d has seq %d, want %d", i, res[i].Seq, first+int64(i))
		}
		p.led.result(&res[i], first, w.acts[i])
		w.countResult(w.ks[i], &res[i])
	}
	w.predict(p, first, t0, t1)
}

// async reports whether the action's result lands later.
func async(name string) bool {
	return name == actions.Leaderboard || name == actions.FindOpponent || name == actions.Attack
}

// predict holds the batch just answered against the rules.
func (w *worker) predict(p *player, first int64, t0, t1 time.Time) {
	pw := &p.w
	if v := p.sess.GamedataVersion(); v != "" && v != pw.gd.Version {
		// The server swapped its game data: fetch it, and read the base
		// it reconciled.
		w.r.gamedata(w.ctx(), v)
		w.unpredicted(p, "new game data", len(w.res))
		return
	}
	for i := range w.res {
		if w.res[i].Code == actions.CodeUnavailable && async(w.acts[i].Name) {
			// The server runs without what the action needs (MongoDB):
			// a matter of its configuration, not of the rules.
			w.unpredicted(p, "async action unavailable", len(w.res))
			return
		}
	}
	ok, bad, want := pw.predict(w.acts, w.res, first, p.sess.ServerTime(), t0, t1)
	w.st.mu.Lock()
	w.st.predictedBatches++
	w.st.predicted += int64(len(w.res))
	w.st.mu.Unlock()
	if !ok {
		a := &w.acts[bad]
		what := "seq " + strconv.FormatInt(first+int64(bad), 10) + " " + a.Name + " " + string(a.Args) +
			": the server answered " + served(&w.res[bad]).String() + ", the rules predict " + want.String()
		// A raid on this base or an async result may have changed it
		// since the last read: a re-read tells.
		before := pw.ext
		pw.known = false
		d := w.reread(p, "divergence check")
		if d == nil {
			p.needRead, p.readWhy = true, "divergence check"
			return
		}
		if d.ext() != before {
			w.st.mu.Lock()
			w.st.external++
			w.st.mu.Unlock()
			return
		}
		w.diverged(p, what)
		return
	}
	if pw.skew >= maxSkew {
		p.needRead, p.readWhy = true, "clock uncertainty"
	}
	for i := range w.res {
		if w.res[i].Pending && (w.acts[i].Name == actions.FindOpponent || w.acts[i].Name == actions.Attack) {
			// Its outcome (an offer, a raid's loot) lands later, where no
			// rule of this side can predict it: read it back next.
			p.needRead, p.readWhy = true, "async result"
		}
	}
}

func (w *worker) unpredicted(p *player, why string, n int) {
	w.st.mu.Lock()
	w.st.unpredicted[why] += int64(n)
	w.st.mu.Unlock()
	p.needRead, p.readWhy = true, why
	p.w.known = false
}

// diverged records a served answer or state the real rules do not
// predict: a failure of the run.
func (w *worker) diverged(p *player, what string) {
	w.st.mu.Lock()
	w.st.divergences++
	w.st.mu.Unlock()
	p.led.problem("divergence: %s", what)
}

// lostAnswer handles a call that got no answer, or was refused. The
// batch lb (nil for other calls) may or may not have been applied.
func (w *worker) lostAnswer(p *player, err error, lb *lostBatch) {
	p.w.known = false
	if lb != nil {
		p.led.lost()
	}
	if errors.Is(err, client.ErrUnauthorized) {
		// The session is gone (its server went away, or a newer sign-in
		// replaced it) though nobody revoked it: sign in afresh and go on;
		// the batch is resent with its seqs on the new session.
		p.needLogin = true
		p.readWhy = "401 on a live session"
		if errors.Is(err, client.ErrReplaced) {
			p.readWhy = "replaced"
		}
		if lb != nil {
			p.lost = lb
		}
		return
	}
	w.callError(err)
	p.needRead, p.readWhy = true, "lost answer"
}

func (w *worker) countResult(k *kind, r *client.Result) {
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	c := w.st.kind(k.name)
	c.Sent++
	switch {
	case r.Duplicate:
		c.Duplicate++
	case r.OK:
		c.OK++
		if r.Pending {
			c.Pending++
		}
	default:
		c.Failed++
	}
	if !r.Duplicate {
		w.st.actionsAck++
	}
	if !r.OK && !r.Duplicate {
		if k.invalid {
			w.st.expectFail[r.Code]++
		} else {
			w.st.actFail[r.Code]++
		}
	}
}

// resend sends the last acknowledged action again with its seq, as a
// client does that lost the reply, and checks it is not applied twice.
func (w *worker) resend(p *player, where string) {
	last := &p.led.last
	t0 := time.Now()
	res, err := p.sess.DoSeq(w.ctx(), w.res[:0], last.seq, last.act)
	w.st.exchange(opActions, time.Since(t0))
	w.res = res
	if err != nil {
		w.lostAnswer(p, err, nil)
		return
	}
	if len(res) != 1 {
		w.protocolError(p, where+": resend reply has no single result")
		return
	}
	p.led.resent(where, &res[0])
	w.st.mu.Lock()
	c := w.st.kind("resend")
	c.Sent++
	if res[0].Duplicate {
		c.Duplicate++
	}
	w.st.mu.Unlock()
}

// verify is the ledger check after the final logout: sign in again and
// compare last_seq and the base with the prediction, resend the last
// acknowledged action and expect a duplicate, read the state once more,
// and log out.
func (w *worker) verify(p *player) {
	if !w.login(p, "after logout") {
		p.led.problem("after logout: could not sign in again to check the ledger")
		return
	}
	if p.led.last.seq > p.led.base {
		w.resend(p, "after logout")
		w.reread(p, "after resend")
	}
	w.logout(p)
}

// callError counts a call that failed: refused (by status and code) or
// unanswered (by the class of the network error).
func (w *worker) callError(err error) {
	var e *client.Error
	if errors.As(err, &e) {
		w.st.count(w.st.httpErrors, strconv.Itoa(e.Status)+" "+e.Code)
		return
	}
	w.st.count(w.st.netErrors, errClass(err))
}

// errClass names a network failure for the report.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, client.ErrProtocol):
		return "protocol"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	s := err.Error()
	for _, c := range []string{"connection refused", "connection reset", "broken pipe", "EOF", "no answer", "websocket"} {
		if strings.Contains(s, c) {
			return c
		}
	}
	return "other"
}

func (w *worker) protocolError(p *player, what string) {
	w.st.count(w.st.netErrors, "protocol")
	p.led.problem("%s", what)
}
