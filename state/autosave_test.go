package state_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"rampart/bookkeeper"
	"rampart/gamedata"
	"rampart/internal/testenv"
	testclock "rampart/internal/testenv/clock"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/s3store"
)

// signalBlobs tells saved about every Put of key once it has landed.
type signalBlobs struct {
	state.Blobs
	key   string
	saved chan struct{}
}

func (b *signalBlobs) Put(ctx context.Context, key string, data []byte, cond state.Cond) (string, error) {
	etag, err := b.Blobs.Put(ctx, key, data, cond)
	if key == b.key && err == nil {
		select {
		case b.saved <- struct{}{}:
		default:
		}
	}
	return etag, err
}

// TestRunAutosaves runs the autosave loop itself: Store.Run on its real
// ticker (min(1 s, Autosave), here 20 ms) and the test clock. Nothing is
// saved while no player is due; once the clock passes the autosave
// interval a changed player is checkpointed to S3, lease renewed, without
// anyone calling Sweep; and Run returns when its context ends.
func TestRunAutosaves(t *testing.T) {
	s3 := testenv.EmbeddedS3(t)
	s3b := s3store.New(s3store.Config{Endpoint: s3.Endpoint, Region: "us-east-1", Bucket: "rampart",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, aws.Config{})
	if err := s3b.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	blobs := &signalBlobs{Blobs: s3b, key: state.Key("hana"), saved: make(chan struct{}, 1)}
	clk := testclock.New(testclock.Default)
	gd, err := gamedata.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	keeper := bookkeeper.New(bookkeeper.Config{Name: "s3", Concurrency: 4, QueueLimit: 100,
		Timeout: 5 * time.Second, MaxTries: 2, Retryable: s3store.Retryable})
	const lease = 2 * time.Minute
	s := state.NewStore(state.Config{ServerID: "run", Autosave: 20 * time.Millisecond, IdleTimeout: time.Hour,
		LeaseTTL: lease, Now: clk.Now},
		state.Deps{Blobs: blobs, S3: keeper, GameData: gamedata.NewHolder(gd), Accounts: state.DevAccounts(t, blobs, clk.Now),
			Profiler: profiler.New(), Log: testenv.Discard})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() {
		cancel()
		testenv.Receive(t, done, 10*time.Second, "Run did not return after its context ended")
	}()

	res, err := s.DevLogin(ctx, "hana")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Authenticate(res.Session)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-blobs.saved: // the login's lease write, landed before DevLogin returned
	default:
		t.Fatal("the login wrote no lease to S3")
	}
	if r, _, err := s.Apply(sess, []state.Action{{Seq: 1, Name: "ping", Args: json.RawMessage(`{}`)}}); err != nil || !r[0].OK {
		t.Fatalf("ping: %+v %v", r, err)
	}
	// The clock has not moved: hana is not due, however often Run ticks.
	if p := stored(t, s3b, "hana"); p.LastSeq != 0 {
		t.Fatalf("stored last_seq %d before the autosave interval passed, want 0", p.LastSeq)
	}

	clk.Advance(time.Second) // past the 20 ms autosave interval
	testenv.Receive(t, blobs.saved, 10*time.Second, "no autosave of hana after she came due: Run is not sweeping")
	p := stored(t, s3b, "hana")
	if want := clk.Now().Add(lease).UnixMilli(); p.LastSeq != 1 || p.Lease.Owner != "run" || p.Lease.Until != want {
		t.Errorf("after the autosave: last_seq %d, lease %+v; want 1 and run's until %d", p.LastSeq, p.Lease, want)
	}
	if info := s.Players(0); len(info) != 1 || info[0].Unsaved {
		t.Errorf("online after the autosave: %+v, want hana, saved", info)
	}
}

// stored reads id's player document from S3.
func stored(t *testing.T, b state.Blobs, id string) state.Player {
	t.Helper()
	data, _, err := b.Get(context.Background(), state.Key(id))
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	var p state.Player
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("decode %s: %v", id, err)
	}
	return p
}
