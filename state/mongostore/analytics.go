package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"rampart/state"
)

var _ state.Analytics = (*Analytics)(nil)

// Defaults applied by NewAnalytics to zero AnalyticsConfig fields.
const (
	DefaultQueueSize   = 20000
	DefaultMaxBatch    = 500
	DefaultFlushEvery  = time.Second
	DefaultMaxInFlight = 2
)

// AnalyticsConfig sets the event pipeline's bounds. Zero fields take the
// defaults above.
type AnalyticsConfig struct {
	QueueSize   int           // events waiting for a batch; Emit drops past it
	MaxBatch    int           // events per insert
	FlushEvery  time.Duration // a partial batch waits at most this long
	MaxInFlight int           // inserts at once; past it the queue fills
	// WriteConcern is the client's (its URI's w and j), which the insert
	// command must state itself; nil leaves it to the server's default.
	WriteConcern *writeconcern.WriteConcern
	// Ticks, if set, replaces the FlushEvery ticker: each tick sends the
	// partial batch (tests drive time with it).
	Ticks <-chan time.Time
}

// AnalyticsStats are the pipeline's counters since NewAnalytics. Every
// emitted event ends up inserted or dropped, or is still queued or in
// flight: Emitted = Inserted + DroppedQueueFull + DroppedFailed + Queued +
// InFlight, give or take events moving between them while it is read.
type AnalyticsStats struct {
	Emitted          int64 `json:"emitted"`            // Emit calls
	Inserted         int64 `json:"inserted"`           // events MongoDB acknowledged
	DroppedQueueFull int64 `json:"dropped_queue_full"` // Emit found the queue full, or the pipeline closed
	DroppedFailed    int64 `json:"dropped_failed"`     // their batch failed after the bookkeeper's tries, or did not encode
	Batches          int64 `json:"batches"`            // inserts started (each with its retries)
	FailedBatches    int64 `json:"failed_batches"`     // of which failed
	Queued           int64 `json:"queued"`             // waiting in the queue or the batch being filled
	InFlight         int64 `json:"in_flight"`          // in batches on their way to MongoDB
}

// Analytics batches events into the events collection. Emit never blocks:
// events go on a bounded queue, and when it is full they are dropped and
// counted. Run drains the queue into batches of MaxBatch events, or fewer
// after FlushEvery, each inserted by one insert command through the store's
// bookkeeper (op "mongo:insert_events"), at most MaxInFlight at once. A
// batch that still fails after the bookkeeper's tries is dropped and
// counted: analytics never holds back the game.
type Analytics struct {
	store *Store
	cfg   AnalyticsConfig
	log   *slog.Logger

	// closeMu orders Emit against Close: once closed is set under the write
	// lock, no Emit can put an event on the queue, so Close's drain is
	// complete.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	queue    chan state.Event
	flushReq chan chan struct{} // Flush's requests to Run
	inflight chan struct{}      // a slot per batch on its way; cap MaxInFlight
	stop     chan struct{}      // closed by Close after its drain; Run returns
	stopOnce sync.Once
	runDone  chan struct{} // closed when Run returns
	running  atomic.Bool

	emitted, inserted, droppedFull, droppedFailed atomic.Int64
	batches, failedBatches, pending, inFlight     atomic.Int64
}

// NewAnalytics returns an event pipeline writing to store's events
// collection. Start Run; stop with Close.
func NewAnalytics(store *Store, cfg AnalyticsConfig) *Analytics {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	return &Analytics{
		store:    store,
		cfg:      cfg,
		log:      store.log.With("component", "analytics"),
		queue:    make(chan state.Event, cfg.QueueSize),
		flushReq: make(chan chan struct{}),
		inflight: make(chan struct{}, cfg.MaxInFlight),
		stop:     make(chan struct{}),
		runDone:  make(chan struct{}),
	}
}

// Emit queues e without blocking; a full queue drops it (counted in
// DroppedQueueFull), as does a closed pipeline. A zero e.Time is stamped
// with the store's clock.
func (a *Analytics) Emit(e state.Event) {
	a.emitted.Add(1)
	if e.Time.IsZero() {
		e.Time = a.store.now()
	}
	a.closeMu.RLock()
	if a.closed {
		a.closeMu.RUnlock()
		a.droppedFull.Add(1)
		return
	}
	select {
	case a.queue <- e:
		a.pending.Add(1)
	default:
		a.droppedFull.Add(1)
	}
	a.closeMu.RUnlock()
}

// Stats returns the counters.
func (a *Analytics) Stats() AnalyticsStats {
	return AnalyticsStats{
		Emitted:          a.emitted.Load(),
		Inserted:         a.inserted.Load(),
		DroppedQueueFull: a.droppedFull.Load(),
		DroppedFailed:    a.droppedFailed.Load(),
		Batches:          a.batches.Load(),
		FailedBatches:    a.failedBatches.Load(),
		Queued:           a.pending.Load(),
		InFlight:         a.inFlight.Load(),
	}
}

// errStopped is returned by Flush once Run has returned.
var errStopped = errors.New("analytics: not running")

// Run batches and sends events until ctx ends or Close has drained the
// queue. Call it once. The batches it started keep going after it
// returns, under the bookkeeper's timeout (the mongo bookkeeper's WaitIdle
// waits for them). When ctx ends the pipeline closes: events still queued
// are dropped and counted, so call Close first to send them.
func (a *Analytics) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("analytics: Run called twice")
	}
	defer close(a.runDone)
	ticker := time.NewTicker(a.cfg.FlushEvery)
	defer ticker.Stop()
	tick := ticker.C
	if a.cfg.Ticks != nil {
		tick = a.cfg.Ticks
	}
	batch := make([]state.Event, 0, a.cfg.MaxBatch)
	send := func() {
		if len(batch) > 0 {
			a.send(ctx, batch)
			batch = make([]state.Event, 0, a.cfg.MaxBatch)
		}
	}
	for {
		select {
		case e := <-a.queue:
			batch = append(batch, e)
			if len(batch) >= a.cfg.MaxBatch {
				send()
				ticker.Reset(a.cfg.FlushEvery)
			}
		case <-tick:
			send()
		case done := <-a.flushReq:
			// Take what is queued now, not what keeps arriving: a flush
			// under load must end.
			for n := len(a.queue); n > 0; n-- {
				batch = append(batch, <-a.queue)
				if len(batch) >= a.cfg.MaxBatch {
					send()
				}
			}
			send()
			ticker.Reset(a.cfg.FlushEvery)
			go a.waitInFlight(done)
		case <-a.stop:
			send()
			return nil
		case <-ctx.Done():
			// Like Close, but nothing more is sent: later Emits drop and
			// count, and what is queued now is dropped and counted here.
			a.closeMu.Lock()
			a.closed = true
			a.closeMu.Unlock()
			n := int64(len(batch))
			for len(a.queue) > 0 {
				<-a.queue
				n++
			}
			if n > 0 {
				a.pending.Add(-n)
				a.droppedFailed.Add(n)
				a.log.Warn("analytics stopped before sending queued events", "dropped", n)
			}
			return ctx.Err()
		}
	}
}

// waitInFlight closes done when every batch sent before it was called has
// landed: it takes all the in-flight slots, then gives them back.
func (a *Analytics) waitInFlight(done chan struct{}) {
	for range a.cfg.MaxInFlight {
		a.inflight <- struct{}{}
	}
	for range a.cfg.MaxInFlight {
		<-a.inflight
	}
	close(done)
}

// Flush sends everything queued when it is called and waits until those
// events have been inserted or dropped, or ctx ends. It needs Run.
func (a *Analytics) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case a.flushReq <- done:
	case <-a.runDone:
		return errStopped
	case <-ctx.Done():
		return fmt.Errorf("analytics flush: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("analytics flush: %w", ctx.Err())
	}
}

// Close stops taking events (later Emits are dropped and counted), sends
// everything queued, waits for it to land or ctx to end, and stops Run.
// Shutdown calls it before cancelling Run's ctx; without a running Run it
// waits for ctx.
func (a *Analytics) Close(ctx context.Context) error {
	a.closeMu.Lock()
	a.closed = true
	a.closeMu.Unlock()
	err := a.Flush(ctx)
	if errors.Is(err, errStopped) {
		err = nil
	}
	a.stopOnce.Do(func() { close(a.stop) })
	return err
}

// send hands batch to the bookkeeper once an in-flight slot is free, or
// drops it if Run's ctx ends first. Only Run calls it.
func (a *Analytics) send(runCtx context.Context, batch []state.Event) {
	n := int64(len(batch))
	// Bounded: with MaxInFlight batches out, Run waits here and the queue
	// fills.
	select {
	case a.inflight <- struct{}{}:
	case <-runCtx.Done():
		a.pending.Add(-n)
		a.droppedFailed.Add(n)
		a.log.Warn("analytics stopped before sending a batch", "dropped", n)
		return
	}
	a.pending.Add(-n)
	a.inFlight.Add(n)
	a.batches.Add(1)
	var docs []bson.Raw // encoded once, on the first try, so retries resend the same _ids
	var bad int64
	insert := func(ctx context.Context) error {
		if docs == nil {
			docs, bad = a.encode(batch)
			if len(docs) == 0 {
				return nil
			}
		}
		return insertDocs(ctx, a.store.events, docs, a.cfg.WriteConcern)
	}
	done := func(err error) {
		a.inFlight.Add(-n)
		a.droppedFailed.Add(bad)
		if err != nil {
			a.failedBatches.Add(1)
			a.droppedFailed.Add(n - bad)
			a.log.Warn("analytics batch dropped", "events", n-bad, "err", err)
		} else {
			a.inserted.Add(n - bad)
		}
		<-a.inflight
	}
	// A batch outlives a cancelled Run so that what was sent can land.
	ctx := context.WithoutCancel(runCtx)
	if err := a.store.keeper.Go(ctx, "mongo:insert_events", insert, done); err != nil {
		bad = 0
		done(err)
	}
}

// encode turns events into event documents (the schema is in doc.go). An
// event that does not encode (an Extra value BSON cannot hold) is left out
// and counted in bad.
func (a *Analytics) encode(batch []state.Event) (docs []bson.Raw, bad int64) {
	docs = make([]bson.Raw, 0, len(batch))
	for i := range batch {
		raw, err := bson.Marshal(eventDoc(&batch[i]))
		if err != nil {
			bad++
			a.log.Warn("analytics event does not encode, dropped", "kind", batch[i].Kind, "name", batch[i].Name, "err", err)
			continue
		}
		docs = append(docs, raw)
	}
	return docs, bad
}

// eventDoc is e as an events document; empty optional fields are left out.
func eventDoc(e *state.Event) bson.D {
	d := make(bson.D, 0, 10)
	d = append(d,
		bson.E{Key: "_id", Value: bson.NewObjectID()},
		bson.E{Key: "t", Value: bson.NewDateTimeFromTime(e.Time)},
		bson.E{Key: "player", Value: e.Player},
		bson.E{Key: "kind", Value: e.Kind},
	)
	if e.Name != "" {
		d = append(d, bson.E{Key: "name", Value: e.Name})
	}
	d = append(d, bson.E{Key: "ok", Value: e.OK})
	if e.Code != "" {
		d = append(d, bson.E{Key: "code", Value: e.Code})
	}
	if e.Duration != 0 {
		d = append(d, bson.E{Key: "dur_us", Value: e.Duration.Microseconds()})
	}
	if len(e.Deltas) > 0 {
		d = append(d, bson.E{Key: "deltas", Value: e.Deltas})
	}
	if len(e.Extra) > 0 {
		d = append(d, bson.E{Key: "extra", Value: e.Extra})
	}
	return d
}

// insertDocs inserts docs, each with its _id, into c with unordered insert
// commands of at most maxInsertBytes each. A document already there (an
// earlier try got it in and its reply was lost) is not an error; any other
// refusal is. It runs the insert command itself: InsertMany decodes every
// document again to find the _id it already has, with a 4 KiB reader for
// each (the driver's ensureID), which was half of analytics' CPU at 25,000
// players (BENCHMARKS.md, 2026-12-01 late night).
func insertDocs(ctx context.Context, c *mongo.Collection, docs []bson.Raw, wc *writeconcern.WriteConcern) error {
	return insertChunks(ctx, c, docs, wc, maxInsertBytes)
}

// insertChunks is insertDocs with commands of at most maxBytes of
// documents (but at least one document each) and maxInsertDocs documents.
// Every chunk is sent; the first chunk's error is returned (a retry sends
// them all again: those in are duplicates then).
func insertChunks(ctx context.Context, c *mongo.Collection, docs []bson.Raw, wc *writeconcern.WriteConcern, maxBytes int) error {
	var first error
	for len(docs) > 0 {
		n, size := 0, 0
		for n < len(docs) && n < maxInsertDocs && (n == 0 || size+len(docs[n]) <= maxBytes) {
			size += len(docs[n])
			n++
		}
		cmd := bson.D{{Key: "insert", Value: c.Name()}, {Key: "documents", Value: docs[:n]}, {Key: "ordered", Value: false}}
		if wc != nil {
			w := bson.D{}
			if wc.W != nil {
				w = append(w, bson.E{Key: "w", Value: wc.W})
			}
			if wc.Journal != nil {
				w = append(w, bson.E{Key: "j", Value: *wc.Journal})
			}
			cmd = append(cmd, bson.E{Key: "writeConcern", Value: w})
		}
		if err := c.Database().RunCommand(ctx, cmd).Err(); err != nil && !onlyDuplicates(err) && first == nil {
			first = err
		}
		docs = docs[n:]
	}
	return first
}

// One insert command's documents: well inside the 16 MiB a command may
// hold, and the 100,000 writes of a batch.
const (
	maxInsertBytes = 8 << 20
	maxInsertDocs  = 10_000
)

// onlyDuplicates reports whether err is an insert's write errors and every
// one a duplicate key (11000): the documents are there.
func onlyDuplicates(err error) bool {
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
		return false
	}
	for _, e := range we.WriteErrors {
		if e.Code != 11000 {
			return false
		}
	}
	return true
}
