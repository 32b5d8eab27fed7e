package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/bookkeeper"
	"rampart/state"
)

// ServersCollection holds the cluster's membership: one document per
// server, its heartbeat, and where the others reach it.
const ServersCollection = "servers"

// Membership timing (issue #14): a heartbeat every 2 s; a server whose
// heartbeat has not moved for 10 s is dead; a server that could not write
// its own heartbeat for 8 s stops acknowledging (it fences itself before
// anyone can declare it dead and take its players).
const (
	HeartbeatEvery = 2 * time.Second
	DeadAfter      = 10 * time.Second
	FenceAfter     = 8 * time.Second
	// memberTTL removes the documents of servers gone for good.
	memberTTL = time.Minute
	// listFresh is how old the last listing may be for an absence from it
	// to mean anything; older, liveness is unknown.
	listFresh = 2*HeartbeatEvery + time.Second
)

// Member is one server's document.
type Member struct {
	ID      string    `bson:"_id" json:"id"`
	Addr    string    `bson:"addr" json:"addr"`       // host:port of its cluster listener
	Started int64     `bson:"started" json:"started"` // Unix ms
	Beat    int64     `bson:"beat" json:"beat"`       // bumped by every heartbeat
	Seen    time.Time `bson:"seen" json:"-"`          // the TTL index's field (writer's clock)
}

// observed is what this server saw of another's heartbeat, on its own
// clock: liveness never compares two machines' clocks.
type observed struct {
	m       Member
	changed time.Time // when Beat last moved (or was first seen)
}

// Members registers this server in the servers collection, beats its
// heartbeat and tracks the others'. Its MongoDB calls go through their
// own keeper, so a heartbeat never queues behind analytics.
type Members struct {
	coll   *mongo.Collection
	keeper *bookkeeper.Keeper
	log    *slog.Logger
	now    func() time.Time
	self   Member

	mu       sync.Mutex
	seen     map[string]*observed
	listedAt time.Time // the last successful listing
	beatOK   time.Time // the last heartbeat of ours that landed
}

// NewMembers returns the membership of server self (ID, Addr and Started
// set) on db. It does nothing until Register.
func NewMembers(db *mongo.Database, keeper *bookkeeper.Keeper, self Member, log *slog.Logger, now func() time.Time) *Members {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Members{coll: db.Collection(ServersCollection), keeper: keeper, log: log, now: now, self: self, seen: map[string]*observed{}}
}

// Register makes sure of the TTL index, writes this server's first
// heartbeat and lists the others. A server takes players only once it is
// registered: a lease naming a server absent from the collection is a
// dead server's.
func (m *Members) Register(ctx context.Context) error {
	err := m.keeper.Do(ctx, "mongo:create_index", func(ctx context.Context) error {
		_, err := m.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: "seen", Value: 1}},
			Options: options.Index().SetExpireAfterSeconds(int32(memberTTL / time.Second)),
		})
		return err
	})
	var se mongo.ServerError
	if err != nil && errors.As(err, &se) {
		m.log.Warn("servers TTL index refused; documents of dead servers stay (harmless)", "err", err)
	} else if err != nil {
		return fmt.Errorf("register in %s: %w", ServersCollection, err)
	}
	if err := m.Beat(ctx); err != nil {
		return fmt.Errorf("register in %s: %w", ServersCollection, err)
	}
	return m.List(ctx)
}

// Run beats the heartbeat and refreshes the listing every HeartbeatEvery
// until ctx ends.
func (m *Members) Run(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.Beat(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("cluster heartbeat failed", "err", err, "fenced", m.Fenced())
		}
		if err := m.List(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("cluster listing failed", "err", err)
		}
	}
}

// Beat writes this server's heartbeat.
func (m *Members) Beat(ctx context.Context) error {
	m.mu.Lock()
	m.self.Beat++
	doc := m.self
	m.mu.Unlock()
	doc.Seen = m.now()
	err := m.keeper.Do(ctx, "mongo:heartbeat", func(ctx context.Context) error {
		_, err := m.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "addr", Value: doc.Addr}, {Key: "started", Value: doc.Started},
				{Key: "beat", Value: doc.Beat}, {Key: "seen", Value: doc.Seen}}}},
			options.UpdateOne().SetUpsert(true))
		return err
	})
	if err == nil {
		m.mu.Lock()
		m.beatOK = m.now()
		m.mu.Unlock()
	}
	return err
}

// List reads every member and notes whose heartbeat moved.
func (m *Members) List(ctx context.Context) error {
	var docs []Member
	err := m.keeper.Do(ctx, "mongo:servers", func(ctx context.Context) error {
		cur, err := m.coll.Find(ctx, bson.D{})
		if err != nil {
			return err
		}
		docs = docs[:0]
		return cur.All(ctx, &docs)
	})
	if err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	present := make(map[string]bool, len(docs))
	for _, d := range docs {
		present[d.ID] = true
		m.observe(d, now)
	}
	for id := range m.seen {
		if !present[id] {
			delete(m.seen, id)
		}
	}
	m.listedAt = now
	return nil
}

// observe records d (m.mu held).
func (m *Members) observe(d Member, now time.Time) {
	o, ok := m.seen[d.ID]
	if !ok || o.m.Beat != d.Beat || o.m.Started != d.Started {
		m.seen[d.ID] = &observed{m: d, changed: now}
		return
	}
	o.m = d
}

// Liveness says whether server id is alive. A server is dead when its
// document is gone (it left, or its heartbeat stopped long enough for the
// TTL) or when this server watched its heartbeat stand still for
// DeadAfter. Without a recent listing the answer is unknown: a server
// that cannot read the membership never declares anyone dead.
func (m *Members) Liveness(ctx context.Context, id string) state.Liveness {
	if id == m.self.ID {
		return state.Alive
	}
	now := m.now()
	m.mu.Lock()
	o, ok := m.seen[id]
	fresh := now.Sub(m.listedAt) <= listFresh
	m.mu.Unlock()
	if !fresh {
		return state.LivenessUnknown
	}
	if !ok {
		// Perhaps it registered after our listing: ask for it alone.
		_, err := m.lookup(ctx, id)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return state.Dead
		case err != nil:
			return state.LivenessUnknown
		}
		return state.Alive
	}
	if now.Sub(o.changed) >= DeadAfter {
		return state.Dead
	}
	return state.Alive
}

// lookup reads server id's document alone (one that registered after
// the last listing) and starts watching it.
func (m *Members) lookup(ctx context.Context, id string) (Member, error) {
	var d Member
	err := m.keeper.Do(ctx, "mongo:servers", func(ctx context.Context) error {
		return m.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	})
	if err != nil {
		return Member{}, err
	}
	m.mu.Lock()
	m.observe(d, m.now())
	m.mu.Unlock()
	return d, nil
}

// Addr is where server id's cluster listener is ("" if not known).
func (m *Members) Addr(ctx context.Context, id string) string {
	m.mu.Lock()
	o, ok := m.seen[id]
	m.mu.Unlock()
	if ok {
		return o.m.Addr
	}
	d, err := m.lookup(ctx, id)
	if err != nil {
		return ""
	}
	return d.Addr
}

// Fenced reports whether this server's own heartbeat has failed for
// FenceAfter: the others may soon declare it dead, so it must stop
// acknowledging what they would not see.
func (m *Members) Fenced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now().Sub(m.beatOK) > FenceAfter
}

// Self is this server's own document.
func (m *Members) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Alive lists the members this server currently believes alive, itself
// included, by id.
func (m *Members) Alive() []Member {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Member
	for _, o := range m.seen {
		if o.m.ID == m.self.ID || now.Sub(o.changed) < DeadAfter {
			out = append(out, o.m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Leave removes this server's document: called at shutdown once every
// player is saved and released, so the others need not wait out DeadAfter.
func (m *Members) Leave(ctx context.Context) error {
	return m.keeper.Do(ctx, "mongo:servers", func(ctx context.Context) error {
		_, err := m.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: m.self.ID}})
		return err
	})
}
