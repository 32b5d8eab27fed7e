// Package client owns the client side of Rampart's wire contract
// (API.md): signing in, sending game actions over HTTP or a WebSocket
// behind one Session API, resending after lost replies, resuming sockets,
// pushed events and the game data bundle. Bots, tools, the load generator
// and end-to-end tests are written on it.
//
// # Sessions
//
// A Client is made once per server (New) and shared; each sign-in
// (SignInDevice, SignInEmail, SignInTicket, DevLogin, Resume) returns a
// *Session for one player. The transport is chosen per Client with
// WithTransport: HTTP (the default) or WebSocket. Either way
// Session.Do(ctx, actions...) sends one batch and returns one Result per
// action; a rule saying no is a Result with OK false and a Code, not an
// error.
//
// Calls on one Session run one at a time (a call waits for the one in
// flight); many sessions may be driven concurrently from one Client.
//
// # Seqs and resends
//
// The session numbers actions itself: strictly increasing seqs starting
// at the player's last_seq+1 from the sign-in reply (and never below
// what GET /api/v1/player or a resume reports). When a call gets no
// answer (connection reset, EOF, a reply not complete within
// WithRequestTimeout), the same bytes, the same seqs, are sent again, up
// to WithRetries times with doubling, jittered waits (WithBackoff); the
// server answers seqs it had applied with their stored result and
// "duplicate": true, so the actions are applied exactly once. A 429 or
// 503 (nothing was applied) is resent likewise after its Retry-After, if
// that is no longer than WithMaxRetryWait; otherwise the *Error is
// returned with RetryAfter set. Other refusals are returned at once.
//
// Which calls are resent after a lost reply: actions, GETs, sign-ins
// (the second copy finds the account the first made; Created may then
// read false), Link (linking a credential the account has succeeds) and
// logout (a 401 to a resent logout means the first copy worked). Refresh
// is resent only after 429/503: a spent refresh token presented twice
// revokes every token of the account.
//
// When the retries are spent, Do returns an error and the batch's seqs
// stay used: the next batch goes on above them. The seqs that were never
// applied are simply skipped (the server accepts gaps).
//
// # WebSocket
//
// A WebSocket session owns one socket and one reader goroutine, which
// ends when the socket does. When the socket drops, the next call dials
// again, sends {"type":"login","session":...} (a resume; if the server had
// logged the player out meanwhile it signs it in afresh under a new token,
// which the session adopts) and resends the unacknowledged batch with
// its seqs. Nothing reconnects an idle session by itself: call Ping to
// notice a drop and resume. Any doubt about the socket (a timeout, ctx
// ending mid-call) closes it, so a late reply is never taken for the next
// call's.
//
// A "replaced" event means a newer sign-in took the player: the server
// closes the socket and this session's calls return ErrReplaced.
//
// Player, Account, Link and Refresh have no socket message and go over
// HTTP with the same session token.
//
// # Clusters
//
// Once a session knows its player id (from the sign-in reply, or
// KnownPlayer for a returning player's sign-in), every HTTP request
// carries it in PlayerHeader (X-Rampart-Player) and the WebSocket upgrade
// in ?player=, for a load balancer that hashes on the player.
//
// # Events
//
// Session.Events delivers the events the server pushes to a WebSocket
// session (async_result, upgrade_done, training_done, raided, gamedata,
// replaced), in order. The channel is buffered (WithEventBuffer, default
// 16). The reader never blocks on it: an event that finds the buffer full
// is dropped and counted in DroppedEvents, and replies keep flowing (so
// the server never finds this client too slow and cuts it off). A
// consumer that must not miss an async result reads it back from Player,
// which keeps the last 16. The channel is closed by Close (and Logout).
// HTTP sessions have no events (nil channel); their async results are in
// Player. A load generator counting events over thousands of sessions
// sets WithEventFunc instead: each event is handed to one function on the
// reader goroutine, with no channel per session and no allocation.
//
// # Errors
//
// A refusal is an *Error{Status, Code, Message, RetryAfter}; WebSocket
// "error" messages get the HTTP status of their code. errors.Is matches
// the code's sentinel: ErrUnauthorized, ErrBadCredentials, ErrBanned,
// ErrNotFound, ErrPlayerBusy, ErrAlreadyExists, ErrRateLimited,
// ErrUnavailable, ErrBadRequest, .... A failure to get any answer wraps the
// network error. ErrReplaced, ErrClosed and ErrProtocol are this side's.
//
// # Cost
//
// An idle HTTP session is a small struct (about 0.5 KB): no goroutine, no
// connection, no buffer (request and reply bodies are pooled per Client
// and borrowed per call). An idle WebSocket session adds its socket, a
// 1 KiB read buffer, the events buffer and the reader goroutine (about
// 10 KB with its stack); write buffers are pooled. Requests are appended
// by hand and replies scanned without reflection on the paths a load test
// drives (Do, DoAppend, sign-in); Player and Account use encoding/json.
//
// HTTP goes through net/http by default (WithHTTPClient to bring one).
// WithRawHTTP switches the sessions' calls to the package's own
// keep-alive HTTP/1.1 pool, written and read by the calling goroutine:
// about a third of net/http's CPU per call and a sixth of its
// allocations, for load generators (plain http:// only). README.md has
// the figures.
package client
