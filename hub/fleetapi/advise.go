package fleetapi

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Ask answers a question about the fleet through the AI registry.
func (s *Server) Ask(ctx context.Context, req *fleetv1.AskRequest) (*fleetv1.AskResponse, error) {
	id, err := canRead(ctx)
	if err != nil {
		return nil, err
	}
	if s.engines == nil {
		return nil, status.Error(codes.Unimplemented, "this member has no AI engines")
	}
	if err := s.readBarrier(ctx, fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED); err != nil {
		return nil, err
	}
	scope, err := s.scope(req.GetClusters())
	if err != nil {
		return nil, err
	}
	res, err := s.engines.Answer(ctx, ai.QuestionRequest{Scope: scope, Question: req.GetQuestion(), View: &storeView{s: s, ctx: ctx}})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.auditFallback(ctx, id.String(), "Question", res.FellBack, res.Attempts)
	return &fleetv1.AskResponse{Answer: res.Answer.Answer, Facts: res.Answer.Facts, Source: sourceOf(res.Provider, res.Model, res.FellBack, res.FallbackReason)}, nil
}

// ExplainPlan explains a plan through the AI registry.
func (s *Server) ExplainPlan(ctx context.Context, req *fleetv1.ExplainPlanRequest) (*fleetv1.ExplainPlanResponse, error) {
	id, err := canRead(ctx)
	if err != nil {
		return nil, err
	}
	if s.engines == nil {
		return nil, status.Error(codes.Unimplemented, "this member has no AI engines")
	}
	if req.GetName() == "" {
		return nil, invalid("plan name is required")
	}
	if err := s.readBarrier(ctx, fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED); err != nil {
		return nil, err
	}
	view := &storeView{s: s, ctx: ctx}
	p, ok := view.Plan(req.GetName())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "plan %s does not exist", req.GetName())
	}
	var clusters []string
	for _, a := range p.Spec.Actions {
		clusters = append(clusters, a.Cluster)
	}
	scope, err := s.scope(clusters)
	if err != nil {
		return nil, err
	}
	er := ai.ExplainRequest{Scope: scope, Plan: p}
	if inc, ok := view.Incident(p.Spec.IncidentRef); ok {
		er.Incident = inc
	}
	res, err := s.engines.Explain(ctx, er)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "explain plan %s: %v", p.Name, err)
	}
	s.auditFallback(ctx, id.String(), "Plan/"+p.Name, res.FellBack, res.Attempts)
	return &fleetv1.ExplainPlanResponse{Summary: res.Answer.Summary, Points: res.Answer.Points, Source: sourceOf(res.Provider, res.Model, res.FellBack, res.FallbackReason)}, nil
}

// auditFallback records the providers whose answers were not used (failed, refused as invalid,
// or forbidden for the clusters), so a refused answer leaves a trace in the audit log.
func (s *Server) auditFallback(ctx context.Context, actor, target string, fellBack bool, attempts []ai.Attempt) {
	if !fellBack {
		return
	}
	var refused []ai.Attempt
	for _, a := range attempts {
		if a.Outcome != ai.OutcomeAnswered {
			refused = append(refused, a)
		}
	}
	s.audit(ctx, actor, "ai.fallback", target, map[string]any{"attempts": refused})
}

func sourceOf(provider, model string, fellBack bool, reason string) *fleetv1.AIAnswerSource {
	return &fleetv1.AIAnswerSource{Provider: provider, Model: model, FellBack: fellBack, FallbackReason: reason}
}

// scope names the clusters a request concerns (all registered ones when none is named) and
// their sets, for the registry's rule on external providers.
func (s *Server) scope(clusters []string) (ai.Scope, error) {
	items, _, err := s.store.List(store.KindManagedCluster, "", "")
	if err != nil {
		return ai.Scope{}, grpcError(err)
	}
	want := map[string]bool{}
	for _, c := range clusters {
		want[c] = true
	}
	var sc ai.Scope
	sets := map[string]bool{}
	for _, it := range items {
		if len(want) > 0 && !want[it.Name] {
			continue
		}
		delete(want, it.Name)
		var mc clusterv1.ManagedCluster
		if err := it.Decode(&mc); err != nil {
			return ai.Scope{}, status.Errorf(codes.Internal, "stored ManagedCluster %s: %v", it.Name, err)
		}
		sc.Clusters = append(sc.Clusters, mc.Name)
		if set := mc.Labels[clusterv1beta2.ClusterSetLabel]; set != "" && !sets[set] {
			sets[set] = true
			sc.ClusterSets = append(sc.ClusterSets, set)
		}
	}
	for c := range want {
		return ai.Scope{}, status.Errorf(codes.NotFound, "cluster %s is not registered with this hub", c)
	}
	if s.forbid != nil {
		sc.ExternalForbiddenBy = s.forbid(sc.Clusters)
	}
	return sc, nil
}

// storeView is the hub's state as the AI engines read it: this member's store (after a read
// barrier) and, for images, the clusters' inventories wherever their streams are.
type storeView struct {
	s   *Server
	ctx context.Context
}

var _ ai.FleetView = (*storeView)(nil)

func getAs[T any](s *store.Store, kind, name string) (*T, bool) {
	res, err := s.Get(kind, "", name)
	if err != nil {
		return nil, false
	}
	v := new(T)
	if res.Decode(v) != nil {
		return nil, false
	}
	return v, true
}

func listAs[T any](s *store.Store, kind, selector string) []T {
	items, _, err := s.List(kind, "", selector)
	if err != nil {
		return nil
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if it.Decode(&v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func (v *storeView) Plan(name string) (*hubv1alpha1.Plan, bool) {
	return getAs[hubv1alpha1.Plan](v.s.store, store.KindPlan, name)
}

func (v *storeView) Incident(name string) (*hubv1alpha1.Incident, bool) {
	if name == "" {
		return nil, false
	}
	return getAs[hubv1alpha1.Incident](v.s.store, store.KindIncident, name)
}

func (v *storeView) Actions(plan string) []hubv1alpha1.Action {
	var out []hubv1alpha1.Action
	for _, a := range listAs[hubv1alpha1.Action](v.s.store, store.KindAction, "") {
		if a.Spec.PlanRef == plan {
			out = append(out, a)
		}
	}
	return out
}

func (v *storeView) ClusterKnown(cluster string) bool {
	_, err := v.s.store.Get(store.KindManagedCluster, "", cluster)
	return err == nil
}

func (v *storeView) Incidents(cluster string) []hubv1alpha1.Incident {
	return listAs[hubv1alpha1.Incident](v.s.store, store.KindIncident, hubv1alpha1.LabelCluster+"="+cluster)
}

func (v *storeView) Knowledge(signature string) []hubv1alpha1.KnowledgeEntry {
	var out []hubv1alpha1.KnowledgeEntry
	for _, k := range listAs[hubv1alpha1.KnowledgeEntry](v.s.store, store.KindKnowledgeEntry, "") {
		if k.Spec.Signature == signature || strings.HasPrefix(k.Spec.Signature, signature+":") {
			out = append(out, k)
		}
	}
	return out
}

// ImageUses asks each cluster's inventory (forwarded to the member holding its stream) for
// its workloads' images; clusters that are not connected are skipped.
func (v *storeView) ImageUses(image string) []ai.ImageUse {
	var out []ai.ImageUse
	for _, mc := range listAs[clusterv1.ManagedCluster](v.s.store, store.KindManagedCluster, "") {
		inv, err := v.s.GetClusterInventory(v.ctx, &fleetv1.GetClusterInventoryRequest{Name: mc.Name, Kinds: []string{"Deployment", "StatefulSet", "DaemonSet"}})
		if err != nil {
			continue
		}
		for _, o := range inv.GetObjects() {
			for _, ci := range o.GetContainerImages() {
				name, img, _ := strings.Cut(ci, "=")
				if ai.ImageMatches(img, image) {
					out = append(out, ai.ImageUse{Cluster: mc.Name, Namespace: o.GetRef().GetNamespace(), Workload: o.GetRef().GetKind() + "/" + o.GetRef().GetName(),
						Container: name, Image: img})
				}
			}
		}
	}
	return out
}
