package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Analyzer looks at one resource kind and reports what is wrong with it.
type Analyzer interface {
	// Name is the analyzer's name, the first part of every signature it makes.
	Name() string
	// Analyze returns the problems it sees now; no findings and no error means healthy.
	Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error)
}

// LogSource reads the tail of a container's log.
type LogSource interface {
	// TailLogs returns at most lines of the last lines of the container's current log, or of
	// the previous (terminated) container's log when previous is true.
	TailLogs(ctx context.Context, namespace, pod, container string, previous bool, lines int64) ([]string, error)
}

// Input is what analyzers read from.
type Input struct {
	// Reader is the agent's cache (or any reader holding the kinds of Kinds).
	Reader client.Reader
	// Logs serves log evidence; nil means no log evidence can be had, which the evidence says.
	Logs LogSource
	// Now is the analysis time; zero means time.Now().
	Now time.Time

	events   *eventIndex   // shared by the analyzers of one Runner cycle; nil lists per call
	scales   *scaleHistory // the Runner's memory of replicas changes; nil without a Runner
	prevLogs *previousLogs // the Runner's previous-container log tails; nil reads every time
}

func (in Input) now() time.Time {
	if in.Now.IsZero() {
		return time.Now()
	}
	return in.Now
}

// withEventIndex returns in with a fresh per-cycle event index.
func (in Input) withEventIndex() Input {
	in.events = &eventIndex{}
	return in
}

// eventIndex lists events once per cycle and groups them by the uid of their object.
type eventIndex struct {
	once  sync.Once
	err   error
	byUID map[string][]corev1.Event
}

// eventsFor returns the events of one object, newest first.
func (in Input) eventsFor(ctx context.Context, namespace, uid string) ([]corev1.Event, error) {
	var evs []corev1.Event
	if in.events != nil {
		in.events.once.Do(func() {
			var list corev1.EventList
			if err := in.Reader.List(ctx, &list); err != nil {
				in.events.err = fmt.Errorf("list events: %w", err)
				return
			}
			in.events.byUID = map[string][]corev1.Event{}
			for _, e := range list.Items {
				k := string(e.InvolvedObject.UID)
				in.events.byUID[k] = append(in.events.byUID[k], e)
			}
		})
		if in.events.err != nil {
			return nil, in.events.err
		}
		evs = append(evs, in.events.byUID[uid]...)
	} else {
		var list corev1.EventList
		if err := in.Reader.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list events in %q: %w", namespace, err)
		}
		for _, e := range list.Items {
			if string(e.InvolvedObject.UID) == uid {
				evs = append(evs, e)
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).After(eventTime(&evs[j])) })
	return evs, nil
}

// eventTime is when an event last happened, whichever API fields its reporter filled.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func eventCount(e *corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > 0 {
		return e.Series.Count
	}
	if e.Count > 0 {
		return e.Count
	}
	return 1
}

// limits of evidence, so a finding stays small on the stream
const (
	maxEvents      = 5
	maxDetail      = 2048
	logTailLines   = 20
	maxLogLineSize = 512
)

// eventEvidence turns the object's most recent events into evidence; warnings only when
// warningsOnly. A failure to list is itself evidence, so the finding still goes out.
func eventEvidence(ctx context.Context, in Input, namespace, uid string, warningsOnly bool) []*fleetv1.Evidence {
	evs, err := in.eventsFor(ctx, namespace, uid)
	if err != nil {
		return []*fleetv1.Evidence{{Type: EvidenceEvent, Summary: "events unavailable", Detail: truncate(err.Error()), ObservedAt: timestamppb.New(in.now())}}
	}
	var out []*fleetv1.Evidence
	for i := range evs {
		e := &evs[i]
		if warningsOnly && e.Type != corev1.EventTypeWarning {
			continue
		}
		out = append(out, &fleetv1.Evidence{
			Type:       EvidenceEvent,
			Summary:    fmt.Sprintf("%s %s (x%d)", e.Type, e.Reason, eventCount(e)),
			Detail:     truncate(Redact(e.Message)),
			ObservedAt: timestamppb.New(eventTime(e)),
		})
		if len(out) == maxEvents {
			break
		}
	}
	return out
}

// Evidence types.
const (
	EvidenceEvent  = "event"
	EvidenceStatus = "status"
	EvidenceLog    = "log"
	EvidenceChange = "change"
)

// kinds of the objects findings are about
var (
	gvkPod         = corev1.SchemeGroupVersion.WithKind("Pod")
	gvkNode        = corev1.SchemeGroupVersion.WithKind("Node")
	gvkService     = corev1.SchemeGroupVersion.WithKind("Service")
	gvkPVC         = corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim")
	gvkDeployment  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvkReplicaSet  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	gvkStatefulSet = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	gvkDaemonSet   = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	gvkJob         = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	gvkCronJob     = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
	gvkIngress     = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	gvkHPA         = schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}
)

func ref(gvk schema.GroupVersionKind, obj client.Object) *fleetv1.ObjectRef {
	return &fleetv1.ObjectRef{
		Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
		Namespace: obj.GetNamespace(), Name: obj.GetName(),
		Uid: string(obj.GetUID()), ResourceVersion: obj.GetResourceVersion(),
	}
}

// finding builds a finding; signature parts after the analyzer name must never carry object
// names, namespaces or anything random, so one problem reads the same in every cluster.
func finding(in Input, analyzer string, sev fleetv1.Severity, obj *fleetv1.ObjectRef, summary string, sig ...string) *fleetv1.Finding {
	parts := append([]string{analyzer}, sig...)
	return &fleetv1.Finding{
		Analyzer:   analyzer,
		Signature:  strings.Join(parts, "/"),
		Severity:   sev,
		Object:     obj,
		Summary:    summary,
		ObservedAt: timestamppb.New(in.now()),
	}
}

func statusEvidence(in Input, summary, detail string) *fleetv1.Evidence {
	return &fleetv1.Evidence{Type: EvidenceStatus, Summary: summary, Detail: truncate(Redact(detail)), ObservedAt: timestamppb.New(in.now())}
}

func truncate(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	return s[:maxDetail] + "…"
}

// signaturePart makes a free-form reason safe for a signature: CamelCase letters and digits.
func signaturePart(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			if up && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	if b.Len() == 0 {
		return "Unknown"
	}
	return b.String()
}

func objectKey(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
