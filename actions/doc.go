// Package actions owns every game action as a pure function of (player
// base, arguments, game data, now): no I/O, no global clock, no global
// random source. A failed action returns an *Error with a stable code and
// changes nothing.
package actions
