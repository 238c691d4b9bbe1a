package fake

import (
	"net/url"
	"sync"
)

// Recorder counts the calls each endpoint E of a fake receives and keeps
// a copy of the parameters of the last call of each: what a fake's request
// counters and last-request accessors report. The zero value is ready to
// use, and it is safe for concurrent use.
type Recorder[E comparable] struct {
	mu    sync.Mutex
	calls map[E]int
	last  map[E]url.Values
}

// Record counts a call of e and keeps a copy of its params (nil for an
// endpoint whose parameters no test asks about).
func (r *Recorder[E]) Record(e E, params url.Values) {
	params = CloneValues(params)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls, r.last = map[E]int{}, map[E]url.Values{}
	}
	r.calls[e]++
	r.last[e] = params
}

// Count returns how many calls of e have been recorded.
func (r *Recorder[E]) Count(e E) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[e]
}

// Last returns a copy of the parameters of the last call of e, nil before
// the first.
func (r *Recorder[E]) Last(e E) url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return CloneValues(r.last[e])
}
