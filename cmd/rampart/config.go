package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// serveConfig is every setting of `rampart serve`. Each flag --foo-bar has
// the environment variable RAMPART_FOO_BAR; a flag on the command line wins.
type serveConfig struct {
	Addr          string
	DataDir       string
	S3Endpoint    string
	S3Bucket      string
	S3Region      string
	S3AccessKey   string
	S3SecretKey   string
	MongoURI      string
	JournalDir    string
	JournalSync   time.Duration
	Autosave      time.Duration
	IdleTimeout   time.Duration
	LeaseTTL      time.Duration
	DrainTimeout  time.Duration
	SessionSecret string
	AdminToken    string
	GamedataFile  string
	LogFormat     string
	LogLevel      string
	Profiler      bool
	HardLimit     time.Duration
	AlertLoad     float64
	AlertWebhook  string
	GCPercent     int
	S3Concurrency int

	// Accounts, sign-in and budgets.
	SessionSecretFile string
	AdminTokenFile    string
	S3SecretKeyFile   string
	TicketSecret      string
	TicketSecretFile  string
	TicketPublicKey   string
	DevLogin          bool
	RateLimit         float64
	RateBurst         int
	SignInRate        float64
	SignInBurst       int
	TrustedProxies    string
	MaxConnsPerIP     int

	// Cluster.
	ClusterAddr       string
	ClusterAdvertise  string
	ClusterSecret     string
	ClusterSecretFile string
	MaxPlayers        int
	IndexSnapshot     time.Duration
}

// secretFlags may not be given on the command line: a command line is
// world-readable (ps, /proc/<pid>/cmdline, shell history) and served by
// /debug/pprof/cmdline. They come from the environment (RAMPART_…) or
// from their --…-file flag.
var secretFlags = []string{"session-secret", "admin-token", "s3-secret-key", "ticket-secret", "cluster-secret"}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded stores and the generated session secret")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL; empty starts an embedded S3 server on loopback")
	fs.StringVar(&c.S3Bucket, "s3-bucket", "rampart", "S3 bucket holding the players")
	fs.StringVar(&c.S3Region, "s3-region", "us-east-1", "S3 region")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", "", "S3 access key; empty uses the AWS default credential chain")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", "", "S3 secret key (environment only: RAMPART_S3_SECRET_KEY; or --s3-secret-key-file)")
	fs.StringVar(&c.S3SecretKeyFile, "s3-secret-key-file", "", "file holding the S3 secret key")
	fs.StringVar(&c.MongoURI, "mongo-uri", "", `MongoDB URI; empty starts an embedded FerretDB on loopback; "off" runs without MongoDB`)
	fs.StringVar(&c.JournalDir, "journal-dir", "", `action journal (every reply waits for its group commit); empty is <data-dir>/journal; "off" runs without (A/B only: a crash then loses what the last checkpoint lacks)`)
	fs.DurationVar(&c.JournalSync, "journal-sync-interval", 2*time.Millisecond, "under load, start the journal's next fdatasync no sooner than this after the last began, so each gathers more records (less kernel CPU, up to this much more latency a reply); 0: sync as soon as the last ends")
	fs.DurationVar(&c.Autosave, "autosave", 5*time.Minute, "how often changed players are checkpointed to S3 (the journal holds everything since)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 10*time.Minute, "log out (save and unload) a player idle this long")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 0, "player ownership lease; 0 means 4 x autosave, at least 2m")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "on shutdown, how long to wait for requests, saves and async work")
	fs.StringVar(&c.SessionSecret, "session-secret", "", "HMAC key for session and refresh tokens, at least 32 characters (environment only: RAMPART_SESSION_SECRET; or --session-secret-file); empty generates one kept in <data-dir>/session.key")
	fs.StringVar(&c.SessionSecretFile, "session-secret-file", "", "file holding the session secret")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token for /admin/v1/ and for /debug/ from non-loopback clients (environment only: RAMPART_ADMIN_TOKEN; or --admin-token-file); empty: no admin routes")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "file holding the admin token")
	fs.StringVar(&c.TicketSecret, "ticket-secret", "", "HS256 secret of studio tickets, at least 32 bytes (environment only: RAMPART_TICKET_SECRET; or --ticket-secret-file)")
	fs.StringVar(&c.TicketSecretFile, "ticket-secret-file", "", "file holding the ticket secret")
	fs.StringVar(&c.TicketPublicKey, "ticket-public-key", "", "Ed25519 public key of studio tickets (EdDSA): base64 of the 32 bytes, or a PEM file")
	fs.BoolVar(&c.DevLogin, "dev-login", false, "open the development door (POST /api/v1/login with any player_id); refused unless --addr is loopback")
	fs.Float64Var(&c.RateLimit, "rate-limit", 20, "requests plus WebSocket messages per second each player may send")
	fs.IntVar(&c.RateBurst, "rate-burst", 40, "burst of the per-player budget")
	fs.Float64Var(&c.SignInRate, "signin-rate", 5, "sign-ins (and WebSocket logins) per second per client address; 0 for no limit")
	fs.IntVar(&c.SignInBurst, "signin-burst", 50, "burst of the per-address sign-in budget")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For/Forwarded name the client address (per-address budgets); their own connections are not bounded")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 256, "open connections per client address (HTTP and WebSocket); 0 for no bound")
	fs.StringVar(&c.GamedataFile, "gamedata-file", "", "compiled game data bundle to serve (and reload on SIGHUP); empty uses the embedded bundle")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.Profiler, "profiler", true, "record latencies (off only to measure the profiler's own cost)")
	fs.DurationVar(&c.HardLimit, "hard-limit", 200*time.Millisecond, "a request slower than this raises the hard-limit alert")
	fs.Float64Var(&c.AlertLoad, "alert-load", 0.5, "unhalted load (0-1) that, sustained for 10s, raises an alert")
	fs.StringVar(&c.AlertWebhook, "alert-webhook", "", "URL that receives every alert transition as JSON (POST)")
	fs.IntVar(&c.S3Concurrency, "s3-concurrency", 64, "S3 calls on the wire at once (the s3 bookkeeper's limit, and the idle connections kept)")
	fs.IntVar(&c.GCPercent, "gc-percent", 400, "garbage collector target (as GOGC); the GOGC environment variable, if set, wins")
	fs.StringVar(&c.ClusterAddr, "cluster-addr", "", "listener for server-to-server calls (handoff, forwarding, raids); empty runs one server alone. Needs --s3-endpoint, --mongo-uri, a shared --session-secret and --cluster-secret")
	fs.StringVar(&c.ClusterAdvertise, "cluster-advertise", "", "host:port the other servers reach --cluster-addr at; empty is --cluster-addr as bound")
	fs.StringVar(&c.ClusterSecret, "cluster-secret", "", "shared secret of server-to-server calls, at least 32 characters (environment only: RAMPART_CLUSTER_SECRET; or --cluster-secret-file)")
	fs.StringVar(&c.ClusterSecretFile, "cluster-secret-file", "", "file holding the cluster secret")
	fs.IntVar(&c.MaxPlayers, "max-players", 0, "players online on this server at most; past it sign-ins answer 503 and /readyz says full (0: no bound)")
	fs.DurationVar(&c.IndexSnapshot, "index-snapshot", 15*time.Second, "find_opponent, leaderboards and ranks read a copy of the player index held in memory, read again from MongoDB at most this often (0 or less: a MongoDB query each)")
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return "RAMPART_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// refuseSecretFlags fails if a secret flag is on the command line. It is
// checked before applyEnv, which sets the same flags from the environment.
func refuseSecretFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && slices.Contains(secretFlags, f.Name) {
			err = fmt.Errorf("--%s may not be given on the command line (it would show in ps and /debug/pprof/cmdline): set %s or use --%s-file",
				f.Name, envName(f.Name), f.Name)
		}
	})
	return err
}

// readSecretFiles fills each secret from its --…-file flag, if given.
func (c *serveConfig) readSecretFiles() error {
	for _, s := range []struct {
		flag  string
		file  string
		value *string
	}{
		{"session-secret", c.SessionSecretFile, &c.SessionSecret},
		{"admin-token", c.AdminTokenFile, &c.AdminToken},
		{"s3-secret-key", c.S3SecretKeyFile, &c.S3SecretKey},
		{"ticket-secret", c.TicketSecretFile, &c.TicketSecret},
		{"cluster-secret", c.ClusterSecretFile, &c.ClusterSecret},
	} {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			return fmt.Errorf("--%s-file and %s both set: give one", s.flag, envName(s.flag))
		}
		data, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", s.flag, err)
		}
		if *s.value = strings.TrimSpace(string(data)); *s.value == "" {
			return fmt.Errorf("--%s-file %s is empty", s.flag, s.file)
		}
	}
	return nil
}

// trustedProxies parses --trusted-proxies.
func (c *serveConfig) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(c.TrustedProxies, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies %q: %w", part, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ticketPublicKey parses --ticket-public-key: base64 (std or url) of the
// 32 raw bytes, or a PEM file of a PKIX Ed25519 public key.
func (c *serveConfig) ticketPublicKey() (ed25519.PublicKey, error) {
	v := strings.TrimSpace(c.TicketPublicKey)
	if v == "" {
		return nil, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("--ticket-public-key: neither base64 of 32 bytes nor a readable file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("--ticket-public-key %s: no PEM block", v)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("--ticket-public-key %s: %w", v, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("--ticket-public-key %s: not an Ed25519 key", v)
	}
	return pub, nil
}

// applyEnv sets every flag not given on the command line from its
// environment variable.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}
