package state

import (
	"context"
	"testing"
	"time"

	"rampart/accounts"
	"rampart/bookkeeper"
	"rampart/state/s3store"
)

// SetOffer makes id the opponent sess's player may attack next, as if
// find_opponent had offered it (tests that pair attackers and defenders).
func (s *Store) SetOffer(sess Session, id string) error {
	if err := s.lock(sess); err != nil {
		return err
	}
	defer sess.o.mu.Unlock()
	sess.o.p.Found = &Found{ID: id, Until: s.cfg.Now().Add(time.Hour).UnixMilli()}
	return nil
}

// SetRaidsOut marks sess's player as having n raids whose results have
// not reached it (tests of mailbox delivery).
func (s *Store) SetRaidsOut(sess Session, n int) error {
	if err := s.lock(sess); err != nil {
		return err
	}
	defer sess.o.mu.Unlock()
	sess.o.p.RaidsOut = n
	sess.o.changes++
	return nil
}

// DevAccounts returns accounts kept in blobs, with a fixed token key, for
// tests that build a Store.
func DevAccounts(tb testing.TB, blobs Blobs, now func() time.Time) *accounts.Accounts {
	tb.Helper()
	keeper := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 8, QueueLimit: 100,
		Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
	a, err := accounts.New(accounts.Config{TokenKey: []byte("0123456789abcdef0123456789abcdef"), Now: now,
		PasswordMemoryKiB: 64, PasswordPasses: 1}, AccountBlobs{B: blobs}, keeper)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// DevLogin signs id in through the development door: a dev session from
// accounts, adopted by Login.
func (s *Store) DevLogin(ctx context.Context, id string) (LoginResult, error) {
	g, err := s.accts.DevSession(id)
	if err != nil {
		return LoginResult{}, err
	}
	res, err := s.Login(ctx, id, g.Claims, g.Rotation)
	res.Session = g.Session
	return res, err
}

// Deliver sends m to its player as a raid's result would travel (tests
// of mail across servers).
func (s *Store) Deliver(ctx context.Context, m Mail) { s.deliver(ctx, m) }

// Apply is ApplyBatch for the tests that want only the replies and the
// game data version.
func (s *Store) Apply(sess Session, batch []Action) ([]Reply, string, error) {
	b, err := s.ApplyBatch(sess, batch)
	return b.Replies, b.Version, err
}
