package state

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"rampart/accounts"
	"rampart/actions"
)

// A cluster (issue #14): many identical servers on one S3 and one
// MongoDB. A player is live on one server at a time, named by the lease
// in its S3 object. This file is the store's side of it:
//
//   - a sign-in for a player whose lease names another server that is
//     alive asks that server to hand the player over (saved, lease
//     released) and then loads it; one whose owner is dead takes it at
//     once and replays the dead server's shipped journal (fetchOnce);
//   - a request carrying a session of a player that is not here is
//     served where the player is (Route: the api forwards it);
//   - a raid on a defender live elsewhere is settled by the defender's
//     owner (Cluster.Defend), and mail for a player live elsewhere is
//     announced to its owner (Cluster.Poke);
//   - a server that cannot beat its own heartbeat stops acknowledging
//     (Fenced) before the others may declare it dead.

// Liveness is what the membership knows of a server.
type Liveness int

const (
	// LivenessUnknown: the membership cannot be read; nobody is declared
	// dead on a guess.
	LivenessUnknown Liveness = iota
	Alive
	Dead
)

func (l Liveness) String() string {
	switch l {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// Cluster is what the store needs of the other servers. A nil Cluster is
// one server alone.
type Cluster interface {
	// Liveness says whether server is alive.
	Liveness(ctx context.Context, server string) Liveness
	// Fenced reports that this server lost its own heartbeat: it must not
	// acknowledge anything until it has it back.
	Fenced() bool
	// Handoff asks server to hand player over: saved, lease released.
	// held is false when server did not have the player.
	Handoff(ctx context.Context, server, player string) (held bool, err error)
	// Defend asks server to settle req's defense on its live defender
	// (DefendHere there).
	Defend(ctx context.Context, server string, req *actions.RaidRequest) (actions.RaidResult, error)
	// Poke tells server that player has mail waiting (PokeMail there).
	Poke(ctx context.Context, server, player string) error
	// Kick asks server to sign player out if its session is older than
	// gen (Kick there).
	Kick(ctx context.Context, server, player string, gen uint64) error
}

// Errors of the cluster paths.
var (
	// ErrFull: this server has --max-players online; the balancer sends
	// newcomers elsewhere (503 with Retry-After).
	ErrFull = fmt.Errorf("server full: %w", ErrUnavailable)
	// ErrMoving: the player is between servers (being handed over, or its
	// server is shutting down); retry in a moment (503).
	ErrMoving = fmt.Errorf("player moving between servers: %w", ErrUnavailable)
	// ErrFenced: this server lost its heartbeat; it acknowledges nothing.
	ErrFenced = fmt.Errorf("server fenced (no cluster heartbeat): %w", ErrUnavailable)
)

// ownedError is a live lease of another server on a player.
type ownedError struct {
	player, owner string
	until         int64
}

func (e *ownedError) Error() string {
	return fmt.Sprintf("player %s owned by %s until %d", e.player, e.owner, e.until)
}

func (e *ownedError) Unwrap() error { return ErrPlayerBusy }

// handoffWait bounds how long a handoff waits for the player's
// asynchronous actions in flight: their results reach it later as mail
// or are answered on replay.
const handoffWait = time.Second

// ClusterCounts count what crosses between servers.
type ClusterCounts struct {
	HandoffsAsked  int64 `json:"handoffs_asked"`  // sign-ins here that asked another server
	HandoffsGiven  int64 `json:"handoffs_given"`  // players this server handed over
	TakeoversDead  int64 `json:"takeovers_dead"`  // players taken from a dead server
	DefendsRemote  int64 `json:"defends_remote"`  // raids settled by another server
	DefendsHere    int64 `json:"defends_here"`    // raids settled here for another server
	PokesSent      int64 `json:"pokes_sent"`      // mail announced to another server
	PokesReceived  int64 `json:"pokes_received"`  // mail announcements received
	RoutedAway     int64 `json:"routed_away"`     // requests whose player is elsewhere
	RoutedResumed  int64 `json:"routed_resumed"`  // requests whose player was loaded here for them
	FencedRefusals int64 `json:"fenced_refusals"` // requests refused while fenced
}

// clusterState is the store's part of a cluster.
type clusterState struct {
	c        Cluster // nil: one server
	draining bool    // guarded by mu
	mu       sync.Mutex
	counts   ClusterCounts
	// defended remembers recent raids settled here for another server,
	// so that a retried Defend (its reply was lost) answers the same
	// result instead of settling twice.
	defended map[string]actions.RaidResult
	order    []string
}

const defendedKeep = 4096

func (cs *clusterState) count(f func(c *ClusterCounts)) {
	cs.mu.Lock()
	f(&cs.counts)
	cs.mu.Unlock()
}

// ClusterStats returns the cluster counters.
func (s *Store) ClusterStats() ClusterCounts {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	return s.cl.counts
}

// Clustered reports whether the store runs in a cluster.
func (s *Store) Clustered() bool { return s.cl.c != nil }

// Drain tells the store the server is shutting down: it loads no player
// from now on (sign-ins and routed requests answer 503, so clients
// retry elsewhere), while the players in memory keep being served until
// their final save.
func (s *Store) Drain() {
	s.cl.mu.Lock()
	s.cl.draining = true
	s.cl.mu.Unlock()
}

func (s *Store) isDraining() bool {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	return s.cl.draining
}

// Fenced reports whether this server lost its cluster heartbeat.
func (s *Store) Fenced() bool { return s.cl.c != nil && s.cl.c.Fenced() }

// fenced refuses work while this server has lost its heartbeat.
func (s *Store) fenced() error {
	if s.cl.c == nil || !s.cl.c.Fenced() {
		return nil
	}
	s.cl.count(func(c *ClusterCounts) { c.FencedRefusals++ })
	return ErrFenced
}

// Full reports whether the server has MaxPlayers online (readiness).
func (s *Store) Full() bool {
	return s.cfg.MaxPlayers > 0 && s.OnlineCount() >= s.cfg.MaxPlayers
}

// ownerState classifies a live lease of another server: alive (ask it),
// dead (take the player now) or unknown (wait out the lease).
func (s *Store) ownerState(ctx context.Context, owner string) Liveness {
	if s.cl.c == nil {
		return LivenessUnknown
	}
	return s.cl.c.Liveness(ctx, owner)
}

// handOver asks the live owner of a player to hand it over, for a load
// here. It reports whether the owner said it did not hold the player
// (its lease is stale: the caller may ignore it).
func (s *Store) handOver(ctx context.Context, e *ownedError) (stale bool, err error) {
	s.cl.count(func(c *ClusterCounts) { c.HandoffsAsked++ })
	held, err := s.cl.c.Handoff(ctx, e.owner, e.player)
	if err != nil {
		s.counts.Busy.Add(1)
		return false, fmt.Errorf("hand over player %s from %s: %w: %w", e.player, e.owner, ErrPlayerBusy, err)
	}
	return !held, nil
}

// Handoff hands player id over to another server that asked (a sign-in
// there): its asynchronous actions in flight get up to handoffWait, then
// its session ends (its socket is sent "replaced"), it is checkpointed
// with the lease released, and it leaves memory. held is false when the
// player was not here. The journal needs no flush: every acknowledged
// record is already durable, and the checkpoint covers them all.
func (s *Store) Handoff(ctx context.Context, id string) (held bool, err error) {
	o, ok := s.players.load(id)
	if !ok {
		return false, nil
	}
	s.waitJobs(ctx, o, handoffWait)
	o.mu.Lock()
	if o.gone {
		o.mu.Unlock()
		return false, nil
	}
	err = s.signOut(ctx, o, o.gen, true)
	s.emit(Event{Time: s.cfg.Now(), Player: id, Kind: "handoff", OK: err == nil})
	if err != nil {
		return true, err
	}
	s.cl.count(func(c *ClusterCounts) { c.HandoffsGiven++ })
	return true, nil
}

// waitJobs waits up to d for o's asynchronous actions in flight.
func (s *Store) waitJobs(ctx context.Context, o *Online, d time.Duration) {
	o.mu.Lock()
	done := o.jobsIdle
	o.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// DefendHere settles req's defense for another server's raid: the
// defender is live here (or was: then on its S3 object, as any raid).
// A raid settled here already answers its first result.
func (s *Store) DefendHere(ctx context.Context, req *actions.RaidRequest) (actions.RaidResult, error) {
	s.cl.mu.Lock()
	res, ok := s.cl.defended[req.RaidID]
	s.cl.mu.Unlock()
	if ok {
		return res, nil
	}
	res, err := s.settle(ctx, req, false)
	if err != nil {
		return res, err
	}
	s.cl.mu.Lock()
	if s.cl.defended == nil {
		s.cl.defended = map[string]actions.RaidResult{}
	}
	s.cl.defended[req.RaidID] = res
	s.cl.order = append(s.cl.order, req.RaidID)
	if len(s.cl.order) > defendedKeep {
		delete(s.cl.defended, s.cl.order[0])
		s.cl.order = s.cl.order[1:]
	}
	s.cl.counts.DefendsHere++
	s.cl.mu.Unlock()
	return res, nil
}

// PokeMail reads player id's mailbox now if it is online here: another
// server sent it mail (a raid's result) while it was live here.
func (s *Store) PokeMail(id string) {
	s.cl.count(func(c *ClusterCounts) { c.PokesReceived++ })
	if _, ok := s.players.load(id); !ok || s.mongo.Mail == nil {
		return
	}
	s.readMailNow(id)
}

// poke announces m's mail to its player's owner, if that is another live
// server: the mail is in the mailbox already.
func (s *Store) poke(ctx context.Context, to string) {
	if s.cl.c == nil {
		return
	}
	lease, err := s.readLease(ctx, to)
	if err != nil || lease.Owner == "" || lease.Owner == s.cfg.ServerID || lease.Until <= s.cfg.Now().UnixMilli() {
		return // offline: the mail is read at its next load
	}
	if err := s.cl.c.Poke(ctx, lease.Owner, to); err != nil {
		s.log.Warn("mail: owner not told; the mail waits for the player's next load", "to", to, "owner", lease.Owner, "err", err)
		return
	}
	s.cl.count(func(c *ClusterCounts) { c.PokesSent++ })
}

// Revoke signs player id out wherever it is live, if its session is
// older than gen (the account's, after a ban, a logout elsewhere or a
// refresh token's reuse): here (Kick), or by a call to its owner.
func (s *Store) Revoke(ctx context.Context, id string, gen uint64) error {
	if _, ok := s.players.load(id); ok || s.cl.c == nil {
		return s.Kick(ctx, id, gen)
	}
	lease, err := s.readLease(ctx, id)
	if err != nil {
		return err
	}
	if lease.Owner == "" || lease.Owner == s.cfg.ServerID || lease.Until <= s.cfg.Now().UnixMilli() ||
		s.ownerState(ctx, lease.Owner) == Dead {
		return nil // not live anywhere: its next sign-in or resume checks the generation
	}
	return s.cl.c.Kick(ctx, lease.Owner, id, gen)
}

// readLease reads the lease in id's S3 object (zero when it has none).
func (s *Store) readLease(ctx context.Context, id string) (Lease, error) {
	data, _, found, err := s.getObject(ctx, id)
	if err != nil || !found {
		return Lease{}, err
	}
	var head struct {
		Lease Lease `json:"lease"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Lease{}, fmt.Errorf("read lease of %s: %w", id, err)
	}
	return head.Lease, nil
}

// Route says where a request carrying session token is served. "" means
// here: the player is online here, or was just loaded here for it (its
// server shut down or died; the session lives on, API.md Session); a
// server id means the player is live there and the caller forwards the
// request. A token that does not verify is "" too: the handler answers
// 401. hop says the request was forwarded already: it is never sent on
// again (503, retried by the client).
func (s *Store) Route(ctx context.Context, token string, hop bool) (string, error) {
	if s.cl.c == nil {
		return "", nil
	}
	// The common case, the player here, costs no signature check: the
	// handler verifies the token anyway.
	if _, ok := s.players.load(accounts.SessionPlayer(token)); ok {
		return "", nil
	}
	c, err := s.accts.Verify(token)
	if err != nil {
		return "", nil
	}
	if _, ok := s.players.load(c.Player); ok {
		return "", nil
	}
	if hop || s.isDraining() {
		return "", fmt.Errorf("route %s: not here: %w", c.Player, ErrMoving)
	}
	lease, err := s.readLease(ctx, c.Player)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UnixMilli()
	if lease.Owner != "" && lease.Owner != s.cfg.ServerID && lease.Until > now &&
		s.ownerState(ctx, lease.Owner) == Alive {
		s.cl.count(func(c *ClusterCounts) { c.RoutedAway++ })
		return lease.Owner, nil
	}
	if _, err := s.Resume(ctx, token); err != nil {
		return "", err
	}
	s.cl.count(func(c *ClusterCounts) { c.RoutedResumed++ })
	return "", nil
}
