package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Events reports recent Warning events, one finding per object and reason, except those the
// kind's own analyzer already turns into a finding.
type Events struct {
	// Window is how recent a warning must be; default 1h.
	Window time.Duration
	// Ignore holds "Kind/Reason" pairs to skip; nil means DefaultIgnoredEvents.
	Ignore map[string]bool
}

// DefaultIgnoredEvents are the warnings other analyzers report through status.
func DefaultIgnoredEvents() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{
		"Pod/BackOff", "Pod/Unhealthy", "Pod/FailedScheduling", "Pod/Failed", "Pod/ErrImagePull", "Pod/ImagePullBackOff", "Pod/Evicted",
		"PersistentVolumeClaim/ProvisioningFailed", "PersistentVolumeClaim/FailedBinding",
		"ReplicaSet/FailedCreate", "Job/BackoffLimitExceeded", "Job/DeadlineExceeded",
		"HorizontalPodAutoscaler/FailedGetResourceMetric", "HorizontalPodAutoscaler/FailedComputeMetricsReplicas",
		"HorizontalPodAutoscaler/FailedGetScale",
	} {
		m[s] = true
	}
	return m
}

// Name implements Analyzer.
func (Events) Name() string { return "event" }

// Analyze implements Analyzer.
func (a Events) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list corev1.EventList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	ignore := a.Ignore
	if ignore == nil {
		ignore = DefaultIgnoredEvents()
	}
	window := or(a.Window, time.Hour)
	type group struct {
		obj    corev1.ObjectReference
		reason string
		count  int32
		events []*corev1.Event
	}
	groups := map[string]*group{}
	for i := range list.Items {
		e := &list.Items[i]
		o := e.InvolvedObject
		if e.Type != corev1.EventTypeWarning || in.now().Sub(eventTime(e)) > window || ignore[o.Kind+"/"+e.Reason] {
			continue
		}
		k := o.Kind + "/" + o.Namespace + "/" + o.Name + "/" + string(o.UID) + "/" + e.Reason
		g := groups[k]
		if g == nil {
			g = &group{obj: o, reason: e.Reason}
			groups[k] = g
		}
		g.count += eventCount(e)
		g.events = append(g.events, e)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*fleetv1.Finding
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g.events, func(i, j int) bool { return eventTime(g.events[i]).After(eventTime(g.events[j])) })
		sev := fleetv1.Severity_SEVERITY_LOW
		if g.count >= 10 {
			sev = fleetv1.Severity_SEVERITY_MEDIUM
		}
		group, version, _ := strings.Cut(g.obj.APIVersion, "/")
		if version == "" {
			group, version = "", group
		}
		obj := &fleetv1.ObjectRef{Group: group, Version: version, Kind: g.obj.Kind, Namespace: g.obj.Namespace, Name: g.obj.Name, Uid: string(g.obj.UID)}
		f := finding(in, "event", sev, obj, fmt.Sprintf("%s warning x%d: %s", g.reason, g.count, firstLine(Redact(g.events[0].Message))),
			signaturePart(g.reason), signaturePart(or(g.obj.Kind, "Unknown")))
		for j, e := range g.events {
			if j == maxEvents {
				break
			}
			f.Evidence = append(f.Evidence, &fleetv1.Evidence{Type: EvidenceEvent, Summary: fmt.Sprintf("%s %s (x%d) from %s", e.Type, e.Reason, eventCount(e), e.Source.Component),
				Detail: truncate(Redact(e.Message)), ObservedAt: timestamppb.New(eventTime(e))})
		}
		out = append(out, f)
	}
	return out, nil
}
