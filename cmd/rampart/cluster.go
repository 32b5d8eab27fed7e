package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"rampart/bookkeeper"
	"rampart/cluster"
	"rampart/metrics"
	"rampart/profiler"
	"rampart/state"
	"rampart/state/mongostore"
)

// checkCluster refuses a cluster configuration whose servers could not
// share their players: each needs the same S3, the same MongoDB and the
// same session secret (a session signed by one is checked by all).
func (c *serveConfig) checkCluster() error {
	if c.ClusterAddr == "" {
		if c.ClusterSecret != "" || c.ClusterAdvertise != "" {
			return errors.New("--cluster-secret and --cluster-advertise need --cluster-addr")
		}
		return nil
	}
	switch {
	case len(c.ClusterSecret) < cluster.MinSecret:
		return fmt.Errorf("--cluster-addr needs a cluster secret of at least %d characters (RAMPART_CLUSTER_SECRET or --cluster-secret-file)", cluster.MinSecret)
	case c.S3Endpoint == "":
		return errors.New("--cluster-addr: the servers of a cluster share one S3; set --s3-endpoint")
	case c.MongoURI == "" || c.MongoURI == "off":
		return errors.New("--cluster-addr: the servers of a cluster share one MongoDB (membership); set --mongo-uri")
	case c.SessionSecret == "":
		return errors.New("--cluster-addr: every server must check the others' sessions; set the same RAMPART_SESSION_SECRET (or --session-secret-file) on all")
	}
	return nil
}

// clusterDrainGrace is how long a draining cluster server keeps its public
// listener open with /readyz answering 503: two failed checks of the
// committed haproxy config, and a margin.
const clusterDrainGrace = 2500 * time.Millisecond

// grace waits d (the drain's first step in a cluster).
func (c *clusterSide) grace(d time.Duration) {
	c.log.Info("cluster: draining; /readyz is 503, serving on while the balancer notices", "for", d.String())
	time.Sleep(d) // a wall-clock grace for an outside balancer, not a synchronisation
}

// clusterSide is one server's part of a cluster: its membership, its
// calls on the others and its own listener for theirs.
type clusterSide struct {
	ln            net.Listener
	members       *mongostore.Members
	peers         *cluster.Peers
	keeper        *bookkeeper.Keeper // calls on the other servers
	membersKeeper *bookkeeper.Keeper // heartbeats and listings: never behind other MongoDB work
	srv           *http.Server
	stopBeat      context.CancelFunc
	beatDone      chan struct{}
	log           *slog.Logger
}

// startCluster opens the cluster listener, registers this server in the
// membership and starts its heartbeat. The heartbeat outlives the
// drain: it stops only once every player is saved (leave).
func startCluster(ctx context.Context, cfg serveConfig, serverID string, client *mongo.Client, prof *profiler.Profiler, log *slog.Logger) (*clusterSide, error) {
	ln, err := net.Listen("tcp", cfg.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("--cluster-addr: %w", err)
	}
	advertise := cfg.ClusterAdvertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	c := &clusterSide{ln: ln, log: log, beatDone: make(chan struct{})}
	c.membersKeeper = bookkeeper.New(bookkeeper.Config{Name: "members", Concurrency: 2, QueueLimit: 16,
		Timeout: time.Second, MaxTries: 1, Observe: prof.Record, Log: log})
	c.keeper = bookkeeper.New(bookkeeper.Config{Name: "cluster", Concurrency: 256, QueueLimit: 10000,
		Timeout: 5 * time.Second, MaxTries: 3, Retryable: cluster.Retryable, Observe: prof.Record, Log: log})
	c.members = mongostore.NewMembers(client.Database("rampart"), c.membersKeeper,
		mongostore.Member{ID: serverID, Addr: advertise, Started: time.Now().UnixMilli()}, log, nil)
	if err := c.members.Register(ctx); err != nil {
		ln.Close()
		return nil, err
	}
	c.peers = cluster.NewPeers(c.members, serverID, cfg.ClusterSecret, c.keeper, log)
	beat, stop := context.WithCancel(context.Background())
	c.stopBeat = stop
	go func() {
		defer close(c.beatDone)
		c.members.Run(beat)
	}()
	log.Info("cluster member registered", "server_id", serverID, "cluster_addr", advertise, "members", len(c.members.Alive()))
	return c, nil
}

// serve answers the other servers' calls, and their forwarded player
// requests with public.
func (c *clusterSide) serve(store *state.Store, public http.Handler, log *slog.Logger) {
	c.srv = &http.Server{
		Handler:           cluster.Handler(store, c.peers.Secret(), public, log),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("cluster listener stopped", "err", err)
		}
	}()
}

// leave ends this server's membership once its players are saved: the
// heartbeat stops, its document goes (if every save landed: otherwise
// the others wait out DeadAfter and replay its shipped journal), and the
// cluster listener closes.
func (c *clusterSide) leave(ctx context.Context, saved bool) {
	c.stopBeat()
	<-c.beatDone
	if saved {
		if err := c.members.Leave(ctx); err != nil {
			c.log.Warn("cluster: could not leave the membership; the others notice in 10s", "err", err)
		}
	}
	if c.srv != nil {
		if err := c.srv.Shutdown(ctx); err != nil {
			c.srv.Close()
		}
	}
}

// addMetrics exports what crosses between servers.
func (c *clusterSide) addMetrics(m *metrics.Metrics, store *state.Store) {
	cs := func(f func(s state.ClusterCounts) int64) func() float64 {
		return func() float64 { return float64(f(store.ClusterStats())) }
	}
	m.GaugeFunc("rampart_cluster_members", "Servers this one believes alive, itself included.", func() float64 { return float64(len(c.members.Alive())) })
	m.GaugeFunc("rampart_cluster_fenced", "1 while this server has lost its cluster heartbeat (it acknowledges nothing).", func() float64 {
		if c.members.Fenced() {
			return 1
		}
		return 0
	})
	calls := m.CounterVec("rampart_cluster_events_total", "Cluster events by kind.", "kind")
	for kind, f := range map[string]func(s state.ClusterCounts) int64{
		"handoff_asked":   func(s state.ClusterCounts) int64 { return s.HandoffsAsked },
		"handoff_given":   func(s state.ClusterCounts) int64 { return s.HandoffsGiven },
		"takeover_dead":   func(s state.ClusterCounts) int64 { return s.TakeoversDead },
		"defend_remote":   func(s state.ClusterCounts) int64 { return s.DefendsRemote },
		"defend_here":     func(s state.ClusterCounts) int64 { return s.DefendsHere },
		"poke_sent":       func(s state.ClusterCounts) int64 { return s.PokesSent },
		"poke_received":   func(s state.ClusterCounts) int64 { return s.PokesReceived },
		"routed_away":     func(s state.ClusterCounts) int64 { return s.RoutedAway },
		"routed_resumed":  func(s state.ClusterCounts) int64 { return s.RoutedResumed },
		"fenced_refusals": func(s state.ClusterCounts) int64 { return s.FencedRefusals },
	} {
		calls.Func(cs(f), kind)
	}
	ps := c.peers.Stats()
	m.CounterFunc("rampart_cluster_calls_total", "Calls made on other servers (handoff, defend, mail, kick).", func() float64 { return float64(ps.Calls.Load()) })
	m.CounterFunc("rampart_cluster_forwarded_total", "Player requests forwarded to the server that owns the player.", func() float64 { return float64(ps.Forwarded.Load()) })
	m.CounterFunc("rampart_cluster_failed_total", "Calls and forwards to other servers that got no answer.", func() float64 { return float64(ps.Failed.Load()) })
}
