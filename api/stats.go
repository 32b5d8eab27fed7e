package api

import (
	"net/http"
	"sync/atomic"
)

// SignInKinds are the sign-in routes counted, and SignInResults their
// outcomes (an error's code; "error" for any other).
var (
	SignInKinds   = []string{"device", "email", "ticket", "refresh", "dev"}
	SignInResults = []string{"ok", "bad_credentials", "not_found", "already_exists", "banned", "rate_limited", "bad_request", "unavailable", "error"}
)

// SignInStats count sign-ins by kind and result, and the requests refused
// by a budget. Read by /metrics and the /debug/ index.
type SignInStats struct {
	counts          [5][9]atomic.Int64
	LimitedPlayer   atomic.Int64 // requests and messages past a player's budget
	LimitedAddress  atomic.Int64 // sign-ins past an address's budget
	kindIdx, resIdx map[string]int
}

func newSignInStats() *SignInStats {
	st := &SignInStats{kindIdx: map[string]int{}, resIdx: map[string]int{}}
	for i, k := range SignInKinds {
		st.kindIdx[k] = i
	}
	for i, r := range SignInResults {
		st.resIdx[r] = i
	}
	return st
}

// Count is how many sign-ins of kind ended in result.
func (st *SignInStats) Count(kind, result string) int64 {
	k, ok1 := st.kindIdx[kind]
	r, ok2 := st.resIdx[result]
	if !ok1 || !ok2 {
		return 0
	}
	return st.counts[k][r].Load()
}

func (st *SignInStats) add(kind string, err error) {
	k, ok := st.kindIdx[kind]
	if !ok {
		return
	}
	res := "ok"
	if err != nil {
		res = toError(err).Code
		if res == "unauthorized" { // a spent or forged refresh token
			res = "bad_credentials"
		}
	}
	r, ok := st.resIdx[res]
	if !ok {
		r = st.resIdx["error"]
	}
	st.counts[k][r].Add(1)
}

// SignIns returns the sign-in counters.
func (s *Server) SignIns() *SignInStats { return s.signins }

// countSignIn counts h's outcome as a sign-in of kind.
func (s *Server) countSignIn(kind string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		s.signins.add(kind, err)
		return err
	}
}
