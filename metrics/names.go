package metrics

// Names of the series the wiring (cmd/rampart) registers with CounterFunc,
// GaugeFunc and the Vecs, which deploy/grafana's dashboard and the tests
// use. Label sets are in the comments; every value set is fixed.
const (
	PlayersOnline    = "rampart_players_online"    // gauge: players in memory
	PlayersConnected = "rampart_players_connected" // gauge: with an open WebSocket
	PlayersLoading   = "rampart_players_loading"   // gauge: sign-ins loading from S3 now

	SignInsTotal       = "rampart_signins_total"        // counter {kind, result}: kind password|token|refresh|guest, result ok|bad_credentials|locked|banned|error
	RateLimitedTotal   = "rampart_rate_limited_total"   // counter {scope}: scope player|address
	SavesTotal         = "rampart_saves_total"          // counter: checkpoints written to S3
	SaveErrorsTotal    = "rampart_save_errors_total"    // counter
	LostOwnershipTotal = "rampart_lost_ownership_total" // counter: a save refused because another server owns the player

	JournalAppendsTotal = "rampart_journal_appends_total" // counter: records appended
	JournalSyncsTotal   = "rampart_journal_syncs_total"   // counter: group commits (fsyncs)
	JournalBytes        = "rampart_journal_bytes"         // gauge: bytes in live segments

	WSSlowClosedTotal = "rampart_ws_slow_closed_total" // counter: sockets closed because their send queue was full
	WSReplacedTotal   = "rampart_ws_replaced_total"    // counter: sockets replaced by the same player's new one
	WSOpen            = "rampart_ws_open"              // gauge
)
