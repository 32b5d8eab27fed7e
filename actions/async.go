package actions

import (
	"encoding/json"
	"fmt"
	"time"

	"rampart/gamedata"
)

// Asynchronous actions (DESIGN.md principle 3) are pure steps around one
// slow step the caller performs: Begin* runs under the player's lock and
// turns (base, args, game data, now) into a request, or refuses; the
// caller does the I/O the request names; Finish* turns (base, request,
// response, game data, now) into the reply's result. A raid's effects are
// not a Finish: both sides apply the one RaidResult (ApplyRaidDefense,
// ApplyRaidAttack), which travels as mail.

// Names of the asynchronous actions.
const (
	Leaderboard  = "leaderboard"
	FindOpponent = "find_opponent"
	Attack       = "attack"
)

// AsyncNames lists the asynchronous actions.
func AsyncNames() []string { return []string{Leaderboard, FindOpponent, Attack} }

// Dispatch is one action's synchronous part, the way the server runs it
// (and replays it, and a client predicts it): an asynchronous action's
// Begin step, whose request (LeaderboardRequest, OpponentRequest or
// RaidRequest) its job then carries, or Apply's result for any other.
// found is the player's standing offer; a started attack spends it.
// self and seq are the player and the action's seq, which an attack's
// request records.
func Dispatch(b *Base, found **Offer, self string, seq int64, gd *gamedata.Bundle, now time.Time, name string, args json.RawMessage) (result, req any, err error) {
	switch name {
	case Leaderboard:
		req, err = BeginLeaderboard(b, args)
	case FindOpponent:
		req, err = BeginFindOpponent(b, args)
	case Attack:
		var rr RaidRequest
		if rr, err = BeginAttack(b, self, seq, *found, args, gd, now); err == nil {
			*found, req = nil, rr
		}
	default:
		result, err = Apply(b, gd, now, name, args)
	}
	if err != nil {
		return nil, nil, err
	}
	return result, req, nil
}

// Tuning of the asynchronous actions.
const (
	LeaderboardDefault = 20
	LeaderboardMax     = 100
	OpponentBand       = 100 // find_opponent's first tolerance in trophies, doubled on each retry
	OpponentWidens     = 5   // at most 100 << 5 = 3200 trophies
	OpponentCandidates = 10  // how many the index is asked for
	OpponentOffer      = 5 * time.Minute
)

// Rival is another player as the player index knows it.
type Rival struct {
	ID          string `json:"id"`
	TownHall    int    `json:"town_hall"`
	Trophies    int    `json:"trophies"`
	BaseValue   int64  `json:"base_value"`
	ShieldUntil int64  `json:"shield_until"` // Unix ms
	LastSeen    int64  `json:"last_seen"`    // Unix ms
}

type asyncArgs struct {
	N          int    `json:"n"`
	OpponentID string `json:"opponent_id"`
	Retry      int    `json:"retry"`
}

func decodeAsyncArgs(args json.RawMessage) (asyncArgs, *Error) {
	var a asyncArgs
	if len(args) > 0 && string(args) != "null" {
		if err := json.Unmarshal(args, &a); err != nil {
			return a, badArgs(err)
		}
	}
	return a, nil
}

// LeaderboardRequest asks the index for the top players and the caller's
// rank.
type LeaderboardRequest struct {
	N        int // entries wanted
	Trophies int // the caller's, for its rank
}

// LeaderboardResult is the leaderboard's reply.
type LeaderboardResult struct {
	Top      []Rival `json:"top"`
	Rank     int     `json:"rank"`
	Trophies int     `json:"trophies"`
}

// BeginLeaderboard checks the args (n, default 20, at most 100).
func BeginLeaderboard(b *Base, args json.RawMessage) (LeaderboardRequest, error) {
	a, err := decodeAsyncArgs(args)
	if err != nil {
		return LeaderboardRequest{}, err
	}
	n := a.N
	if n <= 0 {
		n = LeaderboardDefault
	}
	if n > LeaderboardMax {
		return LeaderboardRequest{}, &Error{CodeBadArgs, fmt.Sprintf("n: at most %d", LeaderboardMax)}
	}
	return LeaderboardRequest{N: n, Trophies: b.Trophies}, nil
}

// FinishLeaderboard shapes the index's answer: top (at least req.N of the
// best, most first) and rank (0 when the caller is not in top; the caller
// then asks the index for it).
func FinishLeaderboard(self string, req LeaderboardRequest, top []Rival, rank int) LeaderboardResult {
	res := LeaderboardResult{Top: top[:min(req.N, len(top))], Rank: rank, Trophies: req.Trophies}
	for i, p := range top {
		if p.ID == self {
			res.Rank = i + 1
		}
	}
	return res
}

// OpponentRequest asks the index for raid targets in a trophy band.
type OpponentRequest struct {
	Trophies  int
	Tolerance int
	Limit     int
}

// OpponentResult is find_opponent's reply.
type OpponentResult struct {
	Opponent  Rival `json:"opponent"`
	Tolerance int   `json:"tolerance"`
}

// BeginFindOpponent widens the band with each retry (Eliminate's widening
// matchmaking): ±100·2^retry, retry capped at 5.
func BeginFindOpponent(b *Base, args json.RawMessage) (OpponentRequest, error) {
	a, err := decodeAsyncArgs(args)
	if err != nil {
		return OpponentRequest{}, err
	}
	tries := min(max(a.Retry, 0), OpponentWidens)
	return OpponentRequest{Trophies: b.Trophies, Tolerance: OpponentBand << tries, Limit: OpponentCandidates}, nil
}

// FinishFindOpponent picks the candidate closest in trophies; seq spreads
// ties over the candidates. No candidate is no_opponent.
func FinishFindOpponent(req OpponentRequest, seq int64, found []Rival) (OpponentResult, error) {
	if len(found) == 0 {
		return OpponentResult{}, &Error{CodeNoOpponent,
			fmt.Sprintf("no opponent within %d trophies; retry to widen the search", req.Tolerance)}
	}
	best := found[int(seq%int64(len(found)))]
	for _, c := range found {
		if abs(c.Trophies-req.Trophies) < abs(best.Trophies-req.Trophies) {
			best = c
		}
	}
	return OpponentResult{Opponent: best, Tolerance: req.Tolerance}, nil
}

func abs(x int) int { return max(x, -x) }

// Offer is the opponent find_opponent offered, which attack may target
// until Until (Unix ms).
type Offer struct {
	ID    string `json:"id"`
	Until int64  `json:"until"`
}

// RaidRequest is an attack in flight: everything the defender's side needs
// to resolve the battle.
type RaidRequest struct {
	RaidID           string           `json:"raid_id"`
	Attacker         string           `json:"attacker"`
	Defender         string           `json:"defender"`
	Army             map[string]int   `json:"army"`
	AttackerTrophies int              `json:"attacker_trophies"`
	Room             map[string]int64 `json:"room"` // the attacker's free storage: loot never exceeds it
}

// BeginAttack checks the offer, deploys b's whole trained army and
// returns the raid to run. The raid id is attacker-seq: unique, since
// player ids are and seqs only grow.
func BeginAttack(b *Base, self string, seq int64, offer *Offer, args json.RawMessage, gd *gamedata.Bundle, now time.Time) (RaidRequest, error) {
	a, aerr := decodeAsyncArgs(args)
	if aerr != nil {
		return RaidRequest{}, aerr
	}
	if a.OpponentID == "" {
		return RaidRequest{}, &Error{CodeBadArgs, "opponent_id is required"}
	}
	if offer == nil || offer.ID != a.OpponentID || offer.Until <= now.UnixMilli() {
		return RaidRequest{}, &Error{CodeNoOpponent, "attack an opponent find_opponent offered in the last " + OpponentOffer.String()}
	}
	army, err := StartAttack(b, gd, now)
	if err != nil {
		return RaidRequest{}, err
	}
	t := scan(b, gd)
	room := make(map[string]int64, len(gd.Resources))
	for i, res := range gd.Resources {
		if res.Kind == gamedata.Harvested {
			room[res.ID] = max(0, t.capacity(gd, i)-b.Res[res.ID])
		}
	}
	return RaidRequest{RaidID: fmt.Sprintf("%s-%d", self, seq), Attacker: self, Defender: a.OpponentID,
		Army: army, AttackerTrophies: b.Trophies, Room: room}, nil
}

// Defend resolves req against def (the defender's authoritative base,
// caught up to now) and applies the defender's side in the same step, so
// the loot is exactly what the defender loses: the attacker applies the
// same result with ApplyRaidAttack. It returns the result and the
// defender's raid log line.
func Defend(def *Base, req *RaidRequest, gd *gamedata.Bundle, now time.Time) (RaidResult, RaidLogEntry) {
	CatchUp(def, gd, now)
	r := ResolveRaid(req, def, gd, now)
	return r, ApplyRaidDefense(def, gd, &r, now)
}
