package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"rampart/state"
)

// PlayersJSON is the /debug/players?format=json document.
type PlayersJSON struct {
	Online  int                `json:"online"` // count() when the page was asked for
	Sort    string             `json:"sort"`   // "id" or "active"
	Limit   int                `json:"limit"`
	Players []state.OnlineInfo `json:"players"` // at most limit, sorted
}

// DefaultPlayersLimit is how many players the page lists without ?limit=.
const DefaultPlayersLimit = 500

// maxPlayersLimit bounds ?limit=: each row is copied under its player's lock.
const maxPlayersLimit = 100_000

// playersQuery is the page's state, all in the URL (no JavaScript).
type playersQuery struct {
	Sort    string // "id" (default) or "active": most recently active first
	Limit   int
	Refresh int // seconds; 0: off
}

func parsePlayersQuery(r *http.Request) playersQuery {
	v := r.URL.Query()
	q := playersQuery{Sort: "id", Limit: DefaultPlayersLimit}
	if v.Get("sort") == "active" {
		q.Sort = "active"
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && n > 0 {
		q.Limit = min(n, maxPlayersLimit)
	}
	q.Refresh = parseRefresh(v)
	return q
}

// url is the page's URL with some fields changed.
func (q playersQuery) url(base string, change func(*playersQuery)) string {
	if change != nil {
		change(&q)
	}
	v := url.Values{}
	if q.Sort != "id" {
		v.Set("sort", q.Sort)
	}
	if q.Limit != DefaultPlayersLimit {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	setRefresh(v, q.Refresh)
	return withQuery(base, v)
}

type playersPage struct {
	Q         playersQuery
	Online    int
	Rows      []playerRow
	Truncated bool // more online than listed: the rows are an arbitrary subset, sorted
	Columns   []column
	Refreshes []link
	MoreURL   string
	JSONURL   string
}

// playerRow is one player with its times made relative to now.
type playerRow struct {
	state.OnlineInfo
	Active   time.Duration // since the last request
	Lease    time.Duration // until the lease expires; negative: expired
	HasLease bool
}

// Players is the online players page: the count, then one row per player
// (id, last active, last seq, unsaved, connected, leaving, lease expiry),
// at most ?limit= (default DefaultPlayersLimit), sorted by ?sort=id
// (default) or active (most recently active first). list returns up to
// limit players in any order and count how many are online (the store's
// Players and OnlineCount). ?format=json gives PlayersJSON; ?refresh=seconds
// reloads the page. Mount at GET /debug/players.
func (pg *Pages) Players(list func(limit int) []state.OnlineInfo, count func() int) http.Handler {
	return pg.players(list, count, time.Now)
}

// Players is Pages.Players logging to slog.Default().
func Players(list func(limit int) []state.OnlineInfo, count func() int) http.Handler {
	return (*Pages)(nil).Players(list, count)
}

func (pg *Pages) players(list func(limit int) []state.OnlineInfo, count func() int, now func() time.Time) http.Handler {
	return pg.handler(func(w http.ResponseWriter, r *http.Request) error {
		q := parsePlayersQuery(r)
		online := count()
		ps := list(q.Limit) // copies; each taken under its player's lock
		if len(ps) > q.Limit {
			ps = ps[:q.Limit]
		}
		sortPlayers(ps, q.Sort)

		if wantJSON(r) {
			if ps == nil {
				ps = []state.OnlineInfo{}
			}
			return writeJSON(w, http.StatusOK, PlayersJSON{Online: online, Sort: q.Sort, Limit: q.Limit, Players: ps})
		}

		base := basePath(r)
		t := now().UnixMilli()
		page := playersPage{Q: q, Online: online, Rows: make([]playerRow, len(ps)),
			Truncated: len(ps) >= q.Limit && online > len(ps),
			JSONURL:   withParam(q.url(base, nil), "format", "json")}
		for i, p := range ps {
			page.Rows[i] = playerRow{OnlineInfo: p, Active: time.Duration(t-p.LastActiveMS) * time.Millisecond,
				Lease: time.Duration(p.LeaseUntilMS-t) * time.Millisecond, HasLease: p.LeaseUntilMS != 0}
		}
		if page.Truncated {
			page.MoreURL = q.url(base, func(q *playersQuery) { q.Limit = min(q.Limit*4, maxPlayersLimit) })
		}
		for _, c := range []column{{Key: "id", Title: "Player"}, {Key: "active", Title: "Last active"}} {
			c.Sorted, c.URL = c.Key == q.Sort, q.url(base, func(q *playersQuery) { q.Sort = c.Key })
			page.Columns = append(page.Columns, c)
		}
		page.Refreshes = refreshLinks(q.Refresh, func(n int) string {
			return q.url(base, func(q *playersQuery) { q.Refresh = n })
		})
		return render(w, "players.html", page)
	})
}

// sortPlayers sorts by id, or by last activity, most recent first (ties by id).
func sortPlayers(ps []state.OnlineInfo, by string) {
	slices.SortFunc(ps, func(a, b state.OnlineInfo) int {
		if by == "active" {
			if c := cmp.Compare(b.LastActiveMS, a.LastActiveMS); c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// fmtUntil is a span from now to a time that may have passed.
func fmtUntil(d time.Duration) string {
	if d < 0 {
		return "expired " + fmtSpan(-d) + " ago"
	}
	return "in " + fmtSpan(d)
}
