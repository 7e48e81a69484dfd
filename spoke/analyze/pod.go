package analyze

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Pod reports crash loops, image pulls that fail, OOM kills, pods the scheduler cannot place,
// failing probes, not-ready and frequently restarting containers, and evictions.
type Pod struct {
	// RestartThreshold is how many restarts, the last within RestartWindow, make a running
	// container "restarting"; default 3.
	RestartThreshold int32
	// RestartWindow: default 1h.
	RestartWindow time.Duration
	// NotReadyGrace is how long a running container may stay not ready; default 2m.
	NotReadyGrace time.Duration
	// PendingGrace is how long a scheduled pod may stay Pending with no other reason; default 10m.
	PendingGrace time.Duration
}

// Name implements Analyzer.
func (*Pod) Name() string { return "pod" }

// Analyze implements Analyzer.
func (a *Pod) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list corev1.PodList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		out = append(out, a.pod(ctx, in, &list.Items[i])...)
	}
	return out, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// podProblem is one signature on one pod, with the containers it concerns.
type podProblem struct {
	sev        fleetv1.Severity
	sig        []string
	summary    string
	status     []*fleetv1.Evidence
	logs       []logWant
	withChange bool
}

type logWant struct {
	container string
	previous  bool
}

func (a *Pod) pod(ctx context.Context, in Input, pod *corev1.Pod) []*fleetv1.Finding {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded {
		return nil
	}
	now := in.now()
	problems := map[string]*podProblem{}
	add := func(p podProblem, container string) {
		k := strings.Join(p.sig, "/")
		if cur, ok := problems[k]; ok {
			cur.status = append(cur.status, p.status...)
			cur.logs = append(cur.logs, p.logs...)
			if container != "" && !strings.HasSuffix(cur.summary, andOthers) {
				cur.summary += andOthers
			}
			return
		}
		problems[k] = &p
	}

	if pod.Status.Phase == corev1.PodFailed {
		reason := or(pod.Status.Reason, "Failed")
		if reason == "Evicted" {
			add(podProblem{sev: fleetv1.Severity_SEVERITY_LOW, sig: []string{"Evicted"},
				summary: "pod was evicted: " + pod.Status.Message,
				status:  []*fleetv1.Evidence{statusEvidence(in, "phase Failed, reason Evicted", pod.Status.Message)}}, "")
		}
	}
	if p := a.scheduling(in, pod); p != nil {
		add(*p, "")
	}

	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	probes := containerProbes(pod)
	for _, cs := range statuses {
		last := cs.LastTerminationState.Terminated
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff":
			lastReason := "Unknown"
			detail := cs.State.Waiting.Message
			if last != nil {
				lastReason = or(last.Reason, "Error")
				detail = fmt.Sprintf("last terminated: reason %s, exit code %d, at %s: %s", last.Reason, last.ExitCode, last.FinishedAt.UTC().Format(time.RFC3339), last.Message)
			}
			add(podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: []string{"CrashLoopBackOff", signaturePart(lastReason)},
				summary: fmt.Sprintf("container %s is in CrashLoopBackOff (last exit: %s, %d restarts)", cs.Name, lastReason, cs.RestartCount),
				status:  []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s waiting: CrashLoopBackOff, %d restarts", cs.Name, cs.RestartCount), detail)},
				logs:    []logWant{{cs.Name, true}}, withChange: true}, cs.Name)
		case cs.State.Waiting != nil && (cs.State.Waiting.Reason == "ImagePullBackOff" || cs.State.Waiting.Reason == "ErrImagePull"):
			sig := []string{"ImagePullBackOff"}
			if d := pullFailure(cs.State.Waiting.Message); d != "" {
				sig = append(sig, d)
			}
			add(podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: sig,
				summary:    fmt.Sprintf("container %s cannot pull image %s", cs.Name, cs.Image),
				status:     []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s waiting: %s", cs.Name, cs.State.Waiting.Reason), cs.State.Waiting.Message)},
				withChange: true}, cs.Name)
		case cs.State.Waiting != nil && badWaiting[cs.State.Waiting.Reason]:
			add(podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: []string{cs.State.Waiting.Reason},
				summary:    fmt.Sprintf("container %s cannot start: %s", cs.Name, cs.State.Waiting.Reason),
				status:     []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s waiting: %s", cs.Name, cs.State.Waiting.Reason), cs.State.Waiting.Message)},
				withChange: true}, cs.Name)
		case cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled":
			t := cs.State.Terminated
			add(podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: []string{"OOMKilled"},
				summary: fmt.Sprintf("container %s was OOMKilled", cs.Name),
				status: []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s terminated: OOMKilled, exit code %d", cs.Name, t.ExitCode),
					fmt.Sprintf("memory limit %s; %s", memoryLimit(pod, cs.Name), t.Message))},
				logs: []logWant{{cs.Name, false}}, withChange: true}, cs.Name)
		case cs.State.Running != nil && last != nil && last.Reason == "OOMKilled" && now.Sub(last.FinishedAt.Time) < or(a.RestartWindow, time.Hour):
			add(podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: []string{"OOMKilled"},
				summary: fmt.Sprintf("container %s was OOMKilled at %s and restarted", cs.Name, last.FinishedAt.UTC().Format(time.RFC3339)),
				status: []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s last terminated: OOMKilled, %d restarts", cs.Name, cs.RestartCount),
					fmt.Sprintf("memory limit %s; %s", memoryLimit(pod, cs.Name), last.Message))},
				logs: []logWant{{cs.Name, true}}, withChange: true}, cs.Name)
		case cs.State.Running != nil && last != nil && cs.RestartCount >= or(a.RestartThreshold, 3) && now.Sub(last.FinishedAt.Time) < or(a.RestartWindow, time.Hour):
			add(podProblem{sev: fleetv1.Severity_SEVERITY_MEDIUM, sig: []string{"Restarting", signaturePart(or(last.Reason, "Error"))},
				summary: fmt.Sprintf("container %s restarted %d times, last at %s (%s, exit code %d)", cs.Name, cs.RestartCount, last.FinishedAt.UTC().Format(time.RFC3339), last.Reason, last.ExitCode),
				status:  []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s: %d restarts", cs.Name, cs.RestartCount), last.Message)},
				logs:    []logWant{{cs.Name, true}}, withChange: true}, cs.Name)
		}
		if cs.State.Running != nil && !cs.Ready && pod.Status.Phase == corev1.PodRunning && now.Sub(cs.State.Running.StartedAt.Time) > or(a.NotReadyGrace, 2*time.Minute) {
			sig := []string{"ContainerNotReady"}
			if probes[cs.Name].readiness {
				sig = []string{"ProbeFailing", "Readiness"}
			}
			add(podProblem{sev: fleetv1.Severity_SEVERITY_MEDIUM, sig: sig,
				summary: fmt.Sprintf("container %s has been running but not ready since %s", cs.Name, cs.State.Running.StartedAt.UTC().Format(time.RFC3339)),
				status:  []*fleetv1.Evidence{statusEvidence(in, fmt.Sprintf("container %s running, not ready", cs.Name), readinessCondition(pod))},
				logs:    []logWant{{cs.Name, false}}, withChange: true}, cs.Name)
		}
	}

	// Probe failures the kubelet reported as Unhealthy events (liveness kills show up here
	// before the restarts add up).
	evs, _ := in.eventsFor(ctx, pod.Namespace, string(pod.UID))
	for _, e := range evs {
		if e.Type != corev1.EventTypeWarning || e.Reason != "Unhealthy" || now.Sub(eventTime(&e)) > or(a.RestartWindow, time.Hour) {
			continue
		}
		probe := probeKind(e.Message)
		if probe == "" {
			continue
		}
		add(podProblem{sev: fleetv1.Severity_SEVERITY_MEDIUM, sig: []string{"ProbeFailing", probe},
			summary: fmt.Sprintf("%s probe failing (x%d): %s", strings.ToLower(probe), eventCount(&e), firstLine(Redact(e.Message))), withChange: true}, "")
	}

	keys := make([]string, 0, len(problems))
	for k := range problems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*fleetv1.Finding
	var events []*fleetv1.Evidence
	var change *fleetv1.Evidence
	changeDone := false
	for i, k := range keys {
		p := problems[k]
		f := finding(in, "pod", p.sev, ref(gvkPod, pod), p.summary, p.sig...)
		f.Evidence = append(f.Evidence, p.status...)
		if i == 0 {
			events = eventEvidence(ctx, in, pod.Namespace, string(pod.UID), false)
		}
		f.Evidence = append(f.Evidence, events...)
		seen := map[logWant]bool{}
		for _, l := range p.logs {
			if !seen[l] {
				seen[l] = true
				f.Evidence = append(f.Evidence, logEvidence(ctx, in, pod, l.container, l.previous))
			}
		}
		if p.withChange {
			if !changeDone {
				change, changeDone = ownerChangeEvidence(ctx, in, pod), true
			}
			if change != nil {
				f.Evidence = append(f.Evidence, change)
			}
		}
		out = append(out, f)
	}
	return out
}

const andOthers = " (and other containers)"

// badWaiting are waiting reasons that mean the container cannot start until something changes.
var badWaiting = map[string]bool{
	"CreateContainerConfigError": true, "CreateContainerError": true, "InvalidImageName": true,
	"RunContainerError": true, "ContainerCannotRun": true, "PreCreateHookError": true, "PostStartHookError": true,
}

// scheduling reports a pod the scheduler could not place, or one stuck Pending after it was.
func (a *Pod) scheduling(in Input, pod *corev1.Pod) *podProblem {
	if pod.Status.Phase != corev1.PodPending {
		return nil
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse {
			continue
		}
		if c.Reason == corev1.PodReasonUnschedulable {
			return &podProblem{sev: fleetv1.Severity_SEVERITY_HIGH, sig: []string{"Unschedulable", unschedulableReason(c.Message)},
				summary: "pod cannot be scheduled: " + c.Message,
				status:  []*fleetv1.Evidence{statusEvidence(in, "PodScheduled=False, reason Unschedulable", c.Message)}}
		}
		return &podProblem{sev: fleetv1.Severity_SEVERITY_MEDIUM, sig: []string{"Pending", signaturePart(or(c.Reason, "NotScheduled"))},
			summary: fmt.Sprintf("pod not scheduled (%s): %s", c.Reason, c.Message),
			status:  []*fleetv1.Evidence{statusEvidence(in, "PodScheduled=False, reason "+c.Reason, c.Message)}}
	}
	if pod.Spec.NodeName != "" && in.now().Sub(pod.CreationTimestamp.Time) > or(a.PendingGrace, 10*time.Minute) {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Waiting != nil && (cs.State.Waiting.Reason == "CrashLoopBackOff" || badWaiting[cs.State.Waiting.Reason] ||
				cs.State.Waiting.Reason == "ImagePullBackOff" || cs.State.Waiting.Reason == "ErrImagePull") {
				return nil // reported by its container
			}
		}
		return &podProblem{sev: fleetv1.Severity_SEVERITY_MEDIUM, sig: []string{"Pending", "Stuck"},
			summary: fmt.Sprintf("pod scheduled to a node but still Pending since %s", pod.CreationTimestamp.UTC().Format(time.RFC3339)),
			status:  []*fleetv1.Evidence{statusEvidence(in, "phase Pending", pod.Status.Message)}}
	}
	return nil
}

// unschedulableReasons map phrases of the scheduler's messages to signature words, most
// specific first.
var unschedulableReasons = []struct{ substr, word string }{
	{"insufficient cpu", "InsufficientCPU"},
	{"insufficient memory", "InsufficientMemory"},
	{"insufficient ephemeral-storage", "InsufficientEphemeralStorage"},
	{"too many pods", "TooManyPods"},
	{"insufficient pods", "TooManyPods"},
	{"insufficient ", "InsufficientResource"},
	{"unbound immediate persistentvolumeclaims", "UnboundPVC"},
	{"persistentvolumeclaim", "PVC"},
	{"volume node affinity conflict", "VolumeNodeAffinity"},
	{"node affinity/selector", "NodeAffinity"},
	{"didn't match pod's node affinity", "NodeAffinity"},
	{"free ports", "HostPort"},
	{"anti-affinity", "PodAntiAffinity"},
	{"pod affinity", "PodAffinity"},
	{"topology spread", "TopologySpread"},
	{"untolerated taint", "Taint"},
	{"had taint", "Taint"},
	{"were unschedulable", "NodeUnschedulable"},
	{"no nodes available", "NoNodes"},
	{"0/0 nodes", "NoNodes"},
}

// unschedulableReason reduces the scheduler's message ("0/3 nodes are available: 1 node(s)
// were unschedulable, 2 Insufficient cpu. preemption: …") to one stable word: the reason that
// excluded the most nodes, leaving out cordoned and tainted nodes (kept out of play on
// purpose) when another reason exists, so node counts and cordons in one cluster do not make
// its signature differ from another's.
func unschedulableReason(msg string) string {
	m := strings.ToLower(msg)
	if i := strings.Index(m, "preemption:"); i >= 0 {
		m = m[:i]
	}
	classify := func(s string) (int, string) {
		for i, c := range unschedulableReasons {
			if strings.Contains(s, c.substr) {
				return i, c.word
			}
		}
		return -1, ""
	}
	type reason struct {
		rank, count int
		word        string
	}
	var rs []reason
	if _, list, ok := strings.Cut(m, "are available:"); ok {
		for _, seg := range strings.Split(list, ",") {
			seg = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(seg), "."))
			n, rest, _ := strings.Cut(seg, " ")
			count, err := strconv.Atoi(n)
			if err != nil {
				count, rest = 1, seg
			}
			if rank, word := classify(rest); word != "" {
				rs = append(rs, reason{rank, count, word})
			}
		}
	}
	if len(rs) == 0 {
		if _, word := classify(m); word != "" {
			return word
		}
		return "Other"
	}
	kept := rs[:0:0]
	for _, r := range rs {
		if r.word != "NodeUnschedulable" && r.word != "Taint" {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		kept = rs
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if kept[i].count != kept[j].count {
			return kept[i].count > kept[j].count
		}
		return kept[i].rank < kept[j].rank
	})
	return kept[0].word
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pullFailure classifies an image pull error into NotFound, Unauthorized or empty.
func pullFailure(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "not found") || strings.Contains(m, "manifest unknown") || strings.Contains(m, "does not exist"):
		return "NotFound"
	case strings.Contains(m, "unauthorized") || strings.Contains(m, "authentication required") || strings.Contains(m, "denied") || strings.Contains(m, "forbidden"):
		return "Unauthorized"
	}
	return ""
}

func probeKind(msg string) string {
	switch {
	case strings.HasPrefix(msg, "Readiness probe"):
		return "Readiness"
	case strings.HasPrefix(msg, "Liveness probe"):
		return "Liveness"
	case strings.HasPrefix(msg, "Startup probe"):
		return "Startup"
	}
	return ""
}

type probeSet struct{ readiness, liveness bool }

func containerProbes(pod *corev1.Pod) map[string]probeSet {
	m := map[string]probeSet{}
	for _, c := range pod.Spec.Containers {
		m[c.Name] = probeSet{readiness: c.ReadinessProbe != nil, liveness: c.LivenessProbe != nil}
	}
	return m
}

func memoryLimit(pod *corev1.Pod, container string) string {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == container {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return q.String()
			}
		}
	}
	return "none"
}

func readinessCondition(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return fmt.Sprintf("Ready=%s reason %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
