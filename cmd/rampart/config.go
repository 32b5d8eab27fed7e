package main

import (
	"flag"
	"fmt"
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
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded stores and the generated session secret")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL; empty starts an embedded S3 server on loopback")
	fs.StringVar(&c.S3Bucket, "s3-bucket", "rampart", "S3 bucket holding the players")
	fs.StringVar(&c.S3Region, "s3-region", "us-east-1", "S3 region")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", "", "S3 access key; empty uses the AWS default credential chain")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", "", "S3 secret key")
	fs.StringVar(&c.MongoURI, "mongo-uri", "", `MongoDB URI; empty starts an embedded FerretDB on loopback; "off" runs without MongoDB`)
	fs.StringVar(&c.JournalDir, "journal-dir", "", `action journal (every reply waits for its group commit); empty is <data-dir>/journal; "off" runs without (A/B only: a crash then loses what the last checkpoint lacks)`)
	fs.DurationVar(&c.Autosave, "autosave", 5*time.Minute, "how often changed players are checkpointed to S3 (the journal holds everything since)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 10*time.Minute, "log out (save and unload) a player idle this long")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 0, "player ownership lease; 0 means 4 x autosave, at least 2m")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "on shutdown, how long to wait for requests, saves and async work")
	fs.StringVar(&c.SessionSecret, "session-secret", "", "HMAC key for session tokens; empty generates one kept in <data-dir>/session.key")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token for /debug routes from non-loopback clients")
	fs.StringVar(&c.GamedataFile, "gamedata-file", "", "compiled game data bundle to serve (and reload on SIGHUP); empty uses the embedded bundle")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.Profiler, "profiler", true, "record latencies (off only to measure the profiler's own cost)")
	fs.DurationVar(&c.HardLimit, "hard-limit", 200*time.Millisecond, "a request slower than this raises the hard-limit alert")
	fs.Float64Var(&c.AlertLoad, "alert-load", 0.5, "unhalted load (0-1) that, sustained for 10s, raises an alert")
	fs.StringVar(&c.AlertWebhook, "alert-webhook", "", "URL that receives every alert transition as JSON (POST)")
	fs.IntVar(&c.GCPercent, "gc-percent", 400, "garbage collector target (as GOGC); the GOGC environment variable, if set, wins")
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return "RAMPART_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
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
