// Package actions owns every game action as a pure function of (player
// base, arguments, game data, now): no I/O, no global clock, no global
// random source. A failed action returns an *Error with a stable code and
// changes nothing.
//
// Time-based effects (upgrades finishing, production, training, boosts)
// are stored as the moments they happen and resolved lazily by CatchUp,
// whenever a base is observed or acted on: there is no ticking loop, and
// a base offline for days catches up in one call. NextEvent says when the
// next effect is due, for pushing it to a connected client.
//
// ACTIONS.md documents each action's arguments, results and error codes.
package actions
