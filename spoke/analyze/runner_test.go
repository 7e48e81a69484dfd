package analyze_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

// only keeps a real analyzer's findings about objects whose name starts with prefix, so other
// tests' objects do not show up; fail makes it fail instead.
type only struct {
	analyze.Analyzer
	prefix string
	mu     sync.Mutex
	fail   bool
}

func (o *only) setFail(v bool) { o.mu.Lock(); o.fail = v; o.mu.Unlock() }

func (o *only) Analyze(ctx context.Context, in analyze.Input) ([]*fleetv1.Finding, error) {
	o.mu.Lock()
	fail := o.fail
	o.mu.Unlock()
	if fail {
		return nil, errors.New("injected failure")
	}
	fs, err := o.Analyzer.Analyze(ctx, in)
	var out []*fleetv1.Finding
	for _, f := range fs {
		if strings.HasPrefix(f.GetObject().GetName(), o.prefix) {
			out = append(out, f)
		}
	}
	return out, err
}

// sink records what the Runner emits; failing makes Emit fail.
type sink struct {
	mu      sync.Mutex
	batches [][]*fleetv1.Finding
	failing bool
}

func (s *sink) emit(_ context.Context, fs []*fleetv1.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return errors.New("stream down")
	}
	s.batches = append(s.batches, fs)
	return nil
}

// take returns what was emitted since the last take, by "object signature [resolved]".
func (s *sink) take() map[string]*fleetv1.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*fleetv1.Finding{}
	for _, b := range s.batches {
		for _, f := range b {
			k := f.GetObject().GetName() + " " + f.Signature
			if f.Resolved {
				k += " resolved"
			}
			out[k] = f
		}
	}
	s.batches = nil
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// setNodeConditions writes a hands-off node's conditions and waits for the cache to see them.
func setNodeConditions(t *testing.T, name string, conds ...corev1.NodeCondition) {
	t.Helper()
	// The node lifecycle controller writes the node too: retry on conflicts.
	require.Eventually(t, func() bool {
		n := &corev1.Node{}
		if kube.Get(context.Background(), client.ObjectKey{Name: name}, n) != nil {
			return false
		}
		n.Status.Conditions = conds
		return kube.Status().Update(context.Background(), n) == nil
	}, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		cur := &corev1.Node{}
		return reader.Get(context.Background(), client.ObjectKey{Name: name}, cur) == nil &&
			len(cur.Status.Conditions) == len(conds) && cur.Status.Conditions[len(conds)-1].Message == conds[len(conds)-1].Message
	}, 30*time.Second, 100*time.Millisecond)
}

func TestRunner(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "runner-test")
	ready := cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady")
	memory := cond(corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory")
	disk := cond(corev1.NodeDiskPressure, corev1.ConditionTrue, "KubeletHasDiskPressure")
	handsOffNodeWith(t, "runner-a", ready, memory)

	nodes := &only{Analyzer: analyze.Node{}, prefix: "runner-"}
	events := &only{Analyzer: analyze.Events{}, prefix: "runner-"}
	out := &sink{}
	clock := time.Now()
	r, err := analyze.NewRunner(analyze.RunnerOptions{
		Reader: reader, Logs: analyze.NewLogSource(clientset), Emit: out.emit,
		Analyzers: []analyze.Analyzer{nodes, events}, ResendInterval: time.Hour,
		Now: func() time.Time { return clock },
	})
	require.NoError(t, err)
	start := clock

	// new
	require.NoError(t, r.RunOnce(ctx))
	got := out.take()
	require.ElementsMatch(t, []string{"runner-a node/MemoryPressure"}, keys(got))
	f := got["runner-a node/MemoryPressure"]
	assert.False(t, f.Resolved)
	assert.True(t, f.FirstObservedAt.AsTime().Equal(start), "first observed when first seen")

	// unchanged: nothing to send
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.Empty(t, out.take(), "an unchanged finding is not sent again")

	// changed: sent again, still first observed at the start
	memory.Message = "memory available 90Mi, threshold 100Mi"
	setNodeConditions(t, "runner-a", ready, memory)
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	got = out.take()
	require.ElementsMatch(t, []string{"runner-a node/MemoryPressure"}, keys(got))
	f = got["runner-a node/MemoryPressure"]
	assert.True(t, f.FirstObservedAt.AsTime().Equal(start))
	assert.True(t, f.ObservedAt.AsTime().Equal(clock))

	// a failed emit is sent again on the next cycle
	handsOffNodeWith(t, "runner-b", ready, disk)
	out.failing = true
	clock = clock.Add(time.Minute)
	assert.Error(t, r.RunOnce(ctx))
	out.failing = false
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.ElementsMatch(t, []string{"runner-b node/DiskPressure"}, keys(out.take()))

	// resend on request (a new stream) and periodically
	r.ResendAll()
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.ElementsMatch(t, []string{"runner-a node/MemoryPressure", "runner-b node/DiskPressure"}, keys(out.take()))
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.Empty(t, out.take())
	clock = clock.Add(2 * time.Hour)
	require.NoError(t, r.RunOnce(ctx))
	assert.ElementsMatch(t, []string{"runner-a node/MemoryPressure", "runner-b node/DiskPressure"}, keys(out.take()), "periodic resend")

	// resolved: the same finding, resolved, once
	setNodeConditions(t, "runner-a", ready, cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"))
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	got = out.take()
	require.ElementsMatch(t, []string{"runner-a node/MemoryPressure resolved"}, keys(got))
	f = got["runner-a node/MemoryPressure resolved"]
	assert.True(t, f.FirstObservedAt.AsTime().Equal(start))
	assert.Equal(t, 1, r.Stats().Active)
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.Empty(t, out.take(), "a resolution is sent once")

	// one analyzer failing: its findings stay as they were (not resolved), the others run
	nodes.setFail(true)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "runner-cfg", Namespace: ns}}
	create(t, cm)
	awaitCached(t, warn(t, cm, "ConfigMap", "v1", "FailedSync", "sync failed", 1, clock))
	clock = clock.Add(time.Minute)
	require.NoError(t, r.RunOnce(ctx))
	assert.ElementsMatch(t, []string{"runner-cfg event/FailedSync/ConfigMap"}, keys(out.take()))
	assert.Equal(t, uint64(1), r.Stats().AnalyzerErrors)
	assert.Equal(t, 2, r.Stats().Active)
	nodes.setFail(false)

	// at the cap, findings not yet tracked are dropped and counted
	capped, err := analyze.NewRunner(analyze.RunnerOptions{Reader: reader, Emit: out.emit, Analyzers: []analyze.Analyzer{nodes, events}, MaxTracked: 1})
	require.NoError(t, err)
	require.NoError(t, capped.RunOnce(ctx))
	assert.Len(t, out.take(), 1)
	assert.Equal(t, 1, capped.Stats().Active)
	assert.Equal(t, uint64(1), capped.Stats().Dropped)
}

// The Runner remembers a workload's replicas, so a scale shows in its change evidence even
// though Kubernetes keeps no history of it.
func TestRunnerReplicasChange(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "runner-scale")
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "runner-web", Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr(int32(1)), Selector: selector("web"), Template: unschedulable(podTemplate("web", "app:v1", ""))}}
	create(t, dep)
	out := &sink{}
	r, err := analyze.NewRunner(analyze.RunnerOptions{Reader: reader, Emit: out.emit,
		Analyzers: []analyze.Analyzer{&only{Analyzer: analyze.Deployment{Grace: time.Nanosecond}, prefix: "runner-"}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		require.NoError(t, r.RunOnce(ctx))
		_, ok := out.take()["runner-web deployment/UnavailableReplicas"]
		return ok
	}, time.Minute, 200*time.Millisecond)

	require.NoError(t, retryUpdate(dep, func() { dep.Spec.Replicas = ptr(int32(3)) }))
	var f *fleetv1.Finding
	require.Eventually(t, func() bool {
		require.NoError(t, r.RunOnce(ctx))
		f = out.take()["runner-web deployment/UnavailableReplicas"]
		return f != nil && len(evidence(f, analyze.EvidenceChange)) == 1
	}, time.Minute, 200*time.Millisecond)
	d := changeDetail(t, f)
	assert.Equal(t, d.FromRevision, d.ToRevision, "a scale is no new revision")
	require.Len(t, d.Changes, 1)
	c := d.Changes[0]
	assert.Equal(t, "replicas", c.Field)
	assert.Equal(t, "1", c.From)
	assert.Equal(t, "3", c.To)
	require.NotNil(t, c.At)
	assert.Equal(t, *c.At, d.ChangedAt)
}

// countingLogs counts the reads of a real log source.
type countingLogs struct {
	analyze.LogSource
	mu    sync.Mutex
	reads int
}

func (c *countingLogs) TailLogs(ctx context.Context, ns, pod, container string, previous bool, lines int64) ([]string, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.LogSource.TailLogs(ctx, ns, pod, container, previous, lines)
}

// A crash loop's previous log is read once per restart, not once per cycle.
func TestRunnerPreviousLogsReadOncePerRestart(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "runner-logger", Namespace: logsNamespace, Labels: map[string]string{"testbed.kubedevaiops.io/inject": "crashloop"}},
		Spec:       corev1.PodSpec{NodeName: logsNodeName, Tolerations: tolerateAll, Containers: []corev1.Container{{Name: "app", Image: "app:v2"}}},
	}
	create(t, pod)
	logs := &countingLogs{LogSource: analyze.NewLogSource(clientset)}
	out := &sink{}
	r, err := analyze.NewRunner(analyze.RunnerOptions{Reader: reader, Logs: logs, Emit: out.emit,
		Analyzers: []analyze.Analyzer{&only{Analyzer: &analyze.Pod{}, prefix: "runner-"}}})
	require.NoError(t, err)
	var f *fleetv1.Finding
	require.Eventually(t, func() bool {
		require.NoError(t, r.RunOnce(ctx))
		f = out.take()["runner-logger pod/CrashLoopBackOff/Error"]
		return f != nil
	}, time.Minute, 200*time.Millisecond)
	l := evidence(f, analyze.EvidenceLog)
	require.Len(t, l, 1)
	assert.Contains(t, l[0].Detail, "panic: config key")
	reads := logs.reads
	for range 3 {
		require.NoError(t, r.RunOnce(ctx))
	}
	assert.Equal(t, reads, logs.reads, "no new reads while the restart count stays")
	assert.Empty(t, out.take(), "nothing changed")
}
