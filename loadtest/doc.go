// Package loadtest owns the load generator behind `rampart loadtest`:
// simulated players that sign in by device, play a weighted mix of game
// actions with think time over HTTP keep-alive or WebSocket, reconnect and
// log out, while the generator measures client-side latency in HDR
// histograms, counts errors by code, and checks every answer twice.
//
// Prediction: each player keeps its base as an actions.Base and runs every
// batch on it with the real rules (package actions) and the game data the
// server serves, decoded by package gamedata; a served result no moment of
// the request's window reproduces is a divergence, and fails the run.
// Where the rules cannot see (async results, raids, pushed changes) the
// player re-reads its state, and the report counts why.
//
// Ledger: what the server acknowledged as applied is what it reports on
// every read and after logout, exactly once, across lost replies, resends
// and fresh sign-ins after a 401 on a live session (the lost batch is
// resent with its seqs).
//
// It talks to the server only through package client, so it is also the
// end-to-end benchmark of a running server.
//
// Cost model: players do not own goroutines. A scheduler goroutine keeps a
// heap of players ordered by their next action time and hands due players
// to a fixed pool of workers; a player has at most one call in flight.
// Over HTTP the players share the client's keep-alive pool (Conns idle
// connections); over WebSocket each online player's session owns its
// socket and reader.
package loadtest
