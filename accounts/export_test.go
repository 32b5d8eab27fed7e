package accounts

import "time"

// SignRefreshForTest mints a refresh token of family at counter, as an
// earlier version did from the family its account object held.
func (a *Accounts) SignRefreshForTest(player string, gen uint64, family string, counter uint64, expires time.Time) string {
	return a.tokens.signRefresh(refreshClaims{Player: player, Gen: gen, Family: family, Counter: counter, Expires: expires.UnixMilli()})
}
