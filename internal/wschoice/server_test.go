package wschoice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
)

const (
	readLimit = 64 << 10 // per-message read limit, as in Rampart
	outCap    = 16       // writer channel capacity, as in Rampart
)

// request and reply are the ~100-byte JSON messages of the benchmark.
type request struct {
	ID   int64   `json:"id"`
	Op   string  `json:"op"`
	Room string  `json:"room"`
	Seq  int64   `json:"seq"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Data string  `json:"data"`
}

type reply struct {
	ID   int64  `json:"id"`
	Op   string `json:"op"`
	Seq  int64  `json:"seq"`
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// handle is the message handler shared by every server: decode the request,
// encode a reply. The reply is a fresh slice handed to the writer goroutine.
func handle(in []byte) ([]byte, error) {
	var req request
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	return json.Marshal(reply{ID: req.ID, Op: "ack:" + req.Op, Seq: req.Seq, OK: true, Data: req.Data})
}

// tracker counts server connections that are fully set up (reader and writer
// running) and waits for all of them to finish.
type tracker struct {
	up atomic.Int64
	wg sync.WaitGroup
}

// serverLib builds a server handler. With detach, the HTTP handler starts the
// reader goroutine and returns, so net/http frees its per-request state
// (request, headers, its own write buffer); otherwise the handler goroutine
// itself is the reader. Either way each connection has two goroutines.
type serverLib struct {
	name    string
	handler func(t *tracker, detach bool) http.Handler
}

var libs = []serverLib{
	{"coder", coderHandler},
	{"gorilla", func(t *tracker, detach bool) http.Handler { return gorillaHandler(t, &gorilla.Upgrader{}, detach) }},
	// gorilla with a shared write-buffer pool: an idle connection holds no write buffer.
	{"gorilla-pool", func(t *tracker, detach bool) http.Handler {
		return gorillaHandler(t, &gorilla.Upgrader{WriteBufferPool: &sync.Pool{}}, detach)
	}},
}

// run runs f in the current goroutine, or in a new one if detach.
func run(detach bool, f func()) {
	if detach {
		go f()
	} else {
		f()
	}
}

// coderHandler: the HTTP handler goroutine is the reader; one writer goroutine
// drains a bounded channel.
func coderHandler(t *tracker, detach bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, nil)
		if err != nil {
			return
		}
		t.wg.Add(1)
		run(detach, func() { coderServe(t, c) })
	})
}

func coderServe(t *tracker, c *coder.Conn) {
	{
		defer t.wg.Done()
		defer c.CloseNow()
		c.SetReadLimit(readLimit)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		out := make(chan []byte, outCap)
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for m := range out {
				if err := c.Write(ctx, coder.MessageText, m); err != nil {
					cancel() // closes c, unblocking the reader
					return
				}
			}
		}()
		t.up.Add(1)
		defer t.up.Add(-1)

		var buf bytes.Buffer
	loop:
		for {
			_, rd, err := c.Reader(ctx)
			if err != nil {
				break
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				break
			}
			rep, err := handle(buf.Bytes())
			if err != nil {
				break
			}
			select {
			case out <- rep:
			case <-wdone:
				break loop
			}
		}
		close(out)
		<-wdone
	}
}

// gorillaHandler: same shape as coderHandler.
func gorillaHandler(t *tracker, up *gorilla.Upgrader, detach bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		t.wg.Add(1)
		run(detach, func() { gorillaServe(t, c) })
	})
}

func gorillaServe(t *tracker, c *gorilla.Conn) {
	{
		defer t.wg.Done()
		defer c.Close()
		c.SetReadLimit(readLimit)

		out := make(chan []byte, outCap)
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for m := range out {
				if err := c.WriteMessage(gorilla.TextMessage, m); err != nil {
					c.Close() // unblock the reader
					return
				}
			}
		}()
		t.up.Add(1)
		defer t.up.Add(-1)

		var buf bytes.Buffer
	loop:
		for {
			_, rd, err := c.NextReader()
			if err != nil {
				break
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				break
			}
			rep, err := handle(buf.Bytes())
			if err != nil {
				break
			}
			select {
			case out <- rep:
			case <-wdone:
				break loop
			}
		}
		close(out)
		<-wdone
	}
}

// rawHoldHandler is the floor: it completes the upgrade by hand and keeps the
// hijacked net.Conn in held, with no goroutine and no buffers.
func rawHoldHandler(t *tracker, held chan<- io.Closer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+acceptKey(r.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		_ = brw // dropped with the handler
		held <- nc
		t.up.Add(1)
	})
}
