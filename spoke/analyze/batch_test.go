package analyze_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

func jobSpec(tpl corev1.PodTemplateSpec) batchv1.JobSpec {
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return batchv1.JobSpec{BackoffLimit: ptr(int32(0)), Template: tpl}
}

// failJobPod waits for the job's pod on the hands-off node and fails it with exit code 1, as
// a kubelet would report (kwok would complete it instead).
func failJobPod(t *testing.T, job *batchv1.Job) {
	t.Helper()
	var pod *corev1.Pod
	require.Eventually(t, func() bool {
		var pods corev1.PodList
		if kube.List(context.Background(), &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}) != nil || len(pods.Items) == 0 {
			return false
		}
		pod = &pods.Items[0]
		return true
	}, time.Minute, 200*time.Millisecond, "job %s has a pod", job.Name)
	setPodStatus(t, pod, corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "migration failed"}}}}})
}

func handsOffTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{handsOffLabel: "true"}},
		Spec: corev1.PodSpec{NodeName: handsOffNode, Tolerations: tolerateAll,
			Containers: []corev1.Container{{Name: "app", Image: "app:v1"}}},
	}
}

func TestJobAnalyzer(t *testing.T) {
	ns := namespace(t, "job-analyzer")
	a := analyze.Job{}
	tests := []struct {
		name  string
		job   *batchv1.Job
		after func(t *testing.T, job *batchv1.Job)
		want  []string
		check func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name:  "pod failed past the backoff limit",
			job:   &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: ns}, Spec: jobSpec(handsOffTemplate())},
			after: failJobPod,
			want:  []string{"job/Failed/BackoffLimitExceeded"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				f := fs["job/Failed/BackoffLimitExceeded"]
				var sawPod, sawLog bool
				for _, e := range f.Evidence {
					sawPod = sawPod || e.Type == analyze.EvidenceStatus && e.Detail == "migration failed"
					sawLog = sawLog || e.Type == analyze.EvidenceLog
				}
				assert.True(t, sawPod, "failed pod's termination is evidence")
				assert.True(t, sawLog, "failed pod's log (or why there is none) is evidence")
			},
		},
		{
			name: "active deadline exceeded",
			job: func() *batchv1.Job {
				spec := jobSpec(unschedulable(podTemplate("late", "app:v1", "")))
				spec.ActiveDeadlineSeconds = ptr(int64(1))
				return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns}, Spec: spec}
			}(),
			want: []string{"job/Failed/DeadlineExceeded"},
		},
		{
			name: "completed",
			job:  &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "fine", Namespace: ns}, Spec: jobSpec(podTemplate("fine", "app:v1", ""))},
			after: func(t *testing.T, job *batchv1.Job) {
				require.Eventually(t, func() bool {
					cur := &batchv1.Job{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(job), cur) == nil && cur.Status.Succeeded == 1
				}, time.Minute, 200*time.Millisecond)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.job)
			if tt.after != nil {
				tt.after(t, tt.job)
			}
			fs := awaitFindings(t, a, input(), "Job", ns, tt.job.Name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

func TestCronJobAnalyzer(t *testing.T) {
	ns := namespace(t, "cronjob-analyzer")
	a := analyze.CronJob{}
	// Suspended, so the cronjob controller starts no run of its own; the test starts the
	// runs as the controller would, as Jobs the CronJob controls.
	cron := func(name string) *batchv1.CronJob {
		return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: batchv1.CronJobSpec{
			Schedule: "0 0 1 1 *", Suspend: ptr(true),
			JobTemplate: batchv1.JobTemplateSpec{Spec: jobSpec(handsOffTemplate())}}}
	}
	run := func(t *testing.T, cj *batchv1.CronJob, tpl corev1.PodTemplateSpec) *batchv1.Job {
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: cj.Name + "-1", Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr(true)}}},
			Spec: jobSpec(tpl)}
		create(t, job)
		return job
	}
	tests := []struct {
		name string
		run  func(t *testing.T, cj *batchv1.CronJob)
		want []string
	}{
		{
			name: "last run failed",
			run:  func(t *testing.T, cj *batchv1.CronJob) { failJobPod(t, run(t, cj, handsOffTemplate())) },
			want: []string{"cronjob/LastJobFailed/BackoffLimitExceeded"},
		},
		{
			name: "last run succeeded",
			run: func(t *testing.T, cj *batchv1.CronJob) {
				job := run(t, cj, podTemplate("ok", "app:v1", ""))
				require.Eventually(t, func() bool {
					cur := &batchv1.Job{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(job), cur) == nil && cur.Status.Succeeded == 1
				}, time.Minute, 200*time.Millisecond)
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := cron("nightly-" + string(rune('a'+i)))
			create(t, cj)
			tt.run(t, cj)
			awaitFindings(t, a, input(), "CronJob", ns, cj.Name, tt.want)
		})
	}
}
