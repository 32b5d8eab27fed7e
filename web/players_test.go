package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"rampart/state"
)

// playersNow is the fake "now" of the players page, in Unix ms.
var playersNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// onlinePlayers is the store's list, in its arbitrary order.
func onlinePlayers() []state.OnlineInfo {
	ms := func(d time.Duration) int64 { return playersNow.Add(d).UnixMilli() }
	return []state.OnlineInfo{
		{ID: "carol", LastActiveMS: ms(-90 * time.Second), LastSeq: 3, Leaving: true, LeaseUntilMS: ms(-5 * time.Second)},
		{ID: "alice", LastActiveMS: ms(-2 * time.Second), LastSeq: 41, Unsaved: true, Connected: true, LeaseUntilMS: ms(30 * time.Second)},
		{ID: "bob", LastActiveMS: ms(-10 * time.Minute), LastSeq: 7},
	}
}

// newPlayersMux mounts the page on a store of onlinePlayers, recording the
// limit the page asked for.
func newPlayersMux(asked *int) *http.ServeMux {
	list := func(limit int) []state.OnlineInfo {
		*asked = limit
		ps := onlinePlayers()
		if limit > 0 && len(ps) > limit {
			ps = ps[:limit]
		}
		return ps
	}
	count := func() int { return len(onlinePlayers()) }
	mux := http.NewServeMux()
	mux.Handle("GET /debug/players", (*Pages)(nil).players(list, count, func() time.Time { return playersNow }))
	return mux
}

func TestPlayersJSON(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantIDs   string
		wantLimit int
	}{
		{"default: by id, 500", "", "alice bob carol", 500},
		{"by activity, most recent first", "&sort=active", "alice carol bob", 500},
		{"unknown sort is by id", "&sort=bogus", "alice bob carol", 500},
		{"limit", "&limit=2", "alice carol", 2},
		{"bad limit is the default", "&limit=-3", "alice bob carol", 500},
		{"huge limit is capped", "&limit=99999999", "alice bob carol", maxPlayersLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked int
			w := getOK(t, newPlayersMux(&asked), "/debug/players?format=json"+tc.query)
			var doc PlayersJSON
			decodeJSONPage(t, w, &doc, "online", "players")
			var ids []string
			for _, p := range doc.Players {
				ids = append(ids, p.ID)
			}
			if got := strings.Join(ids, " "); got != tc.wantIDs {
				t.Errorf("players %s, want %s", got, tc.wantIDs)
			}
			if doc.Online != 3 || asked != tc.wantLimit || doc.Limit != tc.wantLimit {
				t.Errorf("online %d, asked the store for %d, limit %d; want 3, %d, %d", doc.Online, asked, doc.Limit, tc.wantLimit, tc.wantLimit)
			}
		})
	}

	// The store's fields go through untouched.
	var asked int
	var doc PlayersJSON
	if err := json.Unmarshal(getOK(t, newPlayersMux(&asked), "/debug/players?format=json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if want := onlinePlayers()[1]; len(doc.Players) == 0 || doc.Players[0] != want {
		t.Errorf("first player %+v, want %+v", doc.Players, want)
	}
}

func TestPlayersHTML(t *testing.T) {
	var asked int
	runHTMLCases(t, newPlayersMux(&asked), []htmlCase{
		{"by id", "/debug/players", []string{
			`Online: <b id="online">3</b>`,
			`<a href="/debug/players?format=json">JSON</a>`,
			`<th class="sorted"><a href="/debug/players" data-sort="id">Player</a></th><th><a href="/debug/players?sort=active" data-sort="active">Last active</a></th>`,
			`<tr class="player"><td class="name">alice</td><td>2s ago</td><td>41</td><td>yes</td><td>yes</td><td></td><td>in 30s</td></tr>`,
			`<tr class="player"><td class="name">bob</td><td>10m0s ago</td><td>7</td><td></td><td></td><td></td><td>–</td></tr>`,
			`<tr class="player leaving"><td class="name">carol</td><td>1m30s ago</td><td>3</td><td></td><td></td><td>yes</td><td>expired 5s ago</td></tr>`,
		}, []string{"arbitrary subset", "<script", `http-equiv="refresh"`}},
		{"by activity, with refresh", "/debug/players?sort=active&refresh=10", []string{
			`<meta http-equiv="refresh" content="10">`,
			`<a href="/debug/players?sort=active">off</a>`,
			`<th><a href="/debug/players?refresh=10" data-sort="id">Player</a></th><th class="sorted"><a href="/debug/players?refresh=10&amp;sort=active" data-sort="active">Last active</a></th>`,
			`<td class="name">alice</td>`, `<td class="name">carol</td>`, `<td class="name">bob</td>`,
		}, nil},
		{"truncated", "/debug/players?limit=2", []string{
			`Online: <b id="online">3</b> <span class="muted">(listing 2, an arbitrary subset, sorted; <a href="/debug/players?limit=8">list more</a>)</span>`,
			`<td class="name">alice</td>`, `<td class="name">carol</td>`,
		}, []string{`<td class="name">bob</td>`}},
	})
}

func TestPlayersEmpty(t *testing.T) {
	h := Players(func(int) []state.OnlineInfo { return nil }, func() int { return 0 })
	for _, tc := range []struct{ target, want string }{
		{"/debug/players", "Nobody online."},
		{"/debug/players?format=json", `"players": []`},
	} {
		w := getOK(t, h, tc.target)
		if !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s: %s, want %s", tc.target, w.Body, tc.want)
		}
	}
}
