package spokeapi

import (
	"context"
	"errors"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Condition reasons, as OCM's registration controllers write them.
const (
	ReasonJoined           = "ManagedClusterJoined"
	ReasonAvailable        = "ManagedClusterAvailable"
	ReasonLeaseStopped     = "ManagedClusterLeaseUpdateStopped"
	minTick, maxTick       = 100 * time.Millisecond, 15 * time.Second
	shutdownRetryAfterHint = 2 * time.Second
	kickDelay              = 50 * time.Millisecond
)

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// tick is how often the member reconciles its streams' durable state.
func (s *Server) tick() time.Duration { return min(max(s.lease/4, minTick), maxTick) }

// Run does the member's background work for its streams until ctx ends: lease renewals and
// conditions, closing the streams of clusters that were denied or whose certificate was
// revoked, and dropping soft state of spokes that went away. On the way out it tells every
// spoke to reconnect elsewhere.
func (s *Server) Run(ctx context.Context) {
	go s.watchRevocations(ctx)
	t := time.NewTicker(s.tick())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, st := range s.snapshotStreams() {
				st.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_SHUTTING_DOWN, "hub member "+s.node.ID()+" is shutting down", shutdownRetryAfterHint)
			}
			return
		case <-t.C:
		case <-s.kick:
			// A stream just opened: record it soon, gathering the streams that open meanwhile
			// into the same proposal.
			if !sleepCtx(ctx, kickDelay) {
				continue
			}
		}
		s.reconcile(ctx)
	}
}

func (s *Server) snapshotStreams() []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st)
	}
	return out
}

// reconcile writes, in one proposal per up to maxWritesPerProposal changes, what the streams
// this member holds changed in durable state.
func (s *Server) reconcile(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	for name, inv := range s.inv {
		if !inv.orphanedAt.IsZero() && now.Sub(inv.orphanedAt) > registration.LeaseGraceFactor*s.lease {
			delete(s.inv, name)
		}
	}
	s.mu.Unlock()

	var cmds [][]byte
	for _, st := range s.snapshotStreams() {
		if now.Sub(time.Unix(0, st.lastHeartbeat.Load())) > s.lease {
			continue // the spoke went quiet: let its lease run out
		}
		if cmd := s.clusterStatusWrite(st, now); cmd != nil {
			cmds = append(cmds, cmd)
		}
		if cmd := s.leaseWrite(st, now); cmd != nil {
			cmds = append(cmds, cmd)
		}
		if st.registrationCollected.CompareAndSwap(false, true) {
			cmds = append(cmds, s.reg.CollectedOnConnect(st.cluster, pki.SerialHex(st.cert))...)
		}
	}
	s.propose(ctx, cmds)
}

func (s *Server) propose(ctx context.Context, cmds [][]byte) {
	for _, err := range writes.Commit(ctx, s.node, cmds) {
		if err != nil && !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream state not recorded; retrying next round", "err", err)
		}
	}
}

// clusterStatusWrite returns the update that makes a connected, accepted cluster Joined and
// Available with its latest claims, or nil when it already is. It compares with the stored
// state each round, so a write lost to a conflict is made again the next.
func (s *Server) clusterStatusWrite(st *stream, now time.Time) []byte {
	// GetCluster decodes a copy of its own, so it can be changed in place.
	want, res, err := s.reg.GetCluster(st.cluster)
	if err != nil || !want.Spec.HubAcceptsClient {
		return nil
	}
	changed := false
	setTrue := func(typ, reason, msg string) {
		if !meta.IsStatusConditionTrue(want.Status.Conditions, typ) {
			meta.SetStatusCondition(&want.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg,
				LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)), ObservedGeneration: want.Generation})
			changed = true
		}
	}
	setTrue(clusterv1.ManagedClusterConditionJoined, ReasonJoined, "Managed cluster joined")
	setTrue(clusterv1.ManagedClusterConditionAvailable, ReasonAvailable, "Managed cluster is available")
	if t := withoutTaints(want.Spec.Taints, clusterv1.ManagedClusterTaintUnreachable, clusterv1.ManagedClusterTaintUnavailable); len(t) != len(want.Spec.Taints) {
		want.Spec.Taints, changed = t, true
	}
	if c := st.claims.Load(); c != nil {
		cc := registration.ClaimsToStatus(c)
		if !equalClaims(cc, want.Status.ClusterClaims) || want.Status.Version.Kubernetes != c.GetKubernetesVersion() {
			want.Status.ClusterClaims, want.Status.Version.Kubernetes = cc, c.GetKubernetesVersion()
			changed = true
		}
	}
	if !changed {
		return nil
	}
	cmd, err := store.EncodeUpdate(store.KindManagedCluster, want, res.ResourceVersion)
	if err != nil {
		s.log.Error("encode cluster status", "cluster", st.cluster, "err", err)
		return nil
	}
	return cmd
}

func equalClaims(a, b []clusterv1.ManagedClusterClaim) bool {
	if len(a) != len(b) {
		return false
	}
	am := map[string]string{}
	for _, c := range a {
		am[c.Name] = c.Value
	}
	bm := map[string]string{}
	for _, c := range b {
		bm[c.Name] = c.Value
	}
	return maps.Equal(am, bm)
}

func withoutTaints(ts []clusterv1.Taint, keys ...string) []clusterv1.Taint {
	out := make([]clusterv1.Taint, 0, len(ts))
	for _, t := range ts {
		drop := false
		for _, k := range keys {
			drop = drop || t.Key == k
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

// leaseWrite renews the cluster's lease, with its inventory summary, when this member does not
// hold it yet or the recorded renewal is a lease old; nil otherwise.
func (s *Server) leaseWrite(st *stream, now time.Time) []byte {
	var cur hubv1alpha1.ClusterLease
	var rv uint64
	if res, err := s.store.Get(store.KindClusterLease, "", st.cluster); err == nil {
		if res.Decode(&cur) != nil {
			return nil
		}
		rv = res.ResourceVersion
		if cur.Spec.HolderMember == s.node.ID() && now.Sub(cur.Spec.RenewTime.Time) < s.lease {
			return nil
		}
	}
	heartbeat := time.Unix(0, st.lastHeartbeat.Load())
	lease := hubv1alpha1.ClusterLease{
		ObjectMeta: metav1.ObjectMeta{Name: st.cluster},
		Spec: hubv1alpha1.ClusterLeaseSpec{HolderMember: s.node.ID(), RenewTime: metav1.NewMicroTime(heartbeat.UTC()),
			LeaseDurationSeconds: int32(max(s.lease/time.Second, 1))},
		Status: cur.Status,
	}
	if counts, seq, ok := st.inv.counts(); ok {
		lease.Status.Inventory = &hubv1alpha1.InventorySummary{Sequence: seq, Counts: counts, ObservedTime: metav1.NewTime(now.UTC().Truncate(time.Second))}
	}
	cmd, err := store.EncodeApply(store.KindClusterLease, &lease, rv)
	if err != nil {
		s.log.Error("encode cluster lease", "cluster", st.cluster, "err", err)
		return nil
	}
	return cmd
}

// watchRevocations closes, within moments of the change, the streams of clusters that were
// denied or deleted or whose certificate is no longer accepted.
func (s *Server) watchRevocations(ctx context.Context) {
	for ctx.Err() == nil {
		from := s.store.Index()
		for _, st := range s.snapshotStreams() {
			s.recheck(st)
		}
		w, err := s.store.Watch(ctx, store.KindManagedCluster, "", from)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for {
			ev, err := w.Next()
			if err != nil {
				break // compacted or restored: check every stream again and watch anew
			}
			s.mu.Lock()
			st := s.streams[ev.Resource.Name]
			s.mu.Unlock()
			if st != nil {
				s.recheck(st)
			}
		}
		w.Close()
	}
}

// recheck closes st if its cluster may no longer use the certificate it connected with.
func (s *Server) recheck(st *stream) {
	mc, _, err := s.reg.GetCluster(st.cluster)
	if err != nil {
		st.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_REVOKED, "cluster "+st.cluster+" was removed from the hub", 0)
		return
	}
	if err := registration.CertificateAccepted(mc, st.cert); err != nil {
		reason := fleetv1.DisconnectReason_DISCONNECT_REASON_REVOKED
		if _, denied := mc.Annotations[hubv1alpha1.AnnotationDeniedReason]; denied {
			reason = fleetv1.DisconnectReason_DISCONNECT_REASON_DENIED
		}
		st.disconnect(reason, err.Error(), 0)
	}
}
