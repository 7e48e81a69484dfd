package analyze_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

// Nodes the tests place pods on: handsOffNode is left alone by kwok (its pods' status is the
// test's to set), logsNodeName has kwok serve its pods' logs, defaultNode is an ordinary kwok node.
const (
	handsOffNode = "analyze-hands-off"
	logsNodeName = "analyze-logs-node"
	defaultNode  = "kwok-node-0"
)

// setupNodes creates the hands-off and logs nodes and the logs namespace.
func setupNodes(ctx context.Context) error {
	port, err := kwokPort()
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	nodes := []*corev1.Node{
		// Unschedulable keeps the scheduler from placing other pods here.
		{ObjectMeta: metav1.ObjectMeta{Name: handsOffNode, Labels: map[string]string{handsOffLabel: "true", "kubernetes.io/hostname": handsOffNode}},
			Spec:   corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}}},
		// A kwok node whose kubelet endpoint is kwok's own server on loopback, so the apiserver's
		// pod log requests reach kwok, which serves the files of ClusterLogs. (The test bed's
		// nodes have no address, so log requests for their pods fail in the apiserver.) Its
		// Hostname address is the IP too: the apiserver prefers that one and would resolve a
		// name through DNS, and kwok clears the addresses of a node that lacks either.
		{ObjectMeta: metav1.ObjectMeta{Name: logsNodeName, Labels: map[string]string{"kubernetes.io/hostname": logsNodeName, "type": "kwok"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
			Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{
				Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "127.0.0.1"}},
				DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
			}},
	}
	for _, n := range nodes {
		if err := kube.Create(ctx, n); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: logsNamespace}})
}

// tolerateAll lets test pods stay on nodes the node lifecycle controller taints (the
// hands-off node has no kubelet renewing its lease).
var tolerateAll = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}

func input() analyze.Input {
	return analyze.Input{Reader: reader, Logs: analyze.NewLogSource(clientset)}
}

// create makes an object and deletes it when the test ends.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	require.NoError(t, kube.Create(context.Background(), obj), "create %T %s", obj, obj.GetName())
	t.Cleanup(func() {
		_ = kube.Delete(context.Background(), obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	})
}

// handsOffPod creates a pod on the hands-off node and sets its status, as a kubelet would.
func handsOffPod(t *testing.T, ns, name string, spec corev1.PodSpec, status corev1.PodStatus, labels map[string]string) *corev1.Pod {
	t.Helper()
	spec.NodeName = handsOffNode
	spec.Tolerations = tolerateAll
	if labels == nil {
		labels = map[string]string{}
	}
	labels[handsOffLabel] = "true"
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: spec}
	create(t, pod)
	setPodStatus(t, pod, status)
	return pod
}

func setPodStatus(t *testing.T, pod *corev1.Pod, status corev1.PodStatus) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		cur := &corev1.Pod{}
		if !assert.NoError(c, kube.Get(context.Background(), client.ObjectKeyFromObject(pod), cur)) {
			return
		}
		cur.Status = status
		err := kube.Status().Update(context.Background(), cur)
		if !apierrors.IsConflict(err) {
			assert.NoError(c, err)
		} else {
			assert.Fail(c, "conflict")
		}
	}, 30*time.Second, 100*time.Millisecond)
}

// awaitFindings runs the analyzer until the findings about one object carry exactly the
// wanted signatures (sorted), and returns them by signature.
func awaitFindings(t *testing.T, a analyze.Analyzer, in analyze.Input, kind, ns, name string, want []string) map[string]*fleetv1.Finding {
	t.Helper()
	want = append([]string{}, want...)
	sort.Strings(want)
	var got map[string]*fleetv1.Finding
	var last []string
	ok := assert.Eventually(t, func() bool {
		fs, err := a.Analyze(context.Background(), in)
		if err != nil {
			return false
		}
		got = map[string]*fleetv1.Finding{}
		last = nil
		for _, f := range fs {
			o := f.GetObject()
			if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
				got[f.Signature] = f
				last = append(last, f.Signature)
			}
		}
		sort.Strings(last)
		return fmt.Sprint(last) == fmt.Sprint(want)
	}, 90*time.Second, 250*time.Millisecond)
	if !ok {
		t.Fatalf("%s %s/%s: want signatures %v, last saw %v", kind, ns, name, want, last)
	}
	for _, f := range got {
		checkFinding(t, a, f)
	}
	return got
}

// checkFinding holds every finding to the rules: analyzer-prefixed signature with no object
// names or namespaces in it, a severity, a summary, an object ref with uid.
func checkFinding(t *testing.T, a analyze.Analyzer, f *fleetv1.Finding) {
	t.Helper()
	assert.Equal(t, a.Name(), f.Analyzer)
	assert.True(t, strings.HasPrefix(f.Signature, a.Name()+"/"), f.Signature)
	o := f.GetObject()
	for _, part := range strings.Split(f.Signature, "/") {
		assert.NotEqual(t, o.GetName(), part, "signature %s names the object", f.Signature)
		if o.GetNamespace() != "" {
			assert.NotContains(t, part, o.GetNamespace(), "signature %s names the namespace", f.Signature)
		}
	}
	assert.NotEqual(t, fleetv1.Severity_SEVERITY_UNSPECIFIED, f.Severity)
	assert.NotEmpty(t, f.Summary)
	assert.NotEmpty(t, o.GetUid())
	assert.NotNil(t, f.ObservedAt)
	assert.NotEmpty(t, f.Evidence, "finding %s has evidence", f.Signature)
}

// evidence returns the finding's evidence of one type.
func evidence(f *fleetv1.Finding, typ string) []*fleetv1.Evidence {
	var out []*fleetv1.Evidence
	for _, e := range f.GetEvidence() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// changeDetail parses the one change evidence of a finding.
func changeDetail(t *testing.T, f *fleetv1.Finding) analyze.ChangeDetail {
	t.Helper()
	ch := evidence(f, analyze.EvidenceChange)
	require.Len(t, ch, 1, "change evidence of %s", f.Signature)
	var d analyze.ChangeDetail
	require.NoError(t, json.Unmarshal([]byte(ch[0].Detail), &d), ch[0].Detail)
	return d
}

func ptr[T any](v T) *T { return &v }

func running(since time.Time) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(since)}}
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
