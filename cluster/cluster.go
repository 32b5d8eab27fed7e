// Package cluster is the server-to-server protocol of a Rampart cluster:
// the calls one server makes on another (Peers: hand a player over, settle
// a raid's defense, announce mail, kick a revoked session, forward a
// player's request to its owner) and the routes that answer them
// (Handler), on each server's own cluster listener (--cluster-addr),
// authenticated with the shared --cluster-secret.
//
// Who is alive and where it listens is the membership's business
// (Directory; state/mongostore.Members keeps it in MongoDB). Which server
// owns a player is the lease in the player's S3 object (package state).
package cluster

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"rampart/actions"
	"rampart/bookkeeper"
	"rampart/state"
)

// Headers of server-to-server requests.
const (
	// SecretHeader carries the cluster secret on every call.
	SecretHeader = "X-Rampart-Cluster"
	// FromHeader names the calling server (logs and counters).
	FromHeader = "X-Rampart-From"
)

// Routes of the cluster listener; any other path is a player's request
// forwarded from another server, served by the public API.
const (
	PathHandoff = "/cluster/v1/handoff"
	PathDefend  = "/cluster/v1/defend"
	PathMail    = "/cluster/v1/mail"
	PathKick    = "/cluster/v1/kick"
)

// MinSecret is the shortest cluster secret accepted.
const MinSecret = 32

// Directory is the membership: who is alive, where it listens.
type Directory interface {
	Liveness(ctx context.Context, server string) state.Liveness
	Fenced() bool
	Addr(ctx context.Context, server string) string
}

var _ state.Cluster = (*Peers)(nil)

// Peers makes this server's calls on the others. Every call goes through
// keeper (its own bookkeeper, "cluster"): handoff, defend, mail and kick
// are idempotent and retried by it; a forwarded request is tried once
// (its body is the client's, streamed).
type Peers struct {
	dir    Directory
	self   string
	secret string
	keeper *bookkeeper.Keeper
	hc     *http.Client
	log    *slog.Logger
	proxy  *httputil.ReverseProxy

	counts Counts
}

// Counts are what this server sent to the others.
type Counts struct {
	Calls     atomic.Int64 // handoff, defend, mail and kick calls made
	Forwarded atomic.Int64 // player requests forwarded to their owner
	Failed    atomic.Int64 // calls and forwards that got no answer
}

// NewPeers returns the caller side for server self. keeper should not
// retry by itself what Retryable refuses (pass Retryable as its
// Retryable).
func NewPeers(dir Directory, self, secret string, keeper *bookkeeper.Keeper, log *slog.Logger) *Peers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// A forwarded request is bounded like the server's own (its
		// WriteTimeout); a hung owner answers 503 here, not never.
		ResponseHeaderTimeout: 30 * time.Second,
	}
	p := &Peers{dir: dir, self: self, secret: secret, keeper: keeper, hc: &http.Client{Transport: tr}, log: log}
	p.proxy = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(SecretHeader, p.secret)
			pr.Out.Header.Set(FromHeader, p.self)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.counts.Failed.Add(1)
			p.log.Warn("forward to the player's server failed", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"the player's server did not answer; retry"}}`)
		},
	}
	return p
}

// Secret is the cluster secret (for this server's own Handler).
func (p *Peers) Secret() string { return p.secret }

// Stats returns the counters.
func (p *Peers) Stats() *Counts { return &p.counts }

// Liveness implements state.Cluster.
func (p *Peers) Liveness(ctx context.Context, server string) state.Liveness {
	return p.dir.Liveness(ctx, server)
}

// Fenced implements state.Cluster.
func (p *Peers) Fenced() bool { return p.dir.Fenced() }

// Handoff implements state.Cluster.
func (p *Peers) Handoff(ctx context.Context, server, player string) (bool, error) {
	var out struct {
		Held bool `json:"held"`
	}
	err := p.call(ctx, server, PathHandoff, playerBody{Player: player}, &out)
	return out.Held, err
}

// Defend implements state.Cluster. A rule failure there (the defender
// has a shield, is under attack) comes back as the same *actions.Error.
func (p *Peers) Defend(ctx context.Context, server string, req *actions.RaidRequest) (actions.RaidResult, error) {
	var out actions.RaidResult
	err := p.call(ctx, server, PathDefend, req, &out)
	return out, err
}

// Poke implements state.Cluster.
func (p *Peers) Poke(ctx context.Context, server, player string) error {
	return p.call(ctx, server, PathMail, playerBody{Player: player}, nil)
}

// Kick asks server to sign player out if its session is older than gen
// (a ban or a revocation on this server).
func (p *Peers) Kick(ctx context.Context, server, player string, gen uint64) error {
	return p.call(ctx, server, PathKick, kickBody{Player: player, Gen: gen}, nil)
}

type playerBody struct {
	Player string `json:"player"`
}

type kickBody struct {
	Player string `json:"player"`
	Gen    uint64 `json:"gen"`
}

// errorReply is a failed call's body (the public API's error shape).
type errorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// StatusError is a call answered with a failure status.
type StatusError struct {
	Status  int
	Code    string
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cluster call: %d %s: %s", e.Status, e.Code, e.Message)
}

// Retryable says whether a failed call may be tried again: it got no
// answer, or its server was briefly unable (503). A rule failure or a
// refusal is final.
func Retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusServiceUnavailable
	}
	var ae *actions.Error
	return !errors.As(err, &ae) && !errors.Is(err, context.Canceled) && !errors.Is(err, errUnknownServer)
}

var errUnknownServer = errors.New("no address for server")

// call POSTs body to server's path and decodes its answer into out.
func (p *Peers) call(ctx context.Context, server, path string, body, out any) error {
	addr := p.dir.Addr(ctx, server)
	if addr == "" {
		return fmt.Errorf("cluster call %s on %s: %w: %w", path, server, state.ErrUnavailable, errUnknownServer)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	p.counts.Calls.Add(1)
	err = p.keeper.Do(ctx, "cluster:"+path[len("/cluster/v1/"):], func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(data))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SecretHeader, p.secret)
		req.Header.Set(FromHeader, p.self)
		resp, err := p.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			var er errorReply
			json.Unmarshal(reply, &er)
			if resp.StatusCode == http.StatusUnprocessableEntity {
				return &actions.Error{Code: er.Error.Code, Message: er.Error.Message}
			}
			return &StatusError{Status: resp.StatusCode, Code: er.Error.Code, Message: er.Error.Message}
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(reply, out)
	})
	if err != nil {
		var ae *actions.Error
		if !errors.As(err, &ae) {
			p.counts.Failed.Add(1)
			return fmt.Errorf("cluster call %s on %s: %w: %w", path, server, state.ErrUnavailable, err)
		}
	}
	return err
}

type targetKey struct{}

// Forward serves r at server, the owner of its player: the answer is the
// owner's, streamed back. A server without an address, or one that does
// not answer, is a 503 the client retries.
func (p *Peers) Forward(w http.ResponseWriter, r *http.Request, server string) {
	addr := p.dir.Addr(r.Context(), server)
	if addr == "" {
		p.proxy.ErrorHandler(w, r, fmt.Errorf("forward to %s: %w", server, errUnknownServer))
		return
	}
	p.counts.Forwarded.Add(1)
	target := &url.URL{Scheme: "http", Host: addr}
	// Tried once, never retried: the client's body is streamed through.
	p.keeper.Do(r.Context(), "cluster:forward", func(context.Context) error { //nolint:errcheck // the proxy answers
		p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
		return nil
	})
}

// Local is what the cluster routes do on this server (state.Store).
type Local interface {
	Handoff(ctx context.Context, player string) (held bool, err error)
	DefendHere(ctx context.Context, req *actions.RaidRequest) (actions.RaidResult, error)
	PokeMail(player string)
	Kick(ctx context.Context, player string, gen uint64) error
}

type hopKey struct{}

// IsHop reports whether r came from another server (it reached this one
// through the cluster listener): it is served here or refused, never
// forwarded again.
func IsHop(r *http.Request) bool {
	v, _ := r.Context().Value(hopKey{}).(bool)
	return v
}

// Handler serves the cluster listener: the calls above, and every other
// path as a forwarded player request handed to public (marked IsHop).
// Everything needs the cluster secret.
func Handler(local Local, secret string, public http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathHandoff, func(w http.ResponseWriter, r *http.Request) {
		var b playerBody
		if !decode(w, r, &b) {
			return
		}
		held, err := local.Handoff(r.Context(), b.Player)
		if err != nil {
			log.Warn("handoff asked and failed", "player", b.Player, "from", r.Header.Get(FromHeader), "err", err)
			fail(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		reply(w, struct {
			Held bool `json:"held"`
		}{held})
	})
	mux.HandleFunc("POST "+PathDefend, func(w http.ResponseWriter, r *http.Request) {
		var req actions.RaidRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := local.DefendHere(r.Context(), &req)
		var ae *actions.Error
		switch {
		case errors.As(err, &ae):
			fail(w, http.StatusUnprocessableEntity, ae.Code, ae.Message)
		case err != nil:
			fail(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		default:
			reply(w, res)
		}
	})
	mux.HandleFunc("POST "+PathMail, func(w http.ResponseWriter, r *http.Request) {
		var b playerBody
		if !decode(w, r, &b) {
			return
		}
		local.PokeMail(b.Player)
		reply(w, struct{}{})
	})
	mux.HandleFunc("POST "+PathKick, func(w http.ResponseWriter, r *http.Request) {
		var b kickBody
		if !decode(w, r, &b) {
			return
		}
		if err := local.Kick(r.Context(), b.Player, b.Gen); err != nil {
			fail(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		reply(w, struct{}{})
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		public.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hopKey{}, true)))
	}))
	want := []byte(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), want) != 1 {
			fail(w, http.StatusUnauthorized, "unauthorized", "cluster secret missing or wrong")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", err.Error())
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	var b errorReply
	b.Error.Code, b.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(&b)
}
