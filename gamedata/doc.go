// Package gamedata owns the rules of the game as data: resources, buildings
// and their levels, units, store items, the grid and a new player's initial
// state.
//
// Designers edit the source files under src/ (see src/README.md).
// Build validates them, reporting every problem with its file and field,
// and compiles one bundle (bundle.json, committed and go:embed'ed) whose
// version is a hash of its content; `rampart gamedata build` calls
// WriteBundle. A test fails when the committed bundle is stale.
//
// The server starts from Embedded and may swap in another bundle, checked
// by Parse, through a Holder. A Bundle and everything reachable from it is
// read-only once parsed and shared by every goroutine.
package gamedata
