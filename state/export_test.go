package state

import "time"

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
