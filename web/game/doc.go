// Package game owns the browser client: an HTML5 canvas game served at `/`
// from files embedded in the binary, speaking only the wire contract of
// API.md (sign-in over HTTP, play over the WebSocket).
package game
