// Package wschoice exists only to record how Rampart chose its WebSocket
// library. It holds no production code: its tests benchmark, for
// github.com/coder/websocket and github.com/gorilla/websocket, a server
// shaped like Rampart's (per connection one reader goroutine with a 64 KiB
// read limit and one writer goroutine fed by a channel of capacity 16,
// ~100-byte JSON text messages), measuring server-side memory per idle
// connection (BenchmarkIdleConnMemory) and round-trip messages per second
// (BenchmarkEcho). Figures and the decision are in the commit that added it.
//
// Run with:
//
//	go test -run='^$' -bench=IdleConnMemory -benchtime=1x ./internal/wschoice/
//	go test -run='^$' -bench=Echo -benchtime=2s ./internal/wschoice/
package wschoice
