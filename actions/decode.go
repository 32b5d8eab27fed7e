package actions

import "encoding/json"

// plainBase is Base without its UnmarshalJSON method.
type plainBase Base

// UnmarshalJSON implements json.Unmarshaler. Loading a player decodes a
// Base, so this is on the login path: a hand-written decoder handles the
// canonical encoding (what json.Marshal of a Base writes: known keys, once
// each, plain ASCII strings, integers) about ten times faster than
// encoding/json; on anything else (unknown or repeated keys, escapes, null,
// numbers with fractions, a non-empty destination, invalid JSON) it gives up
// and encoding/json decodes instead. The result is always exactly what
// encoding/json would produce (FuzzBaseUnmarshal checks this).
func (b *Base) UnmarshalJSON(data []byte) error {
	if b.isZero() {
		d := decoder{data: data}
		var nb Base
		if d.base(&nb) && d.end() {
			*b = nb
			return nil
		}
	}
	return json.Unmarshal(data, (*plainBase)(b))
}

func (b *Base) isZero() bool {
	return b.Res == nil && b.Buildings == nil && b.Army == nil && b.Boosts == nil &&
		b.Trophies == 0 && b.ShieldUntil == 0 && b.NextID == 0 && b.GD == ""
}

// decoder reads the canonical subset of JSON; every method reports false
// when the input leaves that subset.
type decoder struct {
	data  []byte
	i     int
	strs  [32]string // recently decoded strings, shared (building types, units)
	nstrs int
}

func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// is consumes c (after whitespace) if it is next.
func (d *decoder) is(c byte) bool {
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) end() bool {
	d.ws()
	return d.i == len(d.data)
}

// raw reads a string of printable ASCII without escapes and returns its
// bytes, aliasing the input.
func (d *decoder) raw() ([]byte, bool) {
	if !d.is('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		if c == '"' {
			d.i++
			return d.data[start : d.i-1], true
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// str reads a string; repeated values share one allocation.
func (d *decoder) str() (string, bool) {
	k, ok := d.raw()
	if !ok {
		return "", false
	}
	for _, s := range d.strs[:d.nstrs] {
		if s == string(k) {
			return s, true
		}
	}
	s := string(k)
	d.strs[d.nstrs%len(d.strs)] = s
	d.nstrs = min(d.nstrs+1, len(d.strs))
	return s, true
}

// uniq reads a string that is not worth sharing (building ids, except
// the common ones).
func (d *decoder) uniq() (string, bool) {
	k, ok := d.raw()
	if len(k) >= 2 && len(k) <= 4 && k[0] == 'b' && k[1] != '0' {
		n := 0
		for _, c := range k[1:] {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n > 0 && n < len(smallIDs) {
			return smallIDs[n], ok
		}
	}
	return string(k), ok
}

// int reads an integer in JSON syntax that fits in an int64; fractions and
// exponents leave the subset.
func (d *decoder) int() (int64, bool) {
	d.ws()
	neg := d.i < len(d.data) && d.data[d.i] == '-'
	if neg {
		d.i++
	}
	if d.i >= len(d.data) {
		return 0, false
	}
	var v uint64
	switch c := d.data[d.i]; {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
			if v > (1<<63)/10 {
				return 0, false
			}
			v = v*10 + uint64(d.data[d.i]-'0')
			d.i++
		}
	default:
		return 0, false
	}
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, false
		}
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

func (d *decoder) intInt() (int, bool) {
	v, ok := d.int()
	return int(v), ok && int64(int(v)) == v
}

// object reads {"key": value, ...}, calling field for each key; field
// returns the key's bit (for duplicate detection; 0 for map entries) and
// whether its value decoded.
func (d *decoder) object(field func(key []byte) (uint32, bool)) bool {
	if !d.is('{') {
		return false
	}
	if d.is('}') {
		return true
	}
	var seen uint32
	for {
		k, ok := d.raw()
		if !ok || !d.is(':') {
			return false
		}
		bit, ok := field(k)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.is(',') {
			continue
		}
		return d.is('}')
	}
}

// array reads [value, ...], calling elem for each.
func (d *decoder) array(elem func() bool) bool {
	if !d.is('[') {
		return false
	}
	if d.is(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.is(',') {
			continue
		}
		return d.is(']')
	}
}

// Each object's decoder below returns, for a key, the key's bit and
// whether its value decoded; the helpers read one value into its field.

// set stores what read decodes in *p and reports whether it decoded.
func set[T any](p *T, read func() (T, bool)) bool {
	v, ok := read()
	*p = v
	return ok
}

// mapOf reads {"key": value, ...} into a new map *m, each value with read.
func mapOf[T any](d *decoder, m *map[string]T, read func() (T, bool)) bool {
	*m = map[string]T{}
	return d.object(func(k []byte) (uint32, bool) {
		v, ok := read()
		(*m)[string(k)] = v
		return 0, ok
	})
}

// sliceOf reads [value, ...] into a new slice *s of capacity n, each
// element with read.
func sliceOf[T any](d *decoder, s *[]T, n int, read func(*T) bool) bool {
	*s = make([]T, 0, n)
	return d.array(func() bool {
		var x T
		*s = append(*s, x)
		return read(&(*s)[len(*s)-1])
	})
}

func (d *decoder) base(b *Base) bool {
	return d.object(func(k []byte) (uint32, bool) {
		switch string(k) {
		case "res":
			return 1 << 0, mapOf(d, &b.Res, d.int)
		case "bld":
			return 1 << 1, sliceOf(d, &b.Buildings, 16, d.building)
		case "army":
			return 1 << 2, mapOf(d, &b.Army, d.intInt)
		case "boosts":
			return 1 << 3, sliceOf(d, &b.Boosts, 0, d.boost)
		case "trophies":
			return 1 << 4, set(&b.Trophies, d.intInt)
		case "shield_until":
			return 1 << 5, set(&b.ShieldUntil, d.int)
		case "next_id":
			return 1 << 6, set(&b.NextID, d.intInt)
		case "gd":
			return 1 << 7, set(&b.GD, d.uniq)
		}
		return 0, false
	})
}

func (d *decoder) boost(x *Boost) bool {
	return d.object(func(k []byte) (uint32, bool) {
		switch string(k) {
		case "res":
			return 1 << 0, set(&x.Res, d.str)
		case "x":
			return 1 << 1, set(&x.Factor, d.int)
		case "until":
			return 1 << 2, set(&x.Until, d.int)
		}
		return 0, false
	})
}

func (d *decoder) building(bl *Building) bool {
	return d.object(func(k []byte) (uint32, bool) {
		switch string(k) {
		case "id":
			return 1 << 0, set(&bl.ID, d.uniq)
		case "t":
			return 1 << 1, set(&bl.Type, d.str)
		case "lv":
			return 1 << 2, set(&bl.Level, d.intInt)
		case "x":
			return 1 << 3, set(&bl.X, d.intInt)
		case "y":
			return 1 << 4, set(&bl.Y, d.intInt)
		case "done":
			return 1 << 5, set(&bl.Done, d.int)
		case "since":
			return 1 << 6, set(&bl.Since, d.int)
		case "stored":
			return 1 << 7, set(&bl.Stored, d.int)
		case "q":
			return 1 << 8, sliceOf(d, &bl.Queue, 0, d.training)
		case "qat":
			return 1 << 9, set(&bl.QAt, d.int)
		}
		return 0, false
	})
}

func (d *decoder) training(q *Training) bool {
	return d.object(func(k []byte) (uint32, bool) {
		switch string(k) {
		case "u":
			return 1 << 0, set(&q.Unit, d.str)
		case "n":
			return 1 << 1, set(&q.N, d.intInt)
		}
		return 0, false
	})
}

// args decodes action arguments (see DecodeArgs).
func (d *decoder) args(a *Args) bool {
	return d.object(func(k []byte) (uint32, bool) {
		switch string(k) {
		case "building_id":
			return 1 << 0, set(&a.BuildingID, d.uniq)
		case "type":
			return 1 << 1, set(&a.Type, d.uniq)
		case "x":
			return 1 << 2, set(&a.X, d.intInt)
		case "y":
			return 1 << 3, set(&a.Y, d.intInt)
		case "unit":
			return 1 << 4, set(&a.Unit, d.uniq)
		case "count":
			return 1 << 5, set(&a.Count, d.intInt)
		case "item":
			return 1 << 6, set(&a.Item, d.uniq)
		case "kind":
			return 1 << 7, set(&a.Kind, d.uniq)
		}
		return 0, false
	})
}
