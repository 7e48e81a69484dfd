package analyze

import (
	"context"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// scaleHistory remembers each Deployment's and StatefulSet's spec.replicas and the last change
// of it the Runner saw, since a scale leaves no revision behind. It holds one entry per
// workload that exists, at most max.
type scaleHistory struct {
	mu   sync.Mutex
	max  int
	seen map[types.UID]*scaleRecord
}

type scaleRecord struct {
	replicas int32
	change   *Change
}

func newScaleHistory(max int) *scaleHistory {
	return &scaleHistory{max: max, seen: map[types.UID]*scaleRecord{}}
}

// observe records the replicas of every Deployment and StatefulSet and forgets deleted ones.
func (h *scaleHistory) observe(ctx context.Context, in Input) {
	var deps appsv1.DeploymentList
	var sts appsv1.StatefulSetList
	if in.Reader.List(ctx, &deps) != nil || in.Reader.List(ctx, &sts) != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	live := map[types.UID]bool{}
	note := func(uid types.UID, replicas *int32) {
		live[uid] = true
		n := replicasOf(replicas)
		r, ok := h.seen[uid]
		switch {
		case !ok && len(h.seen) < h.max:
			h.seen[uid] = &scaleRecord{replicas: n}
		case ok && r.replicas != n:
			at := in.now().UTC()
			r.change = &Change{Field: "replicas", From: strconv.Itoa(int(r.replicas)), To: strconv.Itoa(int(n)), At: &at}
			r.replicas = n
		}
	}
	for i := range deps.Items {
		note(deps.Items[i].UID, deps.Items[i].Spec.Replicas)
	}
	for i := range sts.Items {
		note(sts.Items[i].UID, sts.Items[i].Spec.Replicas)
	}
	for uid := range h.seen {
		if !live[uid] {
			delete(h.seen, uid)
		}
	}
}

// lastChange is the last replicas change seen of a workload; none without a history.
func (h *scaleHistory) lastChange(uid types.UID) (Change, bool) {
	if h == nil {
		return Change{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.seen[uid]; r != nil && r.change != nil {
		return *r.change, true
	}
	return Change{}, false
}
