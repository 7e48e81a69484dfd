package spokeapi

import (
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// MaxInventoryObjects bounds what one cluster may make a member hold.
const MaxInventoryObjects = 500_000

func objectKey(r *fleetv1.ObjectRef) string {
	return r.GetGroup() + "/" + r.GetKind() + "/" + r.GetNamespace() + "/" + r.GetName()
}

// heldObject is one inventory object as a member holds it: marshaled, since it is read far less
// often than it is replaced, and a decoded object with its maps costs several times its wire
// size. kind, namespace and name are slices of the map key, for filtering and sorting.
type heldObject struct {
	kind, namespace, name string
	data                  []byte
}

func hold(o *fleetv1.InventoryObject) (string, heldObject, bool) {
	r := o.GetRef()
	data, err := proto.Marshal(o)
	if err != nil {
		return "", heldObject{}, false
	}
	key := objectKey(r)
	i := len(r.GetGroup()) + 1
	j := i + len(r.GetKind())
	k := j + 1 + len(r.GetNamespace())
	return key, heldObject{kind: key[i:j], namespace: key[j+1 : k], name: key[k+1:], data: data}, true
}

// inventory is one cluster's live inventory, as the spoke streamed it.
type inventory struct {
	mu         sync.Mutex
	objects    map[string]heldObject
	seq        uint64 // sequence the objects are at
	complete   bool   // a full snapshot arrived and every delta since applied
	observedAt time.Time
	// A snapshot being received in chunks.
	chunkSeq  uint64
	chunkNext uint32
	chunk     map[string]heldObject
	// When the stream holding it ended; zero while one does. Soft state of a spoke that went
	// away is dropped after a while.
	orphanedAt time.Time
}

func newInventory() *inventory { return &inventory{objects: map[string]heldObject{}} }

// applyChunk adds one snapshot chunk; it reports whether the snapshot is now complete.
// A chunk out of order restarts nothing but is refused, so the caller asks for a resync.
func (inv *inventory) applyChunk(s *fleetv1.InventorySnapshot) (done bool, ok bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if s.GetChunkTotal() == 0 || s.GetChunkIndex() >= s.GetChunkTotal() {
		return false, false
	}
	if s.GetChunkIndex() == 0 {
		inv.chunkSeq, inv.chunkNext, inv.chunk = s.GetSequence(), 0, map[string]heldObject{}
	}
	if inv.chunk == nil || s.GetSequence() != inv.chunkSeq || s.GetChunkIndex() != inv.chunkNext {
		inv.chunk = nil
		return false, false
	}
	for _, o := range s.GetObjects() {
		if o.GetRef() == nil {
			continue
		}
		if key, h, ok := hold(o); ok {
			inv.chunk[key] = h
		}
	}
	if len(inv.chunk) > MaxInventoryObjects {
		inv.chunk = nil
		return false, false
	}
	inv.chunkNext++
	if inv.chunkNext < s.GetChunkTotal() {
		return false, true
	}
	inv.objects, inv.seq, inv.complete, inv.chunk = inv.chunk, s.GetSequence(), true, nil
	inv.observedAt = s.GetObservedAt().AsTime()
	return true, true
}

// applyDelta applies the next delta; false when it does not follow (a gap, or no snapshot yet).
func (inv *inventory) applyDelta(d *fleetv1.InventoryDelta) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !inv.complete || d.GetSequence() != inv.seq+1 {
		inv.complete = false
		return false
	}
	for _, c := range d.GetChanges() {
		o := c.GetObject()
		if o.GetRef() == nil {
			continue
		}
		switch c.GetType() {
		case fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_UPSERT:
			if key, h, ok := hold(o); ok {
				inv.objects[key] = h
			}
		case fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_DELETE:
			delete(inv.objects, objectKey(o.GetRef()))
		}
	}
	if len(inv.objects) > MaxInventoryObjects {
		inv.complete = false
		return false
	}
	inv.seq = d.GetSequence()
	if d.GetObservedAt() != nil {
		inv.observedAt = d.GetObservedAt().AsTime()
	}
	return true
}

// counts is the number of objects per kind.
func (inv *inventory) counts() (map[string]int64, uint64, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !inv.complete {
		return nil, inv.seq, false
	}
	out := map[string]int64{}
	for _, o := range inv.objects {
		out[o.kind]++
	}
	return out, inv.seq, true
}

// state says where the inventory stands, for resuming a stream.
func (inv *inventory) state() (seq uint64, complete bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.seq, inv.complete
}

// query returns the objects, filtered and sorted.
func (inv *inventory) query(kinds []string, namespace string) ([]*fleetv1.InventoryObject, uint64, time.Time, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !inv.complete {
		return nil, inv.seq, inv.observedAt, false
	}
	want := map[string]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	held := make([]heldObject, 0, len(inv.objects))
	for _, o := range inv.objects {
		if (len(want) > 0 && !want[o.kind]) || (namespace != "" && o.namespace != namespace) {
			continue
		}
		held = append(held, o)
	}
	sort.Slice(held, func(i, j int) bool {
		a, b := held[i], held[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	out := make([]*fleetv1.InventoryObject, 0, len(held))
	for _, h := range held {
		o := &fleetv1.InventoryObject{}
		if proto.Unmarshal(h.data, o) == nil {
			out = append(out, o)
		}
	}
	return out, inv.seq, inv.observedAt, true
}
