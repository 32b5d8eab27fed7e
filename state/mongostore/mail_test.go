package mongostore

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"rampart/state"
)

func mailIDs(ms []state.Mail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestMailbox(t *testing.T) { forEachStore(t, testMailbox) }

func testMailbox(t *testing.T, s *Store) {
	ctx := context.Background()
	mails := []state.Mail{
		{ID: "raid-2", To: "bob", Kind: "raid", Created: 200, Body: json.RawMessage(`{"gold":-120,"by":"alice"}`)},
		{ID: "raid-1", To: "bob", Kind: "raid", Created: 100, Body: json.RawMessage(`{"gold":-50}`)},
		{ID: "gift-1", To: "bob", Kind: "gift", Created: 200, Body: json.RawMessage(`[1,2.5,"x"]`)},
		{ID: "raid-3", To: "carol", Kind: "raid", Created: 50},
	}
	for _, m := range mails {
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// A retried send, even with a different body, stores nothing new.
	dup := mails[0]
	dup.Body = json.RawMessage(`{"gold":-999}`)
	if err := s.Send(ctx, dup); err != nil {
		t.Fatalf("second Send of %s: got %v, want nil", dup.ID, err)
	}

	got, err := s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"raid-1", "gift-1", "raid-2"}; !slices.Equal(mailIDs(got), want) {
		t.Fatalf("Pending(bob): got %v, want %v (oldest first, ties by id)", mailIDs(got), want)
	}
	for _, g := range got {
		i := slices.IndexFunc(mails, func(m state.Mail) bool { return m.ID == g.ID })
		w := mails[i]
		if g.To != w.To || g.Kind != w.Kind || g.Created != w.Created || string(g.Body) != string(w.Body) {
			t.Errorf("Pending(bob) %s: got %+v (body %s), want %+v (body %s)", g.ID, g, g.Body, w, w.Body)
		}
	}
	if got, err := s.Pending(ctx, "carol"); err != nil || len(got) != 1 || got[0].Body != nil {
		t.Errorf("Pending(carol): got %+v, %v; want raid-3 with no body", got, err)
	}
	if got, err := s.Pending(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("Pending(nobody): got %+v, %v; want none", got, err)
	}

	if err := s.Delete(ctx, []string{"raid-1", "raid-2", "never-sent"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, nil); err != nil {
		t.Fatalf("Delete(nil): %v", err)
	}
	got, err = s.Pending(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gift-1"}; !slices.Equal(mailIDs(got), want) {
		t.Errorf("Pending(bob) after Delete: got %v, want %v", mailIDs(got), want)
	}
	if got, err := s.Pending(ctx, "carol"); err != nil || len(got) != 1 {
		t.Errorf("Pending(carol) after Delete of bob's: got %d, %v; want 1", len(got), err)
	}
}
