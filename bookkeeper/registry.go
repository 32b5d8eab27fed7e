package bookkeeper

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Registry holds the process's bookkeepers for the /debug/bookkeepers page,
// the alert rules and shutdown. It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	keepers []*Keeper // in registration order; guarded by mu
}

// NewRegistry returns a registry holding keepers. Like Add it panics on a
// duplicate name: that is a wiring mistake.
func NewRegistry(keepers ...*Keeper) *Registry {
	r := &Registry{}
	for _, k := range keepers {
		r.Add(k)
	}
	return r
}

// Add registers k. It panics if a keeper of the same name is registered.
func (r *Registry) Add(k *Keeper) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.keepers {
		if o.Name() == k.Name() {
			panic(fmt.Sprintf("bookkeeper: duplicate name %q", k.Name()))
		}
	}
	r.keepers = append(r.keepers, k)
}

// Keepers returns the registered keepers in registration order.
func (r *Registry) Keepers() []*Keeper {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Keeper(nil), r.keepers...)
}

// Stats returns every keeper's snapshot in registration order.
func (r *Registry) Stats() []Stats {
	ks := r.Keepers()
	ss := make([]Stats, len(ks))
	for i, k := range ks {
		ss[i] = k.Stats()
	}
	return ss
}

// Rules returns every keeper's alert rules.
func (r *Registry) Rules() []Rule {
	var rules []Rule
	for _, k := range r.Keepers() {
		rules = append(rules, k.Rules()...)
	}
	return rules
}

// WaitIdle drains the keepers one after another, in registration order
// (register the channels that feed others first), all within ctx. When ctx
// ends, each keeper still busy logs its in-flight list, and the error joins
// theirs.
func (r *Registry) WaitIdle(ctx context.Context) error {
	var errs []error
	for _, k := range r.Keepers() {
		if err := k.WaitIdle(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
