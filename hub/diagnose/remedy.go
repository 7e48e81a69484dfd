package diagnose

import (
	"fmt"
	"strconv"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Prior success probabilities of the built-in remediations, before any fleet knowledge.
const (
	priorRollbackSuspect    = 0.85 // undo the rollout that broke it
	priorRollbackUnknown    = 0.75 // ... to the previous revision, number unknown
	priorScaleBack          = 0.7  // undo a scale-up that cannot be scheduled
	priorRaiseMemory        = 0.7  // more memory for an OOM-killed container
	priorRaiseMemoryRollout = 0.5  // ... when a rollout is the suspect anyway
	priorPatchHPA           = 0.6  // more room for an HPA pinned at max
	priorDeleteStuckPod     = 0.7  // reschedule a pod stuck on a failing node
	priorRestartProbe       = 0.4
	priorDeleteProbe        = 0.35
	priorRollbackOlder      = 0.35 // undo a rollout too old to blame
	priorRestartApp         = 0.3
	priorDeleteApp          = 0.25
	priorDeleteImage        = 0.3 // retry the pull
	priorRestartConfig      = 0.25
	priorRestartOOM         = 0.2
	priorDeleteUnknown      = 0.2
)

// candidates lists the remediations for the diagnosis, unranked.
func candidates(d *Diagnosis, ev []*fleetv1.Evidence, texts map[int]string, suspect, older *parsedChange, changes []parsedChange) []Remediation {
	var out []Remediation
	add := func(a aiopsv1alpha1.ActionType, target ObjectRef, params map[string]string, prior float64, why string) {
		out = append(out, Remediation{Action: a, Target: target, Parameters: params, Prior: prior, Rationale: why})
	}
	var pod *ObjectRef
	if d.Object.Kind == "Pod" && d.Object.Name != "" {
		pod = &d.Object
	}
	work := d.Workload

	raiseMemory := func(prior float64) {
		if work == nil {
			return
		}
		limit, container, idx, ok := memoryLimit(ev, texts, changes)
		if !ok {
			return
		}
		if d.Evidence[idx].Role == RoleContext {
			d.Evidence[idx].Role, d.Evidence[idx].Note = RoleLimit, "current memory limit "+formatMi(limit)
		}
		if container == "" {
			container = containerOf(ev, texts, changes)
		}
		params := map[string]string{"memoryLimit": formatMi(limit + limit/2)}
		if container != "" {
			params["container"] = container
		}
		add(aiopsv1alpha1.ActionSetResources, *work, params, prior,
			fmt.Sprintf("raise the memory limit by half, from %s to %s", formatMi(limit), params["memoryLimit"]))
	}

	if suspect != nil {
		c := suspect.change
		owner := d.SuspectChange.Owner
		switch {
		case onlyReplicas(c):
			if n, ok := replicasBefore(c); ok {
				add(aiopsv1alpha1.ActionScaleWorkload, owner, map[string]string{"replicas": strconv.FormatInt(n, 10)}, priorScaleBack,
					fmt.Sprintf("scale %s back to %d replicas, as before the scale-up that cannot be placed", owner, n))
			}
		case c.FromRevision > 0:
			add(aiopsv1alpha1.ActionRollbackWorkload, owner, map[string]string{"toRevision": strconv.FormatInt(c.FromRevision, 10)}, priorRollbackSuspect,
				fmt.Sprintf("roll %s back to revision %d, the one before the suspect rollout (%s)", owner, c.FromRevision, c.Describe()))
		default:
			add(aiopsv1alpha1.ActionRollbackWorkload, owner, nil, priorRollbackUnknown,
				fmt.Sprintf("roll %s back to its previous revision, before the suspect rollout (%s)", owner, c.Describe()))
		}
		if d.Symptom == CategoryOutOfMemory {
			raiseMemory(priorRaiseMemoryRollout)
		}
		return out
	}

	switch d.Symptom {
	case CategoryOutOfMemory:
		raiseMemory(priorRaiseMemory)
		if work != nil {
			add(aiopsv1alpha1.ActionRestartWorkload, *work, nil, priorRestartOOM, "restart the workload: relief only if memory grows over the pods' lifetime")
		}
	case CategoryImageUnavailable:
		if pod != nil {
			add(aiopsv1alpha1.ActionDeletePod, *pod, nil, priorDeleteImage, "recreate the pod to retry the pull, which helps when the registry was briefly unreachable")
		}
	case CategoryConfigError:
		if work != nil {
			add(aiopsv1alpha1.ActionRestartWorkload, *work, nil, priorRestartConfig, "restart the workload so it picks up a ConfigMap or Secret fixed since")
		}
	case CategoryNodeFailure:
		if pod != nil {
			add(aiopsv1alpha1.ActionDeletePod, *pod, nil, priorDeleteStuckPod, "delete the stuck pod so that its controller recreates it on a healthy node")
		}
	case CategoryCapacityLimit:
		if d.Object.Kind == "HorizontalPodAutoscaler" {
			if n, idx, ok := hpaMax(ev, texts); ok {
				next := max(n+1, (n*3+1)/2)
				if d.Evidence[idx].Role == RoleContext {
					d.Evidence[idx].Role, d.Evidence[idx].Note = RoleLimit, "current maxReplicas "+strconv.FormatInt(n, 10)
				}
				add(aiopsv1alpha1.ActionPatchHPA, d.Object, map[string]string{"maxReplicas": strconv.FormatInt(next, 10)}, priorPatchHPA,
					fmt.Sprintf("raise maxReplicas by half, from %d to %d, so the autoscaler can follow the load", n, next))
			}
		}
	case CategoryProbeFailure:
		if work != nil {
			add(aiopsv1alpha1.ActionRestartWorkload, *work, nil, priorRestartProbe, "restart the workload to clear a wedged process")
		}
		if pod != nil {
			add(aiopsv1alpha1.ActionDeletePod, *pod, nil, priorDeleteProbe, "recreate the failing pod")
		}
	case CategoryDependencyFailure:
		if work != nil {
			add(aiopsv1alpha1.ActionRestartWorkload, *work, nil, priorRestartApp, "restart the workload once the dependency is back, to reset its connections")
		}
	case CategoryApplicationError:
		if work != nil {
			add(aiopsv1alpha1.ActionRestartWorkload, *work, nil, priorRestartApp, "restart the workload: helps with state gone bad, not with a bug")
		}
		if pod != nil {
			add(aiopsv1alpha1.ActionDeletePod, *pod, nil, priorDeleteApp, "recreate the failing pod")
		}
	case CategoryUnknown:
		if pod != nil {
			add(aiopsv1alpha1.ActionDeletePod, *pod, nil, priorDeleteUnknown, "recreate the pod")
		}
	}
	if older != nil && older.change.FromRevision > 0 && !onlyReplicas(older.change) {
		owner := ownerRef(older.change, d.Object)
		add(aiopsv1alpha1.ActionRollbackWorkload, owner, map[string]string{"toRevision": strconv.FormatInt(older.change.FromRevision, 10)}, priorRollbackOlder,
			fmt.Sprintf("roll %s back to revision %d; its last rollout (%s) was %s before the failure, so it is a weak suspect",
				owner, older.change.FromRevision, older.change.Describe(), roundDur(older.lead)))
	}
	return out
}

func onlyReplicas(c Change) bool {
	if len(c.Changes) == 0 {
		return false
	}
	for _, fc := range c.Changes {
		if fc.Field != FieldReplicas {
			return false
		}
	}
	return true
}

func replicasBefore(c Change) (int64, bool) {
	for _, fc := range c.Changes {
		if fc.Field == FieldReplicas {
			n, err := strconv.ParseInt(string(fc.From), 10, 64)
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

func hpaMax(ev []*fleetv1.Evidence, texts map[int]string) (int64, int, bool) {
	for i := range ev {
		if _, ok := texts[i]; !ok {
			continue
		}
		if m := maxReplicasRe.FindStringSubmatch(ev[i].GetSummary() + "\n" + ev[i].GetDetail()); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 && n < 1<<20 {
				return n, i, true
			}
		}
	}
	return 0, 0, false
}

// rank orders the candidates by what the fleet learned for the incident signature.
func rank(signature string, cands []Remediation, in Input, opts Options) []Remediation {
	kc := make([]knowledge.Candidate, len(cands))
	for i, c := range cands {
		kc[i] = knowledge.Candidate{ActionType: c.Action, Prior: c.Prior}
	}
	ranked := knowledge.Rank(signature, kc, in.Knowledge, opts.Knowledge)
	out := make([]Remediation, 0, len(ranked))
	for _, r := range ranked {
		c := cands[r.Index]
		c.Confidence, c.LowerBound = round4(r.Confidence), round4(r.LowerBound)
		c.Successes, c.Failures, c.Unsafe = r.Successes, r.Failures, r.Unsafe
		out = append(out, c)
	}
	return out
}
