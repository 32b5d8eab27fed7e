package actions

import "rampart/gamedata"

// BaseSummary is what others see of a base: for raid matchmaking,
// leaderboards and the debug pages.
type BaseSummary struct {
	TownHall    int   `json:"th"`
	Trophies    int   `json:"trophies"`
	ShieldUntil int64 `json:"shield_until,omitempty"`
	Buildings   int   `json:"buildings"`
	Builders    int   `json:"builders"`
	Busy        int   `json:"busy"`    // builders at work
	Housing     int   `json:"housing"` // army camp space
	Army        int   `json:"army"`    // space taken by trained and queued units
	// Value is the non-premium resources invested in finished building
	// levels: a rough measure of progress.
	Value int64 `json:"value"`
}

// Summary describes b under gd without changing it.
func Summary(b *Base, gd *gamedata.Bundle) BaseSummary {
	t := scan(b, gd)
	s := BaseSummary{
		TownHall:    t.th,
		Trophies:    b.Trophies,
		ShieldUntil: b.ShieldUntil,
		Buildings:   len(b.Buildings),
		Builders:    t.builders,
		Busy:        t.busy,
		Housing:     t.housing,
		Army:        housingUsed(b, gd),
	}
	for i := range b.Buildings {
		bl := &b.Buildings[i]
		if bt := gd.Building(bl.Type); bt != nil {
			if lv := bt.Level(bl.Level); lv != nil {
				s.Value += lv.Value()
			}
		}
	}
	return s
}
