package actions

// Error is a game-rule failure with a stable code (see ACTIONS.md). The
// *Error values Apply returns may be shared: treat them as read-only.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Stable error codes. Clients switch on these; never rename one.
const (
	CodeUnknownAction      = "unknown_action"       // no action by that name
	CodeBadArgs            = "bad_args"             // args missing, malformed or out of range
	CodeNotFound           = "not_found"            // no such building, building type, unit or item
	CodeWrongBuilding      = "wrong_building"       // the building cannot do that (collect from a cannon)
	CodeOutOfBounds        = "out_of_bounds"        // the footprint leaves the grid
	CodeOccupied           = "occupied"             // the footprint overlaps another building
	CodeLimitReached       = "limit_reached"        // as many of that type as the town hall allows
	CodeRequirementNotMet  = "requirement_not_met"  // town hall or prerequisite level too low
	CodeNoFreeBuilder      = "no_free_builder"      // every builder is busy
	CodeNotEnoughResources = "not_enough_resources" // the player cannot pay
	CodeBusy               = "busy"                 // the building is already upgrading or under construction
	CodeNotUpgrading       = "not_upgrading"        // nothing to cancel
	CodeMaxLevel           = "max_level"            // no higher level exists
	CodeNothingToCollect   = "nothing_to_collect"   // the harvester(s) hold nothing
	CodeStorageFull        = "storage_full"         // nothing (or, for purchases, not all) would fit in storage
	CodeHousingFull        = "housing_full"         // army camps cannot house the units
	CodeQueueFull          = "queue_full"           // the trainer's queue has no room
	CodeNothingToSpeedUp   = "nothing_to_speed_up"  // no upgrade or training is running there
	CodeNotInQueue         = "not_in_queue"         // no such unit queued there
	CodeNoArmy             = "no_army"              // attack: no units trained

	// Codes of the sequence rules (API.md) and of the server, not of a rule.
	CodeStaleSeq    = "stale_seq"    // seq older than the remembered window
	CodeOutOfOrder  = "out_of_order" // seq never applied: it arrived after a higher one
	CodeInternal    = "internal"     // a server bug; logged
	CodeUnavailable = "unavailable"  // the service an asynchronous action needs is down; retry later

	// Codes of the asynchronous actions.
	CodeNoOpponent  = "no_opponent"  // no raid target in range, or attack without a fresh offer
	CodeUnderAttack = "under_attack" // the target is being raided, or is live on another server
)

// Codes lists every code Apply can return.
func Codes() []string {
	return []string{CodeUnknownAction, CodeBadArgs, CodeNotFound, CodeWrongBuilding, CodeOutOfBounds,
		CodeOccupied, CodeLimitReached, CodeRequirementNotMet, CodeNoFreeBuilder, CodeNotEnoughResources,
		CodeBusy, CodeNotUpgrading, CodeMaxLevel, CodeNothingToCollect, CodeStorageFull, CodeHousingFull,
		CodeQueueFull, CodeNothingToSpeedUp, CodeNotInQueue, CodeNoArmy}
}

// SeqCodes lists the codes of the sequence rules and the server.
func SeqCodes() []string {
	return []string{CodeStaleSeq, CodeOutOfOrder, CodeInternal, CodeUnavailable}
}

// AsyncCodes lists the codes only the asynchronous actions return.
func AsyncCodes() []string { return []string{CodeNoOpponent, CodeUnderAttack, CodeUnavailable} }

// Shared errors of the server side.
var (
	ErrInternal    = &Error{CodeInternal, "internal error"}
	ErrUnavailable = &Error{CodeUnavailable, "the service this action needs is unavailable; retry later"}
)

// Preallocated errors: failing costs no allocation.
var (
	errUnknownAction     = &Error{CodeUnknownAction, "no such action"}
	errNoBuildingID      = &Error{CodeBadArgs, "building_id is required"}
	errBuildArgs         = &Error{CodeBadArgs, "type, x and y are required"}
	errMoveArgs          = &Error{CodeBadArgs, "building_id, x and y are required"}
	errTrainArgs         = &Error{CodeBadArgs, "building_id and unit are required"}
	errTrainCount        = &Error{CodeBadArgs, "count must be between 1 and the game data's max_train"}
	errCancelCount       = &Error{CodeBadArgs, "count must be positive"}
	errSpeedUpKind       = &Error{CodeBadArgs, `kind must be "upgrade" or "training"`}
	errNoItem            = &Error{CodeBadArgs, "item is required"}
	errNoBuilding        = &Error{CodeNotFound, "no building with that building_id"}
	errNoType            = &Error{CodeNotFound, "no building type with that name"}
	errNoUnit            = &Error{CodeNotFound, "no unit type with that name"}
	errNoStoreItem       = &Error{CodeNotFound, "no store item with that id"}
	errNotHarvester      = &Error{CodeWrongBuilding, "only harvesters can be collected"}
	errNotTrainer        = &Error{CodeWrongBuilding, "this building does not train that unit"}
	errOutOfBounds       = &Error{CodeOutOfBounds, "the building would not fit inside the grid there"}
	errOccupied          = &Error{CodeOccupied, "another building is in the way"}
	errLimit             = &Error{CodeLimitReached, "the town hall allows no more of this building; upgrade it first"}
	errTownHallLevel     = &Error{CodeRequirementNotMet, "needs a higher town hall level"}
	errRequirement       = &Error{CodeRequirementNotMet, "a required building or town hall level is missing"}
	errTrainerLevel      = &Error{CodeRequirementNotMet, "the building's level is too low to train that unit"}
	errNoBuilder         = &Error{CodeNoFreeBuilder, "all builders are busy"}
	errNotEnough         = &Error{CodeNotEnoughResources, "not enough resources"}
	errNotEnoughPremium  = &Error{CodeNotEnoughResources, "not enough premium currency"}
	errBusy              = &Error{CodeBusy, "the building is already being upgraded or built"}
	errNotUpgrading      = &Error{CodeNotUpgrading, "the building is not being upgraded or built"}
	errMaxLevel          = &Error{CodeMaxLevel, "the building is at its highest level"}
	errNothingToCollect  = &Error{CodeNothingToCollect, "nothing to collect yet"}
	errStorageFull       = &Error{CodeStorageFull, "storage is full"}
	errStorageTooSmall   = &Error{CodeStorageFull, "not everything would fit in storage"}
	errHousingFull       = &Error{CodeHousingFull, "army camps cannot house that many more units"}
	errQueueFull         = &Error{CodeQueueFull, "the training queue has no room for that many units"}
	errNothingToSpeedUp  = &Error{CodeNothingToSpeedUp, "nothing is running there"}
	errNothingToPotion   = &Error{CodeNothingToSpeedUp, "nothing is running that this item would speed up"}
	errNotInQueue        = &Error{CodeNotInQueue, "no such unit in the queue"}
	errBoostNotHarvested = &Error{CodeRequirementNotMet, "no harvester produces that resource"}
)

func badArgs(err error) *Error {
	return &Error{Code: CodeBadArgs, Message: "args: " + err.Error()}
}
