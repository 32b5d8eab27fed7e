package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// gameData is the part of the compiled game data bundle (GET
// /api/v1/gamedata) a simulated player needs to choose valid moves. It is
// decoded from the wire like any client would, never imported from the
// server's packages. Read-only once fetched; shared by all players.
type gameData struct {
	Version string `json:"version"`
	Grid    struct {
		W int `json:"w"`
		H int `json:"h"`
	} `json:"grid"`
	Rules struct {
		SpeedUp []struct {
			S    int64 `json:"s"`
			Cost int64 `json:"cost"`
		} `json:"speed_up"`
		MaxTrain int `json:"max_train"`
	} `json:"rules"`
	Resources []struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	} `json:"resources"`
	Buildings []*gdBuilding `json:"buildings"`
	Units     []*gdUnit     `json:"units"`
	Store     []*gdItem     `json:"store"`

	premium  string
	townHall string
	building map[string]*gdBuilding
	unit     map[string]*gdUnit
}

type gdBuilding struct {
	ID       string     `json:"id"`
	Kind     string     `json:"kind"`
	W        int        `json:"w"`
	H        int        `json:"h"`
	MaxCount []int      `json:"max_count"`
	Resource string     `json:"resource"`
	Levels   []*gdLevel `json:"levels"`
}

type gdLevel struct {
	Cost     map[string]int64 `json:"cost"`
	TimeS    int64            `json:"time_s"`
	TH       int              `json:"th"`
	Requires []struct {
		Building string `json:"building"`
		Level    int    `json:"level"`
	} `json:"requires"`
	Storage  map[string]int64 `json:"storage"`
	Builders int              `json:"builders"`
	Housing  int              `json:"housing"`
	Queue    int              `json:"queue"`
	Rate     int64            `json:"rate"`
	Capacity int64            `json:"capacity"`
}

type gdUnit struct {
	ID        string           `json:"id"`
	TrainedAt string           `json:"trained_at"`
	Level     int              `json:"level"`
	Housing   int              `json:"housing"`
	TimeS     int64            `json:"time_s"`
	Cost      map[string]int64 `json:"cost"`
}

type gdItem struct {
	ID       string           `json:"id"`
	Kind     string           `json:"kind"`
	Price    int64            `json:"price"`
	TH       int              `json:"th"`
	Gives    map[string]int64 `json:"gives"`
	Target   string           `json:"target"`
	Resource string           `json:"resource"`
	Seconds  int64            `json:"seconds"`
}

// level returns level l (1-based) of b, or nil.
func (b *gdBuilding) level(l int) *gdLevel {
	if l < 1 || l > len(b.Levels) {
		return nil
	}
	return b.Levels[l-1]
}

// count is how many of b a player may own at town hall level th.
func (b *gdBuilding) count(th int) int {
	if th < 1 || len(b.MaxCount) == 0 {
		return 0
	}
	return b.MaxCount[min(th, len(b.MaxCount))-1]
}

// speedUpCost is the premium price of finishing remainingMs of work: the
// rules' curve, interpolated and rounded up, as API clients show it.
func (g *gameData) speedUpCost(remainingMs int64) int64 {
	pts := g.Rules.SpeedUp
	if remainingMs <= 0 || len(pts) == 0 {
		return 0
	}
	ceil := func(a, b int64) int64 { return (a + b - 1) / b }
	sec := (remainingMs + 999) / 1000
	var c int64
	if last := pts[len(pts)-1]; sec >= last.S {
		c = ceil(sec*last.Cost, max(last.S, 1))
	} else {
		for i := 1; i < len(pts); i++ {
			if sec <= pts[i].S {
				p, q := pts[i-1], pts[i]
				c = p.Cost + ceil((sec-p.S)*(q.Cost-p.Cost), max(q.S-p.S, 1))
				break
			}
		}
	}
	return max(c, 1)
}

// fetchGameData downloads and indexes the bundle. A server without one
// (or one this client cannot read) leaves the players blind: they play
// only moves that need no game knowledge.
func fetchGameData(ctx context.Context, client *http.Client, base string, timeout time.Duration) (*gameData, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/gamedata", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req) // the transport asks for and undoes gzip itself
	if err != nil {
		return nil, fmt.Errorf("get game data: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get game data: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("get game data: %w", err)
	}
	return parseGameData(body)
}

func parseGameData(body []byte) (*gameData, error) {
	var g gameData
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, fmt.Errorf("decode game data: %w", err)
	}
	g.building = map[string]*gdBuilding{}
	g.unit = map[string]*gdUnit{}
	for _, r := range g.Resources {
		if r.Kind == "premium" {
			g.premium = r.ID
		}
	}
	for _, b := range g.Buildings {
		if b == nil || b.ID == "" || len(b.Levels) == 0 || b.W < 1 || b.H < 1 {
			return nil, fmt.Errorf("decode game data: a building without id, levels or size")
		}
		for _, l := range b.Levels {
			if l == nil {
				return nil, fmt.Errorf("decode game data: building %s has an empty level", b.ID)
			}
		}
		g.building[b.ID] = b
		if b.Kind == "town_hall" {
			g.townHall = b.ID
		}
	}
	for _, u := range g.Units {
		if u != nil && u.ID != "" {
			g.unit[u.ID] = u
		}
	}
	if g.Version == "" || g.townHall == "" || g.Grid.W < 1 || g.Grid.H < 1 {
		return nil, fmt.Errorf("decode game data: no version, town hall or grid")
	}
	return &g, nil
}
