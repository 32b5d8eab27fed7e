// Package loadtest owns the load generator behind `rampart loadtest`:
// simulated players that log in, play a weighted mix of game actions with
// think time over HTTP keep-alive or WebSocket, reconnect and log out, while
// the generator measures client-side latency in HDR histograms, counts errors
// by code, and finally checks every player's ledger: what the server
// acknowledged as applied is what it reports after logout, exactly once.
//
// It talks to the server only through the wire contract (API.md), so it is
// also the end-to-end benchmark of a running server.
//
// Cost model: players do not own goroutines. A scheduler goroutine keeps a
// heap of players ordered by their next action time and hands due players to
// a fixed pool of workers. Over HTTP each worker owns one keep-alive
// connection that players share (a player has at most one request in flight,
// so its seq stays ordered); over WebSocket each player owns its socket and
// a worker drives it for one exchange at a time. Requests are hand-encoded
// into reused buffers and replies are scanned, not unmarshalled, on the hot
// path.
package loadtest
