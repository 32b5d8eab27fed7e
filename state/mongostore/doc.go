// Package mongostore owns the game's MongoDB side: the player index
// (leaderboard, rank, opponent search, raid locks), the durable mailbox and
// the analytics event stream, on mongo-driver v2. It implements
// state.Index, state.Mailbox and state.Analytics; every MongoDB call goes
// through the "mongo" bookkeeper, one op name per kind of call
// (mongo:create_index, mongo:upsert, mongo:top, mongo:rank,
// mongo:opponents, mongo:lock, mongo:unlock, mongo:mail_send,
// mongo:mail_pending, mongo:mail_delete, mongo:insert_events). Retryable is
// that bookkeeper's retry classifier; every operation here is safe to
// repeat.
//
// The same code runs against a MongoDB replica set and against the
// embedded FerretDB of internal/devstores. The queries are written for
// MongoDB's indexes; FerretDB scans, which is fine for development.
//
// # Collections
//
// players, one document per player, _id the player id:
//
//	{_id, town_hall: int, trophies: int, base_value: int64,
//	 shield_until: int64 Unix ms, last_seen: int64 Unix ms,
//	 raid_lock_id: string, raid_lock_until: int64 Unix ms}
//
// Upsert $sets the summary fields only; the raid_lock_* fields belong to
// LockRaid and UnlockRaid (which $unsets them). A shield or lock is in
// force while its until >= now.
//
// mail, one document per message, _id the mail id (the raid id for raids):
//
//	{_id, to, kind, created: int64 Unix ms, body: string (the JSON text)}
//
// # Indexes
//
// Open creates these (an existing one is a no-op; one the server refuses
// is logged and skipped):
//
//	players {trophies: -1, _id: 1}   Top, Rank, Opponents' trophy band
//	players {shield_until: 1}
//	events  {t: 1}                   time ranges
//	events  {player: 1, t: 1}        one player's history
//	events  {kind: 1, name: 1}       "purchases of item X"
//	mail    {to: 1, created: 1}      Pending
//
// # Event schema
//
// The events collection gets one document per state.Event:
//
//	{
//	  _id:    ObjectId,           made by the server before the first try, so a retried batch does not duplicate
//	  t:      Date,               when it happened (ms precision)
//	  player: string,             player id
//	  kind:   string,             login | logout | action | purchase | raid
//	  name:   string,             the action, item or target; absent when empty
//	  ok:     bool,               false when the action was refused
//	  code:   string,             the error code when ok is false; absent when empty
//	  dur_us: int64,              duration in microseconds; absent when 0
//	  deltas: {<resource>: int64} resources gained (+) or spent (-); absent when empty
//	  extra:  {...}               anything else the producer attached; absent when empty
//	}
//
// Daily active players, 1 June 2025 (UTC). FerretDB's $group supports only
// the $sum and $count accumulators, so group by player and count the
// groups, which works on both:
//
//	db.events.aggregate([
//	  {$match: {kind: "login", t: {$gte: ISODate("2025-06-01"), $lt: ISODate("2025-06-02")}}},
//	  {$group: {_id: "$player"}},
//	  {$count: "players"}
//	])
//
// or db.events.distinct("player", {kind: "login", t: {...}}).length.
//
// Purchases by item, most bought first:
//
//	db.events.aggregate([
//	  {$match: {kind: "purchase", ok: true}},
//	  {$group: {_id: "$name", n: {$sum: 1}}},
//	  {$sort: {n: -1}}
//	])
//
// # FerretDB
//
// FerretDB v1 (SQLite) implements an update as read, modify in Go, write
// back the whole document, so two updates of one document can interleave.
// Store serialises its own writes per player id, which makes raid locks
// exclusive and Upsert lock-preserving within one process (the embedded
// setup); across servers the single atomic updateOne on MongoDB does it.
package mongostore
