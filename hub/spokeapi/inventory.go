package spokeapi

import (
	"encoding/binary"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// MaxInventoryObjects bounds what one cluster may make a member hold.
const MaxInventoryObjects = 500_000

// objectKey is an object's key in an inventory: the lengths of its group, kind and namespace
// as uvarints, then the four strings. The lengths make the key unambiguous whatever the strings
// hold, and let the kind, namespace and name be read back from the key, so that a held object
// needs nothing but its bytes next to it (a member holds thousands of inventories).
func objectKey(r *fleetv1.ObjectRef) string {
	g, k, ns, n := r.GetGroup(), r.GetKind(), r.GetNamespace(), r.GetName()
	var lens [3 * binary.MaxVarintLen64]byte
	l := binary.AppendUvarint(lens[:0], uint64(len(g)))
	l = binary.AppendUvarint(l, uint64(len(k)))
	l = binary.AppendUvarint(l, uint64(len(ns)))
	var b strings.Builder
	b.Grow(len(l) + len(g) + len(k) + len(ns) + len(n)) // exactly: the key is held as long as the object
	b.Write(l)
	b.WriteString(g)
	b.WriteString(k)
	b.WriteString(ns)
	b.WriteString(n)
	return b.String()
}

// keyRef returns the kind, namespace and name of a key objectKey made.
func keyRef(key string) (kind, namespace, name string) {
	var lens [3]int
	i := 0
	for f := range lens {
		var v, shift uint
		for i < len(key) {
			c := key[i]
			i++
			v |= uint(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				break
			}
		}
		lens[f] = int(v)
	}
	rest := key[i+lens[0]:]
	return rest[:lens[1]], rest[lens[1] : lens[1]+lens[2]], rest[lens[1]+lens[2]:]
}

// hold returns an object's key and the bytes a member holds it as: marshaled, since it is read
// far less often than it is replaced, and a decoded object with its maps costs several times
// its wire size.
func hold(o *fleetv1.InventoryObject) (string, []byte, bool) {
	data, err := proto.Marshal(o)
	if err != nil {
		return "", nil, false
	}
	return objectKey(o.GetRef()), data, true
}

// inventory is one cluster's live inventory, as the spoke streamed it.
type inventory struct {
	mu         sync.Mutex
	objects    map[string][]byte
	seq        uint64 // sequence the objects are at
	complete   bool   // a full snapshot arrived and every delta since applied
	observedAt time.Time
	// A snapshot being received in chunks.
	chunkSeq  uint64
	chunkNext uint32
	chunk     map[string][]byte
	// When the stream holding it ended; zero while one does. Soft state of a spoke that went
	// away is dropped after a while.
	orphanedAt time.Time
}

func newInventory() *inventory { return &inventory{objects: map[string][]byte{}} }

// applyChunk adds one snapshot chunk; it reports whether the snapshot is now complete.
// A chunk out of order restarts nothing but is refused, so the caller asks for a resync.
func (inv *inventory) applyChunk(s *fleetv1.InventorySnapshot) (done bool, ok bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if s.GetChunkTotal() == 0 || s.GetChunkIndex() >= s.GetChunkTotal() {
		return false, false
	}
	if s.GetChunkIndex() == 0 {
		inv.chunkSeq, inv.chunkNext, inv.chunk = s.GetSequence(), 0, make(map[string][]byte, len(s.GetObjects()))
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
	for key := range inv.objects {
		kind, _, _ := keyRef(key)
		out[kind]++
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
	type match struct {
		kind, namespace, name string
		data                  []byte
	}
	held := make([]match, 0, len(inv.objects))
	for key, data := range inv.objects {
		kind, ns, name := keyRef(key)
		if (len(want) > 0 && !want[kind]) || (namespace != "" && ns != namespace) {
			continue
		}
		held = append(held, match{kind, ns, name, data})
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
