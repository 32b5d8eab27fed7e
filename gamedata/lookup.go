package gamedata

// table is a small read-only open-addressing index from id to entity.
// Actions look building types up by name for every building of a base on
// every action, and this is about twice as fast as a map for short ids:
// the hash reads three bytes instead of the whole string.
type table[T any] struct {
	keys []string
	vals []*T
	mask int
}

func newTable[T any](n int) table[T] {
	size := 8
	for size < 4*n {
		size *= 2
	}
	return table[T]{keys: make([]string, size), vals: make([]*T, size), mask: size - 1}
}

func tableHash(s string) int {
	n := len(s)
	return n*31 + int(s[0])*7 + int(s[n/2])*3 + int(s[n-1])
}

// put adds id; the first entry for an id wins.
func (t *table[T]) put(id string, v *T) {
	if id == "" {
		return
	}
	for h := tableHash(id) & t.mask; ; h = (h + 1) & t.mask {
		switch t.keys[h] {
		case id:
			return
		case "":
			t.keys[h], t.vals[h] = id, v
			return
		}
	}
}

func (t *table[T]) get(id string) *T {
	if id == "" || t.mask == 0 {
		return nil
	}
	for h := tableHash(id) & t.mask; ; h = (h + 1) & t.mask {
		switch t.keys[h] {
		case id:
			return t.vals[h]
		case "":
			return nil
		}
	}
}
