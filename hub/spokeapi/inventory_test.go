package spokeapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func obj(kind, ns, name, rv string) *fleetv1.InventoryObject {
	return &fleetv1.InventoryObject{Ref: &fleetv1.ObjectRef{Kind: kind, Namespace: ns, Name: name, ResourceVersion: rv}}
}

func upsert(o *fleetv1.InventoryObject) *fleetv1.InventoryChange {
	return &fleetv1.InventoryChange{Type: fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_UPSERT, Object: o}
}

func TestInventorySnapshotsAndDeltas(t *testing.T) {
	inv := newInventory()
	assert.False(t, inv.applyDelta(&fleetv1.InventoryDelta{Sequence: 1}), "no delta before a snapshot")

	done, ok := inv.applyChunk(&fleetv1.InventorySnapshot{Sequence: 5, ChunkIndex: 0, ChunkTotal: 2, Objects: []*fleetv1.InventoryObject{obj("Pod", "a", "p1", "1")}})
	require.True(t, ok)
	assert.False(t, done)
	_, ok = inv.applyChunk(&fleetv1.InventorySnapshot{Sequence: 6, ChunkIndex: 1, ChunkTotal: 2})
	assert.False(t, ok, "a chunk of another snapshot")
	_, ok = inv.applyChunk(&fleetv1.InventorySnapshot{Sequence: 5, ChunkIndex: 0, ChunkTotal: 2, Objects: []*fleetv1.InventoryObject{obj("Pod", "a", "p1", "1")}})
	require.True(t, ok, "the snapshot starts over")
	done, ok = inv.applyChunk(&fleetv1.InventorySnapshot{Sequence: 5, ChunkIndex: 1, ChunkTotal: 2, Objects: []*fleetv1.InventoryObject{obj("Node", "", "n1", "1")}})
	require.True(t, ok)
	require.True(t, done)
	seq, complete := inv.state()
	assert.Equal(t, uint64(5), seq)
	assert.True(t, complete)

	require.True(t, inv.applyDelta(&fleetv1.InventoryDelta{Sequence: 6, Changes: []*fleetv1.InventoryChange{
		upsert(obj("Pod", "a", "p1", "2")), upsert(obj("Pod", "b", "p2", "1")),
		{Type: fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_DELETE, Object: obj("Node", "", "n1", "")},
	}}))
	objs, seq, _, ok := inv.query(nil, "")
	require.True(t, ok)
	assert.Equal(t, uint64(6), seq)
	require.Len(t, objs, 2)
	assert.Equal(t, "2", objs[0].GetRef().GetResourceVersion(), "sorted by kind, namespace, name; the upsert replaced p1")
	objs, _, _, _ = inv.query([]string{"Pod"}, "b")
	require.Len(t, objs, 1)
	assert.Equal(t, "p2", objs[0].GetRef().GetName())
	counts, _, _ := inv.counts()
	assert.Equal(t, map[string]int64{"Pod": 2}, counts)

	// A gap: the inventory is no longer complete until the next snapshot.
	assert.False(t, inv.applyDelta(&fleetv1.InventoryDelta{Sequence: 8}))
	_, complete = inv.state()
	assert.False(t, complete)
	_, _, _, ok = inv.query(nil, "")
	assert.False(t, ok)
}

func TestObjectKeysAreUnambiguous(t *testing.T) {
	for _, ref := range []*fleetv1.ObjectRef{
		{Group: "apps", Kind: "Deployment", Namespace: "default", Name: "web"},
		{Kind: "Node", Name: "n1"},
		{Group: "a/b", Kind: "K", Namespace: "n", Name: "x"},
		{Group: "a", Kind: "b/K", Namespace: "n", Name: "x"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:controller:a/b"},
		{Kind: string(make([]byte, 300)), Namespace: "ns", Name: "long-kind"},
		{},
	} {
		kind, ns, name := keyRef(objectKey(ref))
		assert.Equal(t, []string{ref.GetKind(), ref.GetNamespace(), ref.GetName()}, []string{kind, ns, name}, "%v", ref)
	}
	assert.NotEqual(t, objectKey(&fleetv1.ObjectRef{Group: "a/b", Kind: "c"}), objectKey(&fleetv1.ObjectRef{Group: "a", Kind: "b/c"}))
	assert.NotEqual(t, objectKey(&fleetv1.ObjectRef{Kind: "Pod", Namespace: "a", Name: "b"}), objectKey(&fleetv1.ObjectRef{Kind: "Pod", Namespace: "", Name: "ab"}))
}
