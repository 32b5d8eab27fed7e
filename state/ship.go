package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"rampart/journal"
)

// Losing the machine, not only the process: what the journal made durable
// on local disk is shipped to S3 every second, one object per interval,
// journal/<server id>/<first LSN, %020d>, holding whole frames. A server
// that takes a player whose owner's lease ran out (the owner died with its
// disk) replays that owner's shipped records above the player's
// checkpoint before the player plays. So losing a whole machine costs at
// most what was acknowledged in the last interval plus one PUT; a stale
// owner that comes back still cannot overwrite the player (If-Match).

// Chunks is where shipped journal chunks live (S3, beside the players).
type Chunks interface {
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	Put(ctx context.Context, key string, data []byte, cond Cond) (etag string, err error)
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// shipEvery is how often the durable journal tail is shipped.
const shipEvery = time.Second

// shipChunk is the most one shipped object holds.
const shipChunk = 8 << 20

// shipper is the store's shipping state. Owned by ShipJournal's goroutine.
type shipper struct {
	next   journal.LSN // first LSN not shipped
	live   []shipped   // shipped objects not yet deleted, oldest first
	failed int64       // PUTs that failed (retried next second)
}

type shipped struct {
	key        string
	start, end journal.LSN
}

// chunkPrefix is the S3 prefix of a server's shipped journal.
func chunkPrefix(server string) string { return "journal/" + server + "/" }

// ShipJournal ships the durable journal tail every second until ctx ends,
// then once more. It deletes shipped objects the local journal released
// (their players are all checkpointed).
func (s *Store) ShipJournal(ctx context.Context) {
	if s.jrnl == nil || s.chunks == nil {
		return
	}
	t := time.NewTicker(shipEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.shipOnce(context.WithoutCancel(ctx))
			return
		case <-t.C:
			s.shipOnce(ctx)
		}
	}
}

// ShipNow ships what is durable now (shutdown and tests).
func (s *Store) ShipNow(ctx context.Context) {
	if s.jrnl != nil && s.chunks != nil {
		s.shipOnce(ctx)
	}
}

func (s *Store) shipOnce(ctx context.Context) {
	s.shipMu.Lock()
	defer s.shipMu.Unlock()
	sh := &s.ship
	for {
		data, next, err := s.jrnl.ReadDurable(sh.next, shipChunk)
		if errors.Is(err, journal.ErrReleased) { // checkpointed meanwhile: nothing below is needed
			sh.next = s.jrnl.FirstLSN()
			continue
		}
		if err != nil {
			s.log.Warn("journal shipping: read failed", "lsn", sh.next, "err", err)
			return
		}
		if next == sh.next {
			break
		}
		key := chunkPrefix(s.cfg.ServerID) + fmt.Sprintf("%020d", sh.next)
		err = s.s3.Do(ctx, "s3:ship", func(ctx context.Context) error {
			_, err := s.chunks.Put(ctx, key, data, Cond{})
			return err
		})
		if err != nil {
			sh.failed++
			s.log.Warn("journal shipping: put failed; retried in a second", "key", key, "err", err)
			return
		}
		sh.live = append(sh.live, shipped{key: key, start: sh.next, end: next})
		sh.next = next
	}
	first := s.jrnl.FirstLSN()
	for len(sh.live) > 0 && sh.live[0].end <= first {
		key := sh.live[0].key
		if err := s.s3.Do(ctx, "s3:ship_delete", func(ctx context.Context) error { return s.chunks.Delete(ctx, key) }); err != nil {
			return // tried again next second
		}
		sh.live = sh.live[1:]
	}
}

// shippedTails caches a dead owner's shipped records, by player: read once
// per owner (its chunks no longer change).
type shippedTails struct {
	mu     sync.Mutex
	owners map[string]*ownerTail
}

type ownerTail struct {
	once sync.Once
	recs map[string][]journal.Record
	err  error
}

// replayShipped applies what owner shipped of p above p's checkpoint.
// It is called when a load finds p's lease expired on another server.
func (s *Store) replayShipped(ctx context.Context, owner string, p *Player) (int, error) {
	if s.chunks == nil {
		return 0, nil
	}
	s.tailsShipped.mu.Lock()
	if s.tailsShipped.owners == nil {
		s.tailsShipped.owners = map[string]*ownerTail{}
	}
	ot := s.tailsShipped.owners[owner]
	if ot == nil {
		ot = &ownerTail{}
		s.tailsShipped.owners[owner] = ot
	}
	s.tailsShipped.mu.Unlock()
	ot.once.Do(func() { ot.recs, ot.err = s.readShipped(ctx, owner) })
	if ot.err != nil {
		return 0, ot.err
	}
	rp := s.replayer()
	n := 0
	for i := range ot.recs[p.ID] {
		r := &ot.recs[p.ID][i]
		if r.Rev <= p.Rev {
			continue
		}
		if err := rp.Apply(p, r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// readShipped reads every chunk owner shipped, by player.
func (s *Store) readShipped(ctx context.Context, owner string) (map[string][]journal.Record, error) {
	var keys []string
	err := s.s3.Do(ctx, "s3:ship_list", func(ctx context.Context) error {
		var err error
		keys, err = s.chunks.List(ctx, chunkPrefix(owner))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s's shipped journal: %w: %w", owner, ErrUnavailable, err)
	}
	slices.Sort(keys) // %020d: key order is LSN order
	recs := map[string][]journal.Record{}
	for _, key := range keys {
		base, err := strconv.ParseInt(strings.TrimPrefix(key, chunkPrefix(owner)), 10, 64)
		if err != nil {
			continue
		}
		var data []byte
		if err := s.s3.Do(ctx, "s3:ship_get", func(ctx context.Context) error {
			var err error
			data, _, err = s.chunks.Get(ctx, key)
			return err
		}); err != nil {
			return nil, fmt.Errorf("read %s: %w: %w", key, ErrUnavailable, err)
		}
		err = journal.DecodeAll(data, journal.LSN(base), func(lsn journal.LSN, r *journal.Record) error {
			c := *r
			c.Args = slices.Clone(r.Args)
			recs[r.Player] = append(recs[r.Player], c)
			return nil
		})
		if err != nil {
			s.log.Error("shipped journal chunk unreadable; its records are lost to the takeover", "key", key, "err", err)
		}
	}
	return recs, nil
}

// adoptShipped takes the chunks this server shipped before a restart into
// the live list, ending at the journal's end at the restart, so shipOnce
// deletes them once the journal has released that far: once every player
// they hold is checkpointed. Chunks shipped since are not touched.
func (s *Store) adoptShipped(ctx context.Context) {
	if s.chunks == nil {
		return
	}
	var keys []string
	if err := s.s3.Do(ctx, "s3:ship_list", func(ctx context.Context) error {
		var err error
		keys, err = s.chunks.List(ctx, chunkPrefix(s.cfg.ServerID))
		return err
	}); err != nil {
		s.log.Warn("journal shipping: could not list old chunks; they stay", "err", err)
		return
	}
	s.shipMu.Lock()
	defer s.shipMu.Unlock()
	end := s.ship.next // set to the journal's end by RecoverInBackground
	var old []shipped
	for _, key := range keys {
		start, err := strconv.ParseInt(strings.TrimPrefix(key, chunkPrefix(s.cfg.ServerID)), 10, 64)
		if err != nil || journal.LSN(start) >= end {
			continue // not a chunk, or shipped since the restart
		}
		old = append(old, shipped{key: key, start: journal.LSN(start), end: end})
	}
	s.ship.live = append(old, s.ship.live...)
}

// forgetShipped deletes what server shipped (after its journal was
// recovered and checkpointed).
func (s *Store) forgetShipped(ctx context.Context, server string) {
	if s.chunks == nil {
		return
	}
	var keys []string
	if err := s.s3.Do(ctx, "s3:ship_list", func(ctx context.Context) error {
		var err error
		keys, err = s.chunks.List(ctx, chunkPrefix(server))
		return err
	}); err != nil {
		s.log.Warn("journal shipping: could not list old chunks", "err", err)
		return
	}
	for _, key := range keys {
		s.s3.Do(ctx, "s3:ship_delete", func(ctx context.Context) error { return s.chunks.Delete(ctx, key) })
	}
}
