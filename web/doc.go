// Package web owns the HTML pages: the /debug/ pages and the browser client.
// It reads snapshots; it never mutates game state.
package web
