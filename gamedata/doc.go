// Package gamedata owns the rules of the game as data: resources, buildings
// and their levels, units, store items, the grid and a new player's initial
// state. Designers edit the source files under src/; the build step
// validates them and compiles one bundle whose version is a hash of its
// content. The server embeds the compiled bundle and can swap in another at
// runtime.
package gamedata
