// Package game owns the browser client: an HTML5 canvas game served at `/`
// from files embedded in the binary, speaking only the wire contract of
// API.md (sign-in over HTTP, play over the WebSocket).
//
// The client is plain JavaScript modules under static/js, with no build
// step and no external assets: net.js (sign-in, sessions, the socket and
// an outbox of actions by seq that survives reconnects and reloads),
// rules.js (the game data read for display), view.js (the canvas, camera
// and pointer input) and app.js (the HUD and panels). The server decides
// every outcome: the client redraws from the player the server returns.
// README.md describes the modules, how to play and the browser test.
package game
