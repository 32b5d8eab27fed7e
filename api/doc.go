// Package api owns the public wire protocol: the HTTP routes (chi) and the
// WebSocket protocol of API.md. Both transports call the same dispatch.
package api
