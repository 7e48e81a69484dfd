package analyze

import (
	"context"
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Job reports Jobs that failed (backoff limit, deadline, pod failure policy).
type Job struct{}

// Name implements Analyzer.
func (Job) Name() string { return "job" }

// Analyze implements Analyzer.
func (Job) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list batchv1.JobList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		j := &list.Items[i]
		c := jobFailed(j)
		if c == nil {
			continue
		}
		f := finding(in, "job", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkJob, j),
			fmt.Sprintf("job failed (%s): %s", c.Reason, c.Message), "Failed", signaturePart(or(c.Reason, "Unknown")))
		f.Evidence = append(f.Evidence,
			statusEvidence(in, "Failed=True, reason "+c.Reason, c.Message),
			statusEvidence(in, "pod counts", fmt.Sprintf("%d active, %d succeeded, %d failed", j.Status.Active, j.Status.Succeeded, j.Status.Failed)))
		f.Evidence = append(f.Evidence, eventEvidence(ctx, in, j.Namespace, string(j.UID), false)...)
		f.Evidence = append(f.Evidence, failedJobPodLog(ctx, in, j)...)
		out = append(out, f)
	}
	return out, nil
}

func jobFailed(j *batchv1.Job) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		c := &j.Status.Conditions[i]
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// failedJobPodLog is the log tail of the newest failed pod of the job, if any is left.
func failedJobPodLog(ctx context.Context, in Input, j *batchv1.Job) []*fleetv1.Evidence {
	var pods corev1.PodList
	if err := in.Reader.List(ctx, &pods, client.InNamespace(j.Namespace), client.MatchingLabels{batchv1.JobNameLabel: j.Name}); err != nil {
		return nil
	}
	var failed []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase == corev1.PodFailed {
			if c := metav1.GetControllerOf(p); c != nil && c.UID == j.UID {
				failed = append(failed, p)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	sort.Slice(failed, func(a, b int) bool { return failed[a].CreationTimestamp.After(failed[b].CreationTimestamp.Time) })
	p := failed[0]
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return []*fleetv1.Evidence{
				statusEvidence(in, fmt.Sprintf("pod %s container %s terminated: %s, exit code %d", p.Name, cs.Name, t.Reason, t.ExitCode), t.Message),
				logEvidence(ctx, in, p, cs.Name, false),
			}
		}
	}
	return nil
}

// CronJob reports CronJobs whose most recent Job failed.
type CronJob struct{}

// Name implements Analyzer.
func (CronJob) Name() string { return "cronjob" }

// Analyze implements Analyzer.
func (CronJob) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list batchv1.CronJobList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list cronjobs: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	var jobs batchv1.JobList
	if err := in.Reader.List(ctx, &jobs); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	newest := map[string]*batchv1.Job{}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		c := metav1.GetControllerOf(j)
		if c == nil || c.Kind != "CronJob" {
			continue
		}
		if cur := newest[string(c.UID)]; cur == nil || j.CreationTimestamp.After(cur.CreationTimestamp.Time) {
			newest[string(c.UID)] = j
		}
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		cj := &list.Items[i]
		j := newest[string(cj.UID)]
		if j == nil {
			continue
		}
		c := jobFailed(j)
		if c == nil {
			continue
		}
		f := finding(in, "cronjob", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkCronJob, cj),
			fmt.Sprintf("last run %s failed (%s): %s", j.Name, c.Reason, c.Message), "LastJobFailed", signaturePart(or(c.Reason, "Unknown")))
		ev := statusEvidence(in, "last job Failed=True, reason "+c.Reason, c.Message)
		ev.Source = ref(gvkJob, j)
		f.Evidence = append(f.Evidence, ev)
		if cj.Status.LastSuccessfulTime != nil {
			f.Evidence = append(f.Evidence, statusEvidence(in, "last successful run", cj.Status.LastSuccessfulTime.UTC().String()))
		}
		f.Evidence = append(f.Evidence, eventEvidence(ctx, in, cj.Namespace, string(cj.UID), true)...)
		f.Evidence = append(f.Evidence, failedJobPodLog(ctx, in, j)...)
		out = append(out, f)
	}
	return out, nil
}
