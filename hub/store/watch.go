package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// DefaultHistorySize is how many recent events the store keeps for watches by default.
const DefaultHistorySize = 10000

// ErrWatcherClosed is returned by a Watcher's Next after Close.
var ErrWatcherClosed = errors.New("watcher closed")

// history is the bounded ring of recent events that every watcher reads from. There
// is no queue per watcher: a watcher is a cursor (a store index) into the ring, and a
// watcher whose cursor the ring has overwritten has fallen behind and gets
// ErrCompacted. Waiting uses one channel per kind (and one for all kinds), closed and
// replaced whenever an applied entry changes a resource of that kind, so a commit
// wakes only the watchers that may care, and idle watchers cost nothing.
type history struct {
	mu    sync.RWMutex
	buf   []Event // ring of capacity len(buf)
	start int     // ring position of the oldest event
	count int
	// first is the compaction horizon: every event with Index > first is in the ring.
	first uint64
	// last is the store index the history is complete up to.
	last uint64
	// epoch changes on restore; watchers from an older epoch get ErrCompacted.
	epoch uint64
	// wake holds the channel to wait on per kind, "" for any kind.
	wake map[string]chan struct{}
}

func newHistory(size int, index uint64) *history {
	if size <= 0 {
		size = DefaultHistorySize
	}
	h := &history{buf: make([]Event, size), first: index, last: index, wake: map[string]chan struct{}{}}
	h.wake[""] = make(chan struct{})
	for k := range kinds {
		h.wake[k] = make(chan struct{})
	}
	return h
}

func (h *history) at(i int) *Event { return &h.buf[(h.start+i)%len(h.buf)] }

// append records the events of one commit, which brought the store to index.
func (h *history) append(events []Event, index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		if h.count == len(h.buf) {
			h.first = h.buf[h.start].Index
			h.buf[h.start] = Event{}
			h.start = (h.start + 1) % len(h.buf)
			h.count--
		}
		*h.at(h.count) = ev
		h.count++
	}
	if index > h.last {
		h.last = index
	}
	if len(events) == 0 {
		return
	}
	h.signal("")
	var done [4]string // a commit usually touches few kinds
	seen := done[:0]
outer:
	for _, ev := range events {
		for _, k := range seen {
			if k == ev.Resource.Kind {
				continue outer
			}
		}
		seen = append(seen, ev.Resource.Kind)
		h.signal(ev.Resource.Kind)
	}
}

func (h *history) signal(kind string) {
	if ch, ok := h.wake[kind]; ok {
		close(ch)
	}
	h.wake[kind] = make(chan struct{})
}

// reset empties the history after a restore to index and wakes every watcher, which
// then sees the new epoch and gets ErrCompacted.
func (h *history) reset(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.buf {
		h.buf[i] = Event{}
	}
	h.start, h.count, h.first, h.last = 0, 0, index, index
	h.epoch++
	for k := range h.wake {
		h.signal(k)
	}
}

// Watcher delivers the changes to the resources of one kind (or all kinds), optionally
// in one namespace, in store-index order. It is a cursor into the store's bounded
// history and holds no queue of its own. Next must not be called concurrently.
type Watcher struct {
	h        *history
	ctx      context.Context
	kind, ns string
	epoch    uint64
	cursor   uint64
	done     chan struct{}
	once     sync.Once
}

// Watch returns a Watcher of the changes after fromIndex to resources of kind (""
// for every kind) in namespace ns ("" for every namespace): every change with an index
// above fromIndex still in the history, in order, then live changes as they are
// applied. To watch without missing anything, List and then Watch from the index the
// List returned. fromIndex 0 is not special: it asks for every change since the
// start, which only a young store still holds. A fromIndex older than the history —
// or a store restored from a snapshot since — gives ErrCompacted: list again.
//
// The Watcher ends when ctx is done or on Close.
func (s *Store) Watch(ctx context.Context, kind, ns string, fromIndex uint64) (*Watcher, error) {
	if kind != "" {
		ki, ok := LookupKind(kind)
		if !ok {
			return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
		}
		if !ki.Namespaced && ns != "" {
			return nil, fmt.Errorf("%w: %s is cluster-scoped: namespace must be empty, got %q", ErrInvalid, kind, ns)
		}
	}
	h := s.hist
	h.mu.RLock()
	defer h.mu.RUnlock()
	if fromIndex < h.first {
		return nil, fmt.Errorf("%w: changes after index %d are gone; the oldest retained change is after index %d: list again",
			ErrCompacted, fromIndex, h.first)
	}
	return &Watcher{h: h, ctx: ctx, kind: kind, ns: ns, epoch: h.epoch, cursor: fromIndex, done: make(chan struct{})}, nil
}

// Index is the store index the watcher has delivered (or skipped) changes up to: a
// later Watch from it continues where this one stopped.
func (w *Watcher) Index() uint64 { return w.cursor }

// Close ends the watcher; a blocked Next returns ErrWatcherClosed.
func (w *Watcher) Close() { w.once.Do(func() { close(w.done) }) }

// Next blocks until the next change and returns it. It returns ErrCompacted when the
// watcher fell behind the history (it was too slow to keep up) or the store was
// restored from a snapshot, ctx.Err() when the watch context is done, and
// ErrWatcherClosed after Close. After an error the watcher is done.
func (w *Watcher) Next() (Event, error) {
	var one [1]Event
	evs, err := w.next(one[:0], 1)
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// NextBatch blocks until there is at least one change and returns up to max of them
// (all available, in order, when max <= 0), appended to buf. Errors as for Next.
func (w *Watcher) NextBatch(buf []Event, max int) ([]Event, error) {
	return w.next(buf, max)
}

func (w *Watcher) next(buf []Event, max int) ([]Event, error) {
	for {
		select {
		case <-w.done:
			return buf, ErrWatcherClosed
		default:
		}
		if err := w.ctx.Err(); err != nil {
			return buf, err
		}
		n := len(buf)
		ch, err := w.scan(&buf, max)
		if err != nil {
			return buf[:n], err
		}
		if len(buf) > n {
			return buf, nil
		}
		select {
		case <-ch:
		case <-w.ctx.Done():
			return buf, w.ctx.Err()
		case <-w.done:
			return buf, ErrWatcherClosed
		}
	}
}

// scan appends the matching events after the cursor and advances it. With none, it
// returns the channel to wait on, taken under the same lock so no wake-up is lost.
func (w *Watcher) scan(buf *[]Event, max int) (<-chan struct{}, error) {
	h := w.h
	h.mu.RLock()
	defer h.mu.RUnlock()
	if w.epoch != h.epoch {
		return nil, fmt.Errorf("%w: the store was restored from a snapshot: list again", ErrCompacted)
	}
	if w.cursor < h.first {
		return nil, fmt.Errorf("%w: watcher fell behind: it had delivered up to index %d, the oldest retained change is after index %d: list again",
			ErrCompacted, w.cursor, h.first)
	}
	i := sort.Search(h.count, func(i int) bool { return h.at(i).Index > w.cursor })
	got := 0
	for ; i < h.count; i++ {
		ev := h.at(i)
		w.cursor = ev.Index
		if (w.kind == "" || ev.Resource.Kind == w.kind) && (w.ns == "" || ev.Resource.Namespace == w.ns) {
			*buf = append(*buf, *ev)
			got++
			if max > 0 && got >= max {
				return nil, nil
			}
		}
	}
	if h.last > w.cursor {
		w.cursor = h.last
	}
	if got > 0 {
		return nil, nil
	}
	return h.wake[w.kind], nil
}
