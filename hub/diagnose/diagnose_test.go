package diagnose

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

var (
	t0  = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pod = &fleetv1.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9f8b6c5d-x2k9p"}
	web = ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
)

func changeJSON(at time.Time, from, to int64, changes string) string {
	return fmt.Sprintf(`{"owner":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},"fromRevision":%d,"toRevision":%d,"changedAt":%q,"changes":[%s]}`,
		from, to, at.Format(time.RFC3339), changes)
}

const imageChange = `{"field":"image","container":"app","from":"web:v1","to":"web:v2"}`

func ev(typ, summary, detail string) *fleetv1.Evidence {
	return &fleetv1.Evidence{Type: typ, Summary: summary, Detail: detail}
}

func finding(sig string, obj *fleetv1.ObjectRef, evidence ...*fleetv1.Evidence) *fleetv1.Finding {
	return &fleetv1.Finding{
		Analyzer: strings.SplitN(sig, "/", 2)[0], Signature: sig, Severity: fleetv1.Severity_SEVERITY_HIGH,
		Object: obj, Evidence: evidence, ObservedAt: timestamppb.New(t0.Add(2 * time.Minute)),
		FirstObservedAt: timestamppb.New(t0),
	}
}

func diagnose(t *testing.T, f *fleetv1.Finding, entries ...hubv1alpha1.KnowledgeEntry) Diagnosis {
	t.Helper()
	d, err := Diagnose(Input{Cluster: "east", Finding: f, Now: t0.Add(5 * time.Minute), Knowledge: entries})
	require.NoError(t, err)
	return d
}

func actions(d Diagnosis) []aiopsv1alpha1.ActionType {
	var out []aiopsv1alpha1.ActionType
	for _, r := range d.Remediations {
		out = append(out, r.Action)
	}
	return out
}

var crashLogs = strings.Join(clusterALog, "\n")

func TestDiagnoseRolloutJustBeforeCrashLoop(t *testing.T) {
	f := finding("pod/CrashLoopBackOff", pod,
		ev("event", "Back-off restarting failed container app", "Back-off restarting failed container app in pod web-7d9f8b6c5d-x2k9p"),
		ev("log", "last 6 lines of app", crashLogs),
		ev("change", "Deployment shop/web revision 2 -> 3", changeJSON(t0.Add(-4*time.Minute), 2, 3, imageChange)),
	)
	d := diagnose(t, f)

	assert.Equal(t, CategoryBadRollout, d.Category)
	assert.GreaterOrEqual(t, d.Confidence, 0.9)
	require.NotNil(t, d.SuspectChange)
	assert.Equal(t, "image:app=web:v2", d.SuspectChange.Key)
	assert.Equal(t, web, d.SuspectChange.Owner)
	assert.Equal(t, 4*time.Minute, d.SuspectChange.Lead)
	assert.Equal(t, 2, d.SuspectChange.EvidenceIndex)
	assert.Equal(t, RoleSuspectChange, d.Evidence[2].Role)
	assert.Equal(t, RoleLogs, d.Evidence[1].Role)
	require.NotNil(t, d.LogTemplate)
	assert.Equal(t, "pod/CrashLoopBackOff:"+d.LogTemplate.ID, d.Signature)
	assert.Contains(t, d.LogTemplate.Text, "ERROR failed to connect to postgres")

	require.NotEmpty(t, d.Remediations)
	top := d.Remediations[0]
	assert.Equal(t, aiopsv1alpha1.ActionRollbackWorkload, top.Action)
	assert.Equal(t, web, top.Target, "the Deployment, not the pod")
	assert.Equal(t, map[string]string{"toRevision": "2"}, top.Parameters)
	assert.InDelta(t, 0.85, top.Prior, 1e-9)
	assert.InDelta(t, 0.85, top.Confidence, 1e-4, "no knowledge: the prior's mean")
	assert.Contains(t, d.Hypothesis, "revision 3")
}

func TestDiagnoseOlderChangeLowersConfidence(t *testing.T) {
	recent := diagnose(t, finding("pod/CrashLoopBackOff", pod,
		ev("log", "", crashLogs), ev("change", "", changeJSON(t0.Add(-4*time.Minute), 2, 3, imageChange))))
	edge := diagnose(t, finding("pod/CrashLoopBackOff", pod,
		ev("log", "", crashLogs), ev("change", "", changeJSON(t0.Add(-29*time.Minute), 2, 3, imageChange))))
	older := diagnose(t, finding("pod/CrashLoopBackOff", pod,
		ev("log", "", crashLogs), ev("change", "", changeJSON(t0.Add(-3*time.Hour), 2, 3, imageChange))))
	none := diagnose(t, finding("pod/CrashLoopBackOff", pod, ev("log", "", crashLogs)))

	assert.Equal(t, recent.Signature, older.Signature, "same incident signature")
	assert.Equal(t, CategoryBadRollout, edge.Category)
	assert.Less(t, edge.Confidence, recent.Confidence, "an older change within the window is less likely")
	assert.NotEqual(t, CategoryBadRollout, older.Category)
	assert.Nil(t, older.SuspectChange)
	assert.Less(t, older.Confidence, edge.Confidence)
	assert.Equal(t, RoleOlderChange, older.Evidence[1].Role)
	assert.Equal(t, CategoryDependencyFailure, older.Category, "the logs say connection refused")

	// The older rollout is still offered, with a low prior, after the symptom's own fixes.
	var rb *Remediation
	for i, r := range older.Remediations {
		if r.Action == aiopsv1alpha1.ActionRollbackWorkload {
			rb = &older.Remediations[i]
		}
	}
	require.NotNil(t, rb)
	assert.Equal(t, "2", rb.Parameters["toRevision"])
	assert.Less(t, rb.Confidence, recent.Remediations[0].Confidence)
	assert.NotContains(t, actions(none), aiopsv1alpha1.ActionRollbackWorkload)
}

func TestDiagnoseCategories(t *testing.T) {
	hpa := &fleetv1.ObjectRef{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"}
	node := &fleetv1.ObjectRef{Version: "v1", Kind: "Node", Name: "node-1"}
	deploy := &fleetv1.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	tests := []struct {
		name       string
		finding    *fleetv1.Finding
		category   Category
		symptom    Category
		actions    []aiopsv1alpha1.ActionType
		params     map[string]string // of the first remediation
		target     *ObjectRef        // of the first remediation
		minConf    float64
		maxConf    float64
		symptomIdx []int
	}{
		{
			name: "OOM with the limit in the status",
			finding: finding("pod/OOMKilled", pod,
				ev("status", "container app terminated: OOMKilled", `container=app reason=OOMKilled exitCode=137 limits.memory=512Mi`)),
			category: CategoryOutOfMemory, symptom: CategoryOutOfMemory,
			actions: []aiopsv1alpha1.ActionType{"SetResources", "RestartWorkload"},
			params:  map[string]string{"container": "app", "memoryLimit": "768Mi"}, target: &web,
			minConf: 0.85, symptomIdx: []int{0},
		},
		{
			name: "crash loop whose status shows OOMKilled is an OOM",
			finding: finding("pod/CrashLoopBackOff", pod,
				ev("status", "last state terminated", `{"container":"app","lastState":{"reason":"OOMKilled"},"resources":{"limits":{"memory":"1Gi"}}}`)),
			category: CategoryOutOfMemory, symptom: CategoryOutOfMemory,
			actions: []aiopsv1alpha1.ActionType{"SetResources", "RestartWorkload"},
			params:  map[string]string{"container": "app", "memoryLimit": "1536Mi"}, symptomIdx: []int{0},
		},
		{
			name: "OOM after a rollout that lowered the limit blames the rollout",
			finding: finding("pod/OOMKilled", pod,
				ev("change", "", changeJSON(t0.Add(-2*time.Minute), 5, 6,
					`{"field":"resources","container":"app","from":{"limits":{"memory":"1Gi"}},"to":{"limits":{"memory":"256Mi"}}}`))),
			category: CategoryBadRollout, symptom: CategoryOutOfMemory,
			actions: []aiopsv1alpha1.ActionType{"RollbackWorkload", "SetResources"},
			params:  map[string]string{"toRevision": "5"}, minConf: 0.9,
		},
		{
			name: "image pull failure",
			finding: finding("pod/ImagePullBackOff", pod,
				ev("event", "Failed", `Failed to pull image "web:v9": manifest unknown`)),
			category: CategoryImageUnavailable, symptom: CategoryImageUnavailable,
			actions: []aiopsv1alpha1.ActionType{"DeletePod"}, minConf: 0.85, symptomIdx: []int{0},
			target: &ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9f8b6c5d-x2k9p"},
		},
		{
			name: "image pull failure right after an image rollout",
			finding: finding("pod/ErrImagePull", pod,
				ev("change", "", changeJSON(t0.Add(-1*time.Minute), 2, 3, imageChange))),
			category: CategoryBadRollout, symptom: CategoryImageUnavailable,
			actions: []aiopsv1alpha1.ActionType{"RollbackWorkload"}, params: map[string]string{"toRevision": "2"}, minConf: 0.9,
		},
		{
			name: "config error",
			finding: finding("pod/CreateContainerConfigError", pod,
				ev("event", "Failed", `Error: couldn't find key DB_URL in ConfigMap shop/web-config`)),
			category: CategoryConfigError, symptom: CategoryConfigError,
			actions: []aiopsv1alpha1.ActionType{"RestartWorkload"}, minConf: 0.75,
		},
		{
			name: "crash loop with configuration errors in the logs",
			finding: finding("pod/CrashLoopBackOff", pod,
				ev("log", "", "starting\nfatal: invalid value for LISTEN_PORT: environment variable not set")),
			category: CategoryConfigError, symptom: CategoryConfigError,
			actions: []aiopsv1alpha1.ActionType{"RestartWorkload"},
		},
		{
			name: "unschedulable",
			finding: finding("pod/Unschedulable", pod,
				ev("event", "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.")),
			category: CategoryUnschedulable, symptom: CategoryUnschedulable, minConf: 0.8,
		},
		{
			name: "unschedulable after a scale-up scales back",
			finding: finding("pod/Unschedulable", pod,
				ev("event", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu."),
				ev("change", "", changeJSON(t0.Add(-3*time.Minute), 0, 0, `{"field":"replicas","from":3,"to":12}`))),
			category: CategoryBadRollout, symptom: CategoryUnschedulable,
			actions: []aiopsv1alpha1.ActionType{"ScaleWorkload"}, params: map[string]string{"replicas": "3"}, target: &web,
		},
		{
			name:     "node not ready",
			finding:  finding("node/NotReady", node, ev("status", "Ready=False", "kubelet stopped posting node status")),
			category: CategoryNodeFailure, symptom: CategoryNodeFailure,
		},
		{
			name: "pod stuck terminating on a lost node",
			finding: finding("pod/StuckTerminating", pod,
				ev("event", "NodeNotReady", "Node is not ready")),
			category: CategoryNodeFailure, symptom: CategoryNodeFailure,
			actions: []aiopsv1alpha1.ActionType{"DeletePod"},
		},
		{
			name: "a crash after a replicas-only change does not blame it",
			finding: finding("pod/CrashLoopBackOff", pod,
				ev("change", "", changeJSON(t0.Add(-3*time.Minute), 0, 0, `{"field":"replicas","from":3,"to":4}`))),
			category: CategoryApplicationError, symptom: CategoryApplicationError,
			actions: []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod"},
		},
		{
			name: "probe failure",
			finding: finding("pod/LivenessProbeFailed", pod,
				ev("event", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")),
			category: CategoryProbeFailure, symptom: CategoryProbeFailure,
			actions: []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod"},
		},
		{
			name: "HPA pinned at max",
			finding: finding("hpa/PinnedAtMaxReplicas", hpa,
				ev("status", "at max for 30m", "currentReplicas=10 desiredReplicas=10 maxReplicas=10")),
			category: CategoryCapacityLimit, symptom: CategoryCapacityLimit,
			actions: []aiopsv1alpha1.ActionType{"PatchHPA"}, params: map[string]string{"maxReplicas": "15"},
			target: &ObjectRef{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"},
		},
		{
			name: "plain application crash",
			finding: finding("pod/CrashLoopBackOff", pod,
				ev("log", "", "panic: runtime error: index out of range [3] with length 3\ngoroutine 1 [running]:")),
			category: CategoryApplicationError, symptom: CategoryApplicationError,
			actions: []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod"}, maxConf: 0.6,
		},
		{
			name: "stuck rollout of a deployment",
			finding: finding("deployment/ProgressDeadlineExceeded", deploy,
				ev("change", "", changeJSON(t0.Add(-10*time.Minute), 7, 8, `{"field":"env","container":"app","from":"MODE=a","to":"MODE=b"}`))),
			category: CategoryBadRollout, symptom: CategoryApplicationError,
			actions: []aiopsv1alpha1.ActionType{"RollbackWorkload"}, params: map[string]string{"toRevision": "7"}, target: &web,
		},
		{
			name: "storage",
			finding: finding("pvc/Pending", &fleetv1.ObjectRef{Version: "v1", Kind: "PersistentVolumeClaim", Namespace: "shop", Name: "data"},
				ev("event", "ProvisioningFailed", "storageclass.storage.k8s.io \"fast\" not found")),
			category: CategoryStorageUnavailable, symptom: CategoryStorageUnavailable,
		},
		{
			name:     "unknown",
			finding:  finding("service/Weird", &fleetv1.ObjectRef{Version: "v1", Kind: "Service", Namespace: "shop", Name: "web"}),
			category: CategoryUnknown, symptom: CategoryUnknown, maxConf: 0.3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diagnose(t, tt.finding)
			assert.Equal(t, tt.category, d.Category)
			assert.Equal(t, tt.symptom, d.Symptom)
			assert.Equal(t, tt.actions, actions(d))
			if tt.params != nil {
				require.NotEmpty(t, d.Remediations)
				assert.Equal(t, tt.params, d.Remediations[0].Parameters)
			}
			if tt.target != nil {
				require.NotEmpty(t, d.Remediations)
				assert.Equal(t, *tt.target, d.Remediations[0].Target)
			}
			if tt.minConf > 0 {
				assert.GreaterOrEqual(t, d.Confidence, tt.minConf)
			}
			if tt.maxConf > 0 {
				assert.LessOrEqual(t, d.Confidence, tt.maxConf)
			}
			for _, i := range tt.symptomIdx {
				assert.Equal(t, RoleSymptom, d.Evidence[i].Role)
			}
			assert.True(t, d.Confidence >= 0 && d.Confidence <= 1)
			for _, r := range d.Remediations {
				assert.NotEmpty(t, r.Rationale)
				assert.True(t, r.Prior > 0 && r.Prior < 1)
			}
		})
	}
}

func TestDiagnoseMalformedChange(t *testing.T) {
	d := diagnose(t, finding("pod/CrashLoopBackOff", pod,
		ev("change", "", `{"owner":{"kind":"Deployment"`),
		ev("change", "", changeJSON(t0.Add(-time.Minute), 2, 3, imageChange))))
	assert.Equal(t, RoleMalformedChange, d.Evidence[0].Role)
	require.Len(t, d.Warnings, 1)
	assert.Contains(t, d.Warnings[0], "evidence 0")
	assert.Equal(t, CategoryBadRollout, d.Category, "the valid change is still used")

	alone := diagnose(t, finding("pod/CrashLoopBackOff", pod, ev("change", "", `not json`)))
	assert.Equal(t, CategoryApplicationError, alone.Category)
	assert.Nil(t, alone.SuspectChange)
}

func TestDiagnoseChangeAfterFailureIsNotBlamed(t *testing.T) {
	d := diagnose(t, finding("pod/CrashLoopBackOff", pod,
		ev("change", "", changeJSON(t0.Add(time.Minute), 2, 3, imageChange))))
	assert.Nil(t, d.SuspectChange)
	assert.Equal(t, RoleLaterChange, d.Evidence[0].Role)
}

func TestDiagnoseWindowConfigurable(t *testing.T) {
	f := finding("pod/CrashLoopBackOff", pod, ev("change", "", changeJSON(t0.Add(-45*time.Minute), 2, 3, imageChange)))
	d, err := Diagnose(Input{Cluster: "east", Finding: f, Now: t0, Options: Options{ChangeWindow: time.Hour}})
	require.NoError(t, err)
	assert.Equal(t, CategoryBadRollout, d.Category)
	assert.Equal(t, CategoryApplicationError, diagnose(t, f).Category, "outside the default 30m")
}

func TestDiagnoseKnowledgePromotesAndDemotes(t *testing.T) {
	f := func() *fleetv1.Finding {
		return finding("pod/CrashLoopBackOff", pod, ev("log", "", "panic: boom"))
	}
	base := diagnose(t, f())
	require.Equal(t, []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod"}, actions(base))

	// DeletePod worked for this signature in other clusters: proposed first, with more confidence.
	e := knowledge.NewEntry(base.Signature, aiopsv1alpha1.ActionDeletePod)
	for range 3 {
		e = knowledge.Record(e, true, t0)
	}
	promoted := diagnose(t, f(), e)
	assert.Equal(t, []aiopsv1alpha1.ActionType{"DeletePod", "RestartWorkload"}, actions(promoted))
	assert.Greater(t, promoted.Remediations[0].Confidence, base.Remediations[1].Confidence)
	assert.Equal(t, int64(3), promoted.Remediations[0].Successes)

	// RestartWorkload failed twice: demoted and marked unsafe.
	r := knowledge.Record(knowledge.Record(knowledge.NewEntry(base.Signature, aiopsv1alpha1.ActionRestartWorkload), false, t0), false, t0)
	demoted := diagnose(t, f(), r)
	assert.Equal(t, []aiopsv1alpha1.ActionType{"DeletePod", "RestartWorkload"}, actions(demoted))
	assert.True(t, demoted.Remediations[1].Unsafe)
}

func TestDiagnoseCrossClusterSameSignature(t *testing.T) {
	podB := &fleetv1.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-5f6d7c8b9-q4w8z"}
	a := diagnose(t, finding("pod/CrashLoopBackOff", pod, ev("log", "", strings.Join(clusterALog, "\n"))))
	b, err := Diagnose(Input{Cluster: "west", Finding: finding("pod/CrashLoopBackOff", podB, ev("log", "", strings.Join(clusterBLog, "\n"))), Now: t0})
	require.NoError(t, err)
	assert.Equal(t, a.Signature, b.Signature)
	assert.Equal(t, a.LogTemplate, b.LogTemplate)
}

func TestDiagnoseDeterministic(t *testing.T) {
	in := func() Input {
		return Input{Cluster: "east", Now: t0, Finding: finding("pod/CrashLoopBackOff", pod,
			ev("event", "BackOff", "Back-off restarting failed container"),
			ev("status", "", "container=app limits.memory=512Mi"),
			ev("log", "", crashLogs),
			ev("change", "", changeJSON(t0.Add(-4*time.Minute), 2, 3, imageChange)),
			ev("change", "", changeJSON(t0.Add(-5*time.Hour), 1, 2, imageChange)),
		), Knowledge: []hubv1alpha1.KnowledgeEntry{knowledge.NewEntry("x", aiopsv1alpha1.ActionDeletePod)}}
	}
	first, err := Diagnose(in())
	require.NoError(t, err)
	want, err := json.Marshal(first)
	require.NoError(t, err)
	for range 20 {
		d, err := Diagnose(in())
		require.NoError(t, err)
		got, err := json.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
}

func TestDiagnoseRefusesBadInput(t *testing.T) {
	for name, in := range map[string]Input{
		"no finding":   {Cluster: "c", Now: t0},
		"no signature": {Cluster: "c", Now: t0, Finding: &fleetv1.Finding{}},
		"no cluster":   {Now: t0, Finding: finding("pod/X", pod)},
		"no time":      {Cluster: "c", Finding: finding("pod/X", pod)},
	} {
		_, err := Diagnose(in)
		assert.Error(t, err, name)
	}
}

func TestDigests(t *testing.T) {
	in := Input{Cluster: "east", Now: t0, Finding: finding("pod/CrashLoopBackOff", pod, ev("log", "", "panic: boom")),
		Knowledge: []hubv1alpha1.KnowledgeEntry{
			knowledge.NewEntry("a", aiopsv1alpha1.ActionDeletePod), knowledge.NewEntry("b", aiopsv1alpha1.ActionDeletePod)}}
	d1, err := InputDigest(in)
	require.NoError(t, err)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, d1)

	// Knowledge order and time zones do not matter; content does.
	same := in
	same.Knowledge = []hubv1alpha1.KnowledgeEntry{in.Knowledge[1], in.Knowledge[0]}
	same.Now = t0.In(time.FixedZone("x", 7200))
	d2, err := InputDigest(same)
	require.NoError(t, err)
	assert.Equal(t, d1, d2)

	other := in
	other.Cluster = "west"
	d3, err := InputDigest(other)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d3)

	changedEvidence := in
	changedEvidence.Finding = finding("pod/CrashLoopBackOff", pod, ev("log", "", "panic: bang"))
	d4, err := InputDigest(changedEvidence)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d4)

	_, err = InputDigest(Input{})
	assert.Error(t, err)

	diag, err := Diagnose(in)
	require.NoError(t, err)
	x, err := DiagnosisDigest(diag)
	require.NoError(t, err)
	diag2, err := Diagnose(same)
	require.NoError(t, err)
	y, err := DiagnosisDigest(diag2)
	require.NoError(t, err)
	assert.Equal(t, x, y)
	diag2.Confidence += 0.01
	z, err := DiagnosisDigest(diag2)
	require.NoError(t, err)
	assert.NotEqual(t, x, z)
}

func TestShortSymptomWordsStartAWord(t *testing.T) {
	assert.True(t, containsAny("pod/oomkilled", []string{"oom"}))
	assert.False(t, containsAny("hpa/scalinglimited/toomanyreplicas", []string{"oom"}), "not inside another word")
	assert.True(t, containsAny("node/memorypressure", []string{"pressure"}), "longer words match anywhere")
}
