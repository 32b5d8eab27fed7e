package loadtest

import (
	"net/http"
	"strconv"
	"time"
)

// worker runs players' steps, one at a time, and owns everything it
// touches while doing so: its HTTP connection, its buffers, and the player
// it holds.
type worker struct {
	r    *runner
	st   *shard
	http doer
	in   interner

	acts  []byte    // the actions array of the request being built
	body  []byte    // the request body
	wsbuf []byte    // the last WebSocket message read
	key   []byte    // scratch for counter keys
	plans []planned // the actions of the request being built; args reused
	res   []result
	dials int64
}

func (w *worker) run() {
	defer w.http.close()
	for p := range w.r.sched.due {
		w.step(p)
		if p.phase == phaseDone {
			w.r.transport.drop(p)
			w.r.finished()
			continue
		}
		w.r.sched.push(p)
	}
}

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
	where := "first login"
	if p.everOnline {
		where = "login after logout"
	}
	if !w.login(p, where, false) {
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
	next := w.r.meanThink
	switch {
	case p.needLogin:
		if !w.login(p, "login after lost session", true) {
			next = time.Second
		}
	case p.needRefresh:
		w.refresh(p, "refresh")
	default:
		k := w.r.mix.pick(p.rng)
		switch k.move {
		case moveReconnect:
			w.reconnect(p)
		case moveRefresh:
			w.refresh(p, "refresh")
		case moveResend:
			if p.led.last.seq == 0 {
				k = w.r.mix.fallback
				next = w.sendActions(p, k)
			} else {
				w.resend(p, "resend")
			}
		default:
			next = w.sendActions(p, k)
		}
	}
	p.next = w.r.capNext(time.Now().Add(think(p.rng, next)))
}

// login logs p in (resuming its session over WebSocket when resume is
// set), checks the state it gets against the ledger and loads the model.
func (w *worker) login(p *player, where string, resume bool) bool {
	t0 := time.Now()
	rep, err := w.r.transport.login(w, p, resume)
	w.st.exchange(opLogin, time.Since(t0))
	if err != nil {
		w.netError(err)
		w.r.transport.drop(p)
		return false
	}
	if rep.status != http.StatusOK {
		w.httpError(rep)
		if resume && rep.status == http.StatusUnauthorized {
			// The session ended meanwhile: a fresh login it is.
			p.session = ""
			return w.login(p, where, false)
		}
		return false
	}
	sess := unquote(field(rep.body, "session"))
	if len(sess) == 0 && !(resume && p.session != "") {
		w.protocolError(p, where+": login reply has no session")
		return false
	}
	if len(sess) > 0 && string(sess) != p.session {
		p.session = string(sess)
	}
	w.readState(p, where, rep.body)
	p.needLogin = false
	if !p.online {
		p.online, p.everOnline = true, true
		w.r.changeOnline(1)
	}
	return true
}

// readState holds a state read against the ledger and the model.
func (w *worker) readState(p *player, where string, body []byte) {
	snap, err := parseSnapshot(body)
	if err != nil {
		w.protocolError(p, where+": "+err.Error())
		return
	}
	doubtful := p.led.doubtful
	p.led.observe(where, snap.lastSeq)
	if snap.lastSeq > p.led.sent {
		p.led.sent = snap.lastSeq // never reuse a seq the server has seen
	}
	p.m.load(p, where, snap.raw, body, doubtful)
	p.needRefresh = false
}

func (w *worker) refresh(p *player, where string) bool {
	t0 := time.Now()
	rep, err := w.r.transport.player(w, p, p.session)
	w.st.exchange(opPlayer, time.Since(t0))
	if err != nil {
		w.netError(err)
		return false
	}
	if rep.status != http.StatusOK {
		w.httpError(rep)
		if rep.status == http.StatusUnauthorized {
			p.needLogin = true
		}
		return false
	}
	w.readState(p, where, rep.body)
	return true
}

func (w *worker) logout(p *player) {
	if !p.online {
		return
	}
	t0 := time.Now()
	rep, err := w.r.transport.logout(w, p)
	w.st.exchange(opLogout, time.Since(t0))
	switch {
	case err != nil:
		w.netError(err)
	case rep.status != http.StatusOK:
		w.httpError(rep)
	}
	// Whatever the answer, the player walks away; the server's idle
	// timeout covers a logout that did not arrive.
	w.r.transport.drop(p)
	p.online = false
	p.needLogin, p.needRefresh = false, false
	p.session = ""
	p.sessionEnd = time.Time{}
	w.r.changeOnline(-1)
}

// reconnect logs in again with a fresh session, as a client that lost its
// connection does. Over HTTP the old session must then answer 401.
func (w *worker) reconnect(p *player) {
	old := p.session
	w.r.transport.drop(p)
	if !w.login(p, "reconnect", false) {
		p.needLogin = true
		return
	}
	if _, ok := w.r.transport.(httpTransport); !ok || old == "" || old == p.session {
		return
	}
	t0 := time.Now()
	rep, err := w.r.transport.player(w, p, old)
	w.st.exchange(opPlayer, time.Since(t0))
	switch {
	case err != nil:
		w.netError(err)
	case rep.status != http.StatusUnauthorized:
		p.led.problem("reconnect: the replaced session answered %d, want 401", rep.status)
	}
}

// sendActions sends 1..Batch actions, the first of kind k, and returns the
// mean think time before the next step.
func (w *worker) sendActions(p *player, k *kind) time.Duration {
	n := 1
	if b := w.r.cfg.Batch; b > 1 {
		n = 1 + p.rng.IntN(b)
	}
	w.plans = w.plans[:cap(w.plans)]
	count := 0
	for count < n {
		if count >= len(w.plans) {
			w.plans = append(w.plans, planned{})
		}
		a := &w.plans[count]
		a.kind, a.name, a.args = k, "", a.args[:0]
		if k.move != moveAction || !k.plan(p, a) {
			// Nothing of that kind is possible now: try another kind,
			// and ping when all else fails.
			k = w.r.mix.pick(p.rng)
			if k.move != moveAction {
				k = w.r.mix.fallback
			}
			a.kind, a.name, a.args = k, "", a.args[:0]
			if !k.plan(p, a) {
				k = w.r.mix.fallback
				a.kind, a.args = k, a.args[:0]
				k.plan(p, a)
			}
		}
		count++
		k = w.r.mix.pick(p.rng)
	}
	w.plans = w.plans[:count]

	first := p.led.sent + 1
	acts := append(w.acts[:0], '[')
	for i := range w.plans {
		if i > 0 {
			acts = append(acts, ',')
		}
		acts = appendAction(acts, first+int64(i), w.plans[i].name, w.plans[i].args)
	}
	acts = append(acts, ']')
	w.acts = acts
	p.led.sending(first + int64(count) - 1)

	t0 := time.Now()
	rep, err := w.r.transport.actions(w, p, acts)
	w.st.exchange(opActions, time.Since(t0))
	if err != nil {
		w.netError(err)
		p.led.lost()
		p.needRefresh = true
		if _, ok := w.r.transport.(*wsTransport); ok {
			p.needLogin = true // the socket is gone; resume the session on a new one
		}
		return w.r.meanThink
	}
	if rep.retried {
		p.led.lost()
	}
	if rep.status != http.StatusOK {
		w.httpError(rep)
		switch {
		case rep.status == http.StatusUnauthorized:
			p.needLogin = true
		case rep.status == http.StatusTooManyRequests:
			return 2 * w.r.meanThink
		case rep.status >= 500:
			p.led.lost()
			p.needRefresh = true
		}
		return w.r.meanThink
	}
	w.res, err = parseResults(rep.body, w.res)
	if err != nil || len(w.res) != len(w.plans) {
		w.protocolError(p, "actions reply: "+strconv.Itoa(len(w.res))+" results for "+strconv.Itoa(len(w.plans))+" actions")
		p.led.lost()
		p.needRefresh = true
		return w.r.meanThink
	}

	w.r.actions.Add(int64(len(w.plans)))
	w.st.mu.Lock()
	w.st.actionsSent += int64(len(w.plans))
	w.st.ivlActions += int64(len(w.plans))
	w.st.mu.Unlock()
	for i := range w.res {
		r, a := &w.res[i], &w.plans[i]
		if r.seq != first+int64(i) {
			p.led.problem("result %d has seq %d, want %d", i, r.seq, first+int64(i))
		}
		code := ""
		if len(r.code) > 0 {
			code = w.in.get(r.code)
		}
		applied := p.led.result(r, a.name, a.args, code)
		w.countResult(a.kind, r, code)
		if !applied {
			continue
		}
		switch {
		case r.ok:
			p.m.applied(p, a, r)
		case code == "unknown_action" && !a.kind.invalid:
			if w.r.mix.disable(a.kind) && !a.kind.speculative {
				w.r.noteDisabled(a.kind.name)
			}
		case !a.kind.invalid:
			p.m.failed(p, a, code)
		}
	}
	return w.r.meanThink
}

func (w *worker) countResult(k *kind, r *result, code string) {
	fresh := !r.duplicate
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	c := w.st.kind(k.name)
	c.Sent++
	switch {
	case !fresh:
		c.Duplicate++
	case r.ok:
		c.OK++
		if r.pending {
			c.Pending++
		}
	default:
		c.Failed++
	}
	if fresh {
		w.st.actionsAck++
	}
	if !r.ok && fresh {
		if k.invalid || k.speculative && code == "unknown_action" {
			w.st.expectFail[code]++
		} else {
			w.st.actFail[code]++
		}
	}
}

// resend sends the last acknowledged action again with its seq, as a
// client does that lost the reply, and checks it is not applied twice.
func (w *worker) resend(p *player, where string) {
	last := &p.led.last
	acts := append(w.acts[:0], '[')
	acts = appendAction(acts, last.seq, last.name, last.args)
	acts = append(acts, ']')
	w.acts = acts
	t0 := time.Now()
	rep, err := w.r.transport.actions(w, p, acts)
	w.st.exchange(opActions, time.Since(t0))
	if err != nil {
		w.netError(err)
		if _, ok := w.r.transport.(*wsTransport); ok {
			p.needLogin = true
		}
		return
	}
	if rep.status != http.StatusOK {
		w.httpError(rep)
		if rep.status == http.StatusUnauthorized {
			p.needLogin = true
		}
		return
	}
	w.res, err = parseResults(rep.body, w.res)
	if err != nil || len(w.res) != 1 {
		w.protocolError(p, where+": resend reply has no single result")
		return
	}
	r := &w.res[0]
	code := ""
	if len(r.code) > 0 {
		code = w.in.get(r.code)
	}
	p.led.resent(where, r, code)
	w.st.mu.Lock()
	c := w.st.kind("resend")
	c.Sent++
	if r.duplicate {
		c.Duplicate++
	}
	w.st.mu.Unlock()
}

// verify is the ledger check after the final logout: log in again and
// compare last_seq, resend the last acknowledged action and expect a
// duplicate, read the state once more, and log out.
func (w *worker) verify(p *player) {
	if !w.login(p, "after logout", false) {
		p.led.problem("after logout: could not log in again to check the ledger")
		return
	}
	if p.led.last.seq > p.led.base {
		w.resend(p, "after logout")
		w.refresh(p, "after resend")
	}
	w.logout(p)
}

func (w *worker) netError(err error) {
	w.st.count(w.st.netErrors, errClass(err))
}

func (w *worker) httpError(rep reply) {
	k := strconv.AppendInt(w.key[:0], int64(rep.status), 10)
	k = append(k, ' ')
	if code := parseError(rep.body); len(code) > 0 {
		k = append(k, code...)
	} else {
		k = append(k, "(no error body)"...)
	}
	w.key = k
	w.st.count(w.st.httpErrors, w.in.get(k))
}

func (w *worker) protocolError(p *player, what string) {
	w.st.count(w.st.netErrors, "protocol")
	p.led.problem("%s", what)
}
