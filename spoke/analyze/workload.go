package analyze

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Deployment reports rollouts stuck past their progress deadline, unavailable replicas and
// replica creation failures.
type Deployment struct {
	// Grace is how long replicas may be unavailable after the rollout last made progress
	// (Progressing's lastUpdateTime) before it is a finding; default 2m.
	Grace time.Duration
}

// Name implements Analyzer.
func (Deployment) Name() string { return "deployment" }

// Analyze implements Analyzer.
func (a Deployment) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list appsv1.DeploymentList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.Paused || d.DeletionTimestamp != nil {
			continue
		}
		want := replicasOf(d.Spec.Replicas)
		counts := fmt.Sprintf("replicas %d desired, %d updated, %d ready, %d available, %d unavailable",
			want, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UnavailableReplicas)
		var fs []*fleetv1.Finding
		if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			f := finding(in, "deployment", fleetv1.Severity_SEVERITY_HIGH, ref(gvkDeployment, d),
				fmt.Sprintf("rollout stuck: no progress within %ds (%d of %d replicas updated and available)", progressDeadline(d), d.Status.AvailableReplicas, want),
				"ProgressDeadlineExceeded")
			f.Evidence = append(f.Evidence, statusEvidence(in, "Progressing=False, reason ProgressDeadlineExceeded", c.Message), statusEvidence(in, "replica counts", counts))
			fs = append(fs, f)
		}
		if c := deploymentCondition(d, appsv1.DeploymentReplicaFailure); c != nil && c.Status == corev1.ConditionTrue {
			f := finding(in, "deployment", fleetv1.Severity_SEVERITY_HIGH, ref(gvkDeployment, d),
				"replicas cannot be created: "+c.Message, "ReplicaFailure", signaturePart(c.Reason))
			f.Evidence = append(f.Evidence, statusEvidence(in, "ReplicaFailure=True, reason "+c.Reason, c.Message))
			fs = append(fs, f)
		}
		if want > d.Status.AvailableReplicas && d.Status.ObservedGeneration >= d.Generation && !a.progressing(in, d) {
			sev := fleetv1.Severity_SEVERITY_MEDIUM
			if d.Status.AvailableReplicas == 0 {
				sev = fleetv1.Severity_SEVERITY_HIGH
			}
			f := finding(in, "deployment", sev, ref(gvkDeployment, d),
				fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, want), "UnavailableReplicas")
			f.Evidence = append(f.Evidence, statusEvidence(in, "replica counts", counts))
			if c := deploymentCondition(d, appsv1.DeploymentAvailable); c != nil {
				f.Evidence = append(f.Evidence, statusEvidence(in, fmt.Sprintf("Available=%s, reason %s", c.Status, c.Reason), c.Message))
			}
			fs = append(fs, f)
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, d.Namespace, string(d.UID), false)
		change := deploymentChange(ctx, in, d)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
			if change != nil {
				f.Evidence = append(f.Evidence, change)
			}
		}
		out = append(out, fs...)
	}
	return out, nil
}

// progressing says whether the rollout made progress within the grace period, so replicas it
// has not brought up yet are not a problem yet.
func (a Deployment) progressing(in Input, d *appsv1.Deployment) bool {
	grace := or(a.Grace, 2*time.Minute)
	c := deploymentCondition(d, appsv1.DeploymentProgressing)
	if c == nil {
		return in.now().Sub(d.CreationTimestamp.Time) < grace
	}
	return c.Status == corev1.ConditionTrue && in.now().Sub(c.LastUpdateTime.Time) < grace
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func progressDeadline(d *appsv1.Deployment) int32 {
	if d.Spec.ProgressDeadlineSeconds != nil {
		return *d.Spec.ProgressDeadlineSeconds
	}
	return 600
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// ReplicaSet reports ReplicaSets that cannot create their pods, and standalone ones (no
// Deployment, which would report it) short of ready replicas.
type ReplicaSet struct {
	// Grace is how old a standalone ReplicaSet must be before missing replicas count; default 2m.
	Grace time.Duration
}

// Name implements Analyzer.
func (ReplicaSet) Name() string { return "replicaset" }

// Analyze implements Analyzer.
func (a ReplicaSet) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list appsv1.ReplicaSetList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list replicasets: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		rs := &list.Items[i]
		if rs.DeletionTimestamp != nil {
			continue
		}
		counts := fmt.Sprintf("replicas %d desired, %d current, %d ready, %d available", replicasOf(rs.Spec.Replicas), rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas)
		var fs []*fleetv1.Finding
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				f := finding(in, "replicaset", fleetv1.Severity_SEVERITY_HIGH, ref(gvkReplicaSet, rs),
					"pods cannot be created: "+c.Message, "ReplicaFailure", signaturePart(c.Reason))
				f.Evidence = append(f.Evidence, statusEvidence(in, "ReplicaFailure=True, reason "+c.Reason, c.Message), statusEvidence(in, "replica counts", counts))
				fs = append(fs, f)
			}
		}
		if owner := metav1.GetControllerOf(rs); owner == nil && replicasOf(rs.Spec.Replicas) > rs.Status.ReadyReplicas && rs.Status.ObservedGeneration >= rs.Generation &&
			in.now().Sub(rs.CreationTimestamp.Time) >= or(a.Grace, 2*time.Minute) {
			f := finding(in, "replicaset", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkReplicaSet, rs),
				fmt.Sprintf("%d of %d replicas ready", rs.Status.ReadyReplicas, replicasOf(rs.Spec.Replicas)), "UnavailableReplicas")
			f.Evidence = append(f.Evidence, statusEvidence(in, "replica counts", counts))
			fs = append(fs, f)
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, rs.Namespace, string(rs.UID), false)
		change := replicaSetOwnerChange(ctx, in, rs)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
			if change != nil {
				f.Evidence = append(f.Evidence, change)
			}
		}
		out = append(out, fs...)
	}
	return out, nil
}

// StatefulSet reports StatefulSets short of ready replicas and those whose governing Service
// is missing.
type StatefulSet struct {
	// Grace is how old a StatefulSet must be before missing replicas count; default 2m.
	Grace time.Duration
}

// Name implements Analyzer.
func (StatefulSet) Name() string { return "statefulset" }

// Analyze implements Analyzer.
func (a StatefulSet) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list appsv1.StatefulSetList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list statefulsets: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		s := &list.Items[i]
		if s.DeletionTimestamp != nil {
			continue
		}
		want := replicasOf(s.Spec.Replicas)
		counts := fmt.Sprintf("replicas %d desired, %d current, %d updated, %d ready; current revision %s, update revision %s",
			want, s.Status.Replicas, s.Status.UpdatedReplicas, s.Status.ReadyReplicas, s.Status.CurrentRevision, s.Status.UpdateRevision)
		var fs []*fleetv1.Finding
		if want > s.Status.ReadyReplicas && s.Status.ObservedGeneration >= s.Generation && in.now().Sub(s.CreationTimestamp.Time) >= or(a.Grace, 2*time.Minute) {
			sev := fleetv1.Severity_SEVERITY_MEDIUM
			if s.Status.ReadyReplicas == 0 {
				sev = fleetv1.Severity_SEVERITY_HIGH
			}
			f := finding(in, "statefulset", sev, ref(gvkStatefulSet, s), fmt.Sprintf("%d of %d replicas ready", s.Status.ReadyReplicas, want), "UnavailableReplicas")
			f.Evidence = append(f.Evidence, statusEvidence(in, "replica counts", counts))
			fs = append(fs, f)
		}
		if s.Spec.ServiceName != "" {
			var svc corev1.Service
			if err := in.Reader.Get(ctx, objectKey(s.Namespace, s.Spec.ServiceName), &svc); err != nil && isNotFound(err) {
				f := finding(in, "statefulset", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkStatefulSet, s),
					fmt.Sprintf("governing service %s does not exist", s.Spec.ServiceName), "MissingService")
				f.Evidence = append(f.Evidence, statusEvidence(in, "spec.serviceName", s.Spec.ServiceName))
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, s.Namespace, string(s.UID), false)
		change := statefulSetChange(ctx, in, s)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
			if change != nil {
				f.Evidence = append(f.Evidence, change)
			}
		}
		out = append(out, fs...)
	}
	return out, nil
}

// DaemonSet reports DaemonSets with unavailable, unscheduled or misscheduled pods.
type DaemonSet struct {
	// Grace is how old a DaemonSet must be before its missing pods count; default 2m.
	Grace time.Duration
}

// Name implements Analyzer.
func (DaemonSet) Name() string { return "daemonset" }

// Analyze implements Analyzer.
func (a DaemonSet) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list appsv1.DaemonSetList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list daemonsets: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		d := &list.Items[i]
		st := d.Status
		if d.DeletionTimestamp != nil || st.ObservedGeneration < d.Generation || in.now().Sub(d.CreationTimestamp.Time) < or(a.Grace, 2*time.Minute) {
			continue
		}
		counts := fmt.Sprintf("pods %d desired, %d scheduled, %d updated, %d ready, %d available, %d unavailable, %d misscheduled",
			st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.UpdatedNumberScheduled, st.NumberReady, st.NumberAvailable, st.NumberUnavailable, st.NumberMisscheduled)
		var fs []*fleetv1.Finding
		add := func(sev fleetv1.Severity, summary, reason string) {
			f := finding(in, "daemonset", sev, ref(gvkDaemonSet, d), summary, reason)
			f.Evidence = append(f.Evidence, statusEvidence(in, "pod counts", counts))
			fs = append(fs, f)
		}
		if st.NumberUnavailable > 0 {
			add(fleetv1.Severity_SEVERITY_MEDIUM, fmt.Sprintf("%d of %d pods unavailable", st.NumberUnavailable, st.DesiredNumberScheduled), "UnavailablePods")
		}
		if n := st.DesiredNumberScheduled - st.CurrentNumberScheduled; n > 0 {
			add(fleetv1.Severity_SEVERITY_MEDIUM, fmt.Sprintf("%d nodes that should run a pod have none", n), "NotScheduled")
		}
		if st.NumberMisscheduled > 0 {
			add(fleetv1.Severity_SEVERITY_LOW, fmt.Sprintf("%d pods run on nodes that should not run them", st.NumberMisscheduled), "Misscheduled")
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, d.Namespace, string(d.UID), false)
		change := daemonSetChange(ctx, in, d)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
			if change != nil {
				f.Evidence = append(f.Evidence, change)
			}
		}
		out = append(out, fs...)
	}
	return out, nil
}
