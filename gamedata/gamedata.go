package gamedata

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

//go:embed bundle.json
var embedded []byte

// MaxResources bounds how many resources a bundle may define, so rules can
// keep per-resource totals in fixed arrays instead of maps.
const MaxResources = 8

// Resource kinds.
const (
	// Harvested resources are produced over time by harvesters and capped
	// by storage capacity.
	Harvested = "harvested"
	// Premium is the one premium currency: bought with money, spent on
	// speed-ups and store items, never capped.
	Premium = "premium"
)

// Building kinds. A kind says which rules a building type takes part in;
// the numbers in its levels say how much.
const (
	KindTownHall   = "town_hall"   // exactly one type; gates other levels and counts
	KindBuilderHut = "builder_hut" // each finished hut adds Level.Builders
	KindHarvester  = "harvester"   // produces BuildingType.Resource per hour
	KindStorage    = "storage"     // adds Level.Storage capacity
	KindTrainer    = "trainer"     // trains the units whose TrainedAt names it
	KindArmyCamp   = "army_camp"   // adds Level.Housing for trained units
	KindDefense    = "defense"     // shoots raiders (raids are a later issue)
	KindWall       = "wall"        // blocks raiders
)

// Store item kinds.
const (
	ItemResources = "resources" // Gives resources
	ItemBoost     = "boost"     // multiplies Resource production by Factor for Seconds
	ItemSpeedUp   = "speed_up"  // takes Seconds off every running upgrade ("build") or training queue ("training")
)

// Bundle is one compiled, validated version of the game data. Everything
// reachable from it is read-only: several goroutines and players share it.
type Bundle struct {
	// Version is a hash of the content: it changes iff the content does.
	Version   string         `json:"version"`
	Grid      Grid           `json:"grid"`
	Rules     Rules          `json:"rules"`
	Resources []Resource     `json:"resources"`
	Buildings []BuildingType `json:"buildings"`
	Units     []Unit         `json:"units"`
	Store     []Item         `json:"store"`
	Initial   Initial        `json:"initial"`

	raw      []byte
	gz       []byte
	resIdx   map[string]int
	bldIdx   map[string]*BuildingType
	unitIdx  map[string]*Unit
	bldTab   table[BuildingType]
	unitTab  table[Unit]
	itemIdx  map[string]*Item
	townHall *BuildingType
	premium  int
	files    files // where problems are reported
}

// files names the source of each part of a bundle in problem reports.
type files struct{ game, resources, buildings string }

// Grid is the base's size in tiles; building footprints must fit inside.
type Grid struct {
	W int `json:"w"`
	H int `json:"h"`
}

// Rules are the numbers that are not per building, unit or item.
type Rules struct {
	// CancelRefundPct is the share of an upgrade's cost that cancel_upgrade
	// returns (premium currency is never refunded).
	CancelRefundPct int64 `json:"cancel_refund_pct"`
	// TrainingRefundPct is the share of a queued unit's cost that
	// cancel_training returns.
	TrainingRefundPct int64 `json:"training_refund_pct"`
	// SpeedUp prices finishing work now: premium cost by remaining
	// seconds, interpolated linearly between points and rounded up.
	SpeedUp []SpeedUpPoint `json:"speed_up"`
	// MaxTrain is the most units one train_units action may queue.
	MaxTrain int `json:"max_train"`
}

// SpeedUpPoint is one point of the speed-up price curve.
type SpeedUpPoint struct {
	Seconds int64 `json:"s"`
	Cost    int64 `json:"cost"`
}

// Resource is something a player owns an amount of.
type Resource struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`

	src, at string
}

// BuildingType is one kind of building and its levels.
type BuildingType struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// W and H are the footprint in tiles.
	W int `json:"w"`
	H int `json:"h"`
	// Resource is what a harvester produces.
	Resource string `json:"resource,omitempty"`
	// MaxCount[i] is how many a player may own at town hall level i+1.
	MaxCount []int   `json:"max_count"`
	Levels   []Level `json:"levels"`

	src, at string
	idx     int
	res     int // harvester resource index
}

// Level is one level of a building type. Cost and TimeS are what it takes
// to reach this level from the one below (level 1: to build it).
type Level struct {
	Level int              `json:"level"`
	Cost  map[string]int64 `json:"cost"`
	TimeS int64            `json:"time_s"`
	// TownHall is the town hall level this level needs (0 for the town
	// hall itself).
	TownHall int           `json:"th,omitempty"`
	Requires []Requirement `json:"requires,omitempty"`
	HP       int           `json:"hp"`
	// Storage is the capacity this level adds per resource.
	Storage map[string]int64 `json:"storage,omitempty"`
	// Rate is a harvester's production per hour, Capacity how much it
	// holds before it must be collected.
	Rate     int64 `json:"rate,omitempty"`
	Capacity int64 `json:"capacity,omitempty"`
	// Housing is the army camp space this level adds.
	Housing int `json:"housing,omitempty"`
	// Queue is the housing space a trainer's queue holds.
	Queue int `json:"queue,omitempty"`
	// Builders is how many upgrades this builder hut runs at once.
	Builders int `json:"builders,omitempty"`
	DPS      int `json:"dps,omitempty"`
	Range    int `json:"range,omitempty"`

	cost    []Amount
	storage [MaxResources]int64
	value   int64 // non-premium cost of levels 1..Level
}

// Requirement says another building must have reached Level.
type Requirement struct {
	Building string `json:"building"`
	Level    int    `json:"level"`
}

// Unit is a unit type trained at a trainer building.
type Unit struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// TrainedAt is the trainer building type; Level the trainer level it
	// needs.
	TrainedAt string           `json:"trained_at"`
	Level     int              `json:"level"`
	Housing   int              `json:"housing"`
	TimeS     int64            `json:"time_s"`
	Cost      map[string]int64 `json:"cost"`
	HP        int              `json:"hp"`
	DPS       int              `json:"dps"`

	src, at string
	cost    []Amount
}

// Item is a store item, bought with the premium currency.
type Item struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Price int64  `json:"price"`
	// TownHall is the town hall level needed to buy it.
	TownHall int `json:"th,omitempty"`
	// Gives (kind resources).
	Gives map[string]int64 `json:"gives,omitempty"`
	// Resource and Factor (kind boost): production multiplier.
	Resource string `json:"resource,omitempty"`
	Factor   int64  `json:"factor,omitempty"`
	// Target (kind speed_up): "build" or "training".
	Target string `json:"target,omitempty"`
	// Seconds: boost duration, or time taken off by a speed-up.
	Seconds int64 `json:"seconds,omitempty"`

	src, at string
	gives   []Amount
	res     int
}

// Speed-up targets.
const (
	TargetBuild    = "build"
	TargetTraining = "training"
)

// Initial is a new player's base.
type Initial struct {
	Resources map[string]int64 `json:"resources"`
	Buildings []Placed         `json:"buildings"`
	Trophies  int              `json:"trophies"`
}

// Placed is a building at a position.
type Placed struct {
	Type  string `json:"type"`
	Level int    `json:"level"`
	X     int    `json:"x"`
	Y     int    `json:"y"`
}

// Amount is a quantity of one resource; Res indexes Bundle.Resources.
type Amount struct {
	Res int
	ID  string
	N   int64
}

// Raw is the compiled bundle as served to clients.
func (b *Bundle) Raw() []byte { return b.raw }

// Gzip is Raw gzip-compressed, computed once when the bundle was parsed.
func (b *Bundle) Gzip() []byte { return b.gz }

// Building returns the building type id, or nil.
func (b *Bundle) Building(id string) *BuildingType { return b.bldTab.get(id) }

// Unit returns the unit type id, or nil.
func (b *Bundle) Unit(id string) *Unit { return b.unitTab.get(id) }

// Item returns the store item id, or nil.
func (b *Bundle) Item(id string) *Item { return b.itemIdx[id] }

// ResourceIndex returns the index of resource id in Resources, or -1.
func (b *Bundle) ResourceIndex(id string) int {
	if i, ok := b.resIdx[id]; ok {
		return i
	}
	return -1
}

// TownHall is the town hall building type.
func (b *Bundle) TownHall() *BuildingType { return b.townHall }

// PremiumIndex is the index of the premium currency in Resources.
func (b *Bundle) PremiumIndex() int { return b.premium }

// PremiumID is the premium currency's id.
func (b *Bundle) PremiumID() string { return b.Resources[b.premium].ID }

// SpeedUpCost is the premium cost of finishing remainingMs of work now:
// the Rules.SpeedUp curve, interpolated and rounded up, at least 1 for
// any remaining time.
func (b *Bundle) SpeedUpCost(remainingMs int64) int64 {
	if remainingMs <= 0 {
		return 0
	}
	pts := b.Rules.SpeedUp
	sec := (remainingMs + 999) / 1000
	var c int64
	switch last := pts[len(pts)-1]; {
	case sec >= last.Seconds:
		// Past the curve the price is proportional to time.
		c = ceilDiv(sec*last.Cost, last.Seconds)
	default:
		for i := 1; i < len(pts); i++ {
			if sec <= pts[i].Seconds {
				p, q := pts[i-1], pts[i]
				c = p.Cost + ceilDiv((sec-p.Seconds)*(q.Cost-p.Cost), q.Seconds-p.Seconds)
				break
			}
		}
	}
	return max(c, 1)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// Level returns level l (1-based), or nil when out of range.
func (t *BuildingType) Level(l int) *Level {
	if l < 1 || l > len(t.Levels) {
		return nil
	}
	return &t.Levels[l-1]
}

// MaxLevel is the highest level.
func (t *BuildingType) MaxLevel() int { return len(t.Levels) }

// Count is how many of this type a player may own at town hall level th.
func (t *BuildingType) Count(th int) int {
	if th < 1 || len(t.MaxCount) == 0 {
		return 0
	}
	if th > len(t.MaxCount) {
		th = len(t.MaxCount)
	}
	return t.MaxCount[th-1]
}

// ResourceIndex is a harvester's produced resource index (-1 otherwise).
func (t *BuildingType) ResourceIndex() int { return t.res }

// Costs is Cost indexed by resource, in resource order.
func (l *Level) Costs() []Amount { return l.cost }

// StorageOf is the capacity this level adds for resource index r.
func (l *Level) StorageOf(r int) int64 { return l.storage[r] }

// Value is the non-premium cost of all levels up to this one.
func (l *Level) Value() int64 { return l.value }

// Costs is Cost indexed by resource, in resource order.
func (u *Unit) Costs() []Amount { return u.cost }

// GiveAmounts is Gives indexed by resource, in resource order.
func (it *Item) GiveAmounts() []Amount { return it.gives }

// ResourceIndex is a boost's resource index (-1 otherwise).
func (it *Item) ResourceIndex() int { return it.res }

// Parse decodes and validates a compiled bundle and checks that its version
// matches its content.
func Parse(data []byte) (*Bundle, error) {
	b, err := parse(data, "bundle.json")
	if err != nil {
		return nil, fmt.Errorf("parse game data bundle: %w", err)
	}
	return b, nil
}

func parse(data []byte, name string) (*Bundle, error) {
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, Problems{decodeProblem(name, data, err)}
	}
	if b.Version == "" {
		return nil, Problems{{File: name, Field: "version", Message: "missing"}}
	}
	b.locate(name)
	if ps := validate(&b); len(ps) > 0 {
		return nil, ps
	}
	want, err := contentVersion(&b)
	if err != nil {
		return nil, err
	}
	if b.Version != want {
		return nil, Problems{{File: name, Field: "version", Message: fmt.Sprintf("%s does not match the content (hash %s): the file was edited by hand; rebuild it from src", b.Version, want)}}
	}
	b.bldTab = newTable[BuildingType](len(b.Buildings))
	for i := range b.Buildings {
		b.bldTab.put(b.Buildings[i].ID, &b.Buildings[i])
	}
	b.unitTab = newTable[Unit](len(b.Units))
	for i := range b.Units {
		b.unitTab.put(b.Units[i].ID, &b.Units[i])
	}
	b.raw = data
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(data)
	w.Close()
	b.gz = gz.Bytes()
	return &b, nil
}

// locate records where each entity came from, for problem reports on a
// compiled bundle.
func (b *Bundle) locate(file string) {
	b.files = files{file, file, file}
	for i := range b.Resources {
		b.Resources[i].src, b.Resources[i].at = file, "resources."+b.Resources[i].ID+"."
	}
	for i := range b.Buildings {
		b.Buildings[i].src, b.Buildings[i].at = file, "buildings."+b.Buildings[i].ID+"."
	}
	for i := range b.Units {
		b.Units[i].src, b.Units[i].at = file, "units."+b.Units[i].ID+"."
	}
	for i := range b.Store {
		b.Store[i].src, b.Store[i].at = file, "store."+b.Store[i].ID+"."
	}
}

// contentVersion hashes the canonical encoding of b without its version.
func contentVersion(b *Bundle) (string, error) {
	v := b.Version
	b.Version = ""
	data, err := json.Marshal(b)
	b.Version = v
	if err != nil {
		return "", fmt.Errorf("encode game data: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8]), nil
}

// Embedded returns the bundle compiled into the binary.
func Embedded() (*Bundle, error) { return Parse(embedded) }

// Holder holds the current bundle; Swap replaces it atomically, and callers
// that already hold the old pointer finish on it.
type Holder struct{ p atomic.Pointer[Bundle] }

// NewHolder returns a holder serving b.
func NewHolder(b *Bundle) *Holder {
	h := &Holder{}
	h.p.Store(b)
	return h
}

// Current is the bundle new work starts on.
func (h *Holder) Current() *Bundle { return h.p.Load() }

// Swap installs b and returns the bundle it replaced.
func (h *Holder) Swap(b *Bundle) *Bundle { return h.p.Swap(b) }
