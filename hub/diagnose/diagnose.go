package diagnose

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Evidence types the spoke sends.
const (
	EvidenceEvent  = "event"
	EvidenceStatus = "status"
	EvidenceLog    = "log"
	EvidenceChange = "change"
)

// symptomRule recognises one symptom: by words in the finding's signature, or (when byEvidence)
// by words in its event and status evidence and summary. Rules are tried in order; the first
// that matches wins, so specific causes (OOM, image) come before generic ones (crash loop).
type symptomRule struct {
	category      Category
	sigWords      []string
	evidenceWords []string
	confidence    float64
}

func symptomRules() []symptomRule {
	return []symptomRule{
		{CategoryOutOfMemory, []string{"oom"}, []string{"oomkilled", "exit code 137", "exitcode: 137", "exitcode=137", "out of memory"}, 0.85},
		{CategoryImageUnavailable, []string{"imagepull", "errimagepull", "invalidimagename", "imageinspecterror", "errimageneverpull"},
			[]string{"imagepullbackoff", "errimagepull", "invalidimagename", "failed to pull image", "manifest unknown", "pull access denied"}, 0.85},
		{CategoryConfigError, []string{"createcontainerconfigerror", "createcontainererror", "configerror", "runcontainererror"},
			[]string{"createcontainerconfigerror", "couldn't find key", "configmap \"", "secret \"", "not found in secret"}, 0.75},
		{CategoryUnschedulable, []string{"unschedulable", "failedscheduling"},
			[]string{"failedscheduling", "unschedulable", "insufficient cpu", "insufficient memory", "didn't match", "untolerated taint"}, 0.8},
		{CategoryNodeFailure, []string{"node/", "notready", "nodelost", "pressure", "terminating", "stuck"},
			[]string{"nodenotready", "node is not ready", "nodelost", "node lost"}, 0.75},
		{CategoryStorageUnavailable, []string{"pvc/", "persistentvolumeclaim", "failedmount", "failedattach"},
			[]string{"failedmount", "failedattachvolume", "provisioningfailed"}, 0.7},
		{CategoryCapacityLimit, []string{"hpa/", "quota", "maxreplicas", "scalinglimited"},
			[]string{"exceeded quota", "scalinglimited"}, 0.75},
		{CategoryProbeFailure, []string{"probe", "unhealthy", "liveness", "readiness"}, nil, 0.6},
		{CategoryApplicationError, []string{"crashloop", "restart", "error", "backofflimit", "failed", "progressdeadline", "unavailable", "notavailable"}, nil, 0.45},
	}
}

// Words in mined log templates that refine an application error.
func configLogWords() []string {
	return []string{"config", "no such file", "missing required", "invalid value", "environment variable", "not set", "unknown flag", "permission denied", "is required"}
}

func dependencyLogWords() []string {
	return []string{"connection refused", "no such host", "i/o timeout", "dial tcp", "connection reset", "could not connect", "failed to connect", "unavailable", "deadline exceeded"}
}

func errorLogWords() []string {
	return []string{"error", "fatal", "panic", "exception", "fail", "refused", "denied", "killed", "timeout", "timed out", "cannot", "can't", "unable", "invalid", "not found", "no such", "missing", "forbidden", "unauthorized", "out of memory", "segmentation", "traceback", "crash"}
}

// Confidence of a BadRollout: ChangeRolloutMax for a rollout right before the failure, falling
// linearly to ChangeRolloutMin at the edge of the change window.
const (
	changeRolloutMax = 0.95
	changeRolloutMin = 0.7
)

var (
	memoryLimitRe = regexp.MustCompile(`(?i)(?:memory[_ ]?limits?|limits\.memory|limits?[ =:]+memory)["']?\s*[:=]\s*["']?([0-9.]+(?:[KMGTPE]i?|[kmgtpe])?)\b`)
	jsonMemoryRe  = regexp.MustCompile(`"limits"\s*:\s*\{[^}]*"memory"\s*:\s*"([^"]+)"`)
	containerRe   = regexp.MustCompile(`(?i)\bcontainer(?:name)?["']?\s*[:= ]\s*["']?([a-z0-9]([-a-z0-9]*[a-z0-9])?)\b`)
	maxReplicasRe = regexp.MustCompile(`(?i)maxReplicas["']?\s*[:=]\s*["']?(\d+)`)
)

// parsedChange is one change evidence item that parsed.
type parsedChange struct {
	index  int
	change Change
	lead   time.Duration // failure start - changedAt
}

// Diagnose explains one finding. It is a pure function of its input: no clock, no network, no
// map iteration order; the same Input gives the same Diagnosis, byte for byte once encoded.
//
// How: the finding's log lines (the last Options.MaxLogLines) are mined into templates (Mine)
// and the dominant one, preferring templates that read like errors, then the most lines, extends
// the signature. The symptom comes from the signature and the event and status evidence (see
// the categories). A rollout of the owner at most ChangeWindow before the failure started, of a
// kind that can cause the symptom, is the suspect: the root cause is then BadRollout with
// confidence 0.95 for a rollout right before, down to 0.7 at the window's edge, and rolling back
// to its fromRevision leads the candidates. Without one the root cause is the symptom, with that
// symptom's lower confidence, and an older rollout (within StaleChangeWindow) only adds a
// low-prior rollback. Candidates are ranked by knowledge.Rank over Input.Knowledge.
func Diagnose(in Input) (Diagnosis, error) {
	f := in.Finding
	switch {
	case f == nil:
		return Diagnosis{}, errors.New("diagnose: no finding")
	case f.GetSignature() == "":
		return Diagnosis{}, errors.New("diagnose: finding has no signature")
	case in.Cluster == "":
		return Diagnosis{}, errors.New("diagnose: no cluster name")
	case in.Now.IsZero():
		return Diagnosis{}, errors.New("diagnose: Now is not set")
	}
	opts := in.Options.withDefaults()
	d := Diagnosis{
		Engine:           Engine,
		Cluster:          in.Cluster,
		FindingSignature: f.GetSignature(),
		Signature:        f.GetSignature(),
		Object:           RefFromProto(f.GetObject()),
		FailureStartedAt: failureStart(in),
		Evidence:         []EvidenceUse{},
		Remediations:     []Remediation{},
	}

	// Read the evidence.
	var (
		lines   []string
		changes []parsedChange
		texts   = map[int]string{} // event and status text by evidence index
	)
	for i, e := range f.GetEvidence() {
		use := EvidenceUse{Index: i, Type: e.GetType(), Summary: clip(e.GetSummary(), 200), Role: RoleContext}
		switch e.GetType() {
		case EvidenceLog:
			for l := range strings.SplitSeq(e.GetDetail(), "\n") {
				if strings.TrimSpace(l) != "" {
					lines = append(lines, l)
				}
			}
			use.Role = RoleLogs
		case EvidenceChange:
			c, err := ParseChange(e.GetDetail())
			if err != nil {
				use.Role, use.Note = RoleMalformedChange, err.Error()
				d.Warnings = append(d.Warnings, fmt.Sprintf("evidence %d: %v; diagnosed without it", i, err))
				break
			}
			changes = append(changes, parsedChange{index: i, change: c, lead: d.FailureStartedAt.Sub(c.ChangedAt)})
		default:
			texts[i] = strings.ToLower(e.GetSummary() + "\n" + e.GetDetail())
		}
		d.Evidence = append(d.Evidence, use)
	}
	if len(lines) > opts.MaxLogLines {
		lines = lines[len(lines)-opts.MaxLogLines:]
	}

	// Log templates.
	if len(lines) > 0 {
		ts := mine(NewMasker(), lines, opts.Miner)
		dom := dominant(ts)
		d.LogTemplate = &dom
		d.Templates = ts[:min(len(ts), 5)]
		d.Signature = f.GetSignature() + ":" + dom.ID
	}

	// Symptom.
	symptom, symptomConf, symptomIdx := classify(f.GetSignature(), f.GetSummary(), texts)
	if symptom == CategoryApplicationError && d.LogTemplate != nil {
		symptom, symptomConf = refineByLogs(d.Templates, symptomConf)
	}
	d.Symptom = symptom
	for _, i := range symptomIdx {
		d.Evidence[i].Role, d.Evidence[i].Note = RoleSymptom, "identifies "+string(symptom)
	}

	// Changes: the most recent relevant rollout within the window is the suspect.
	var suspect, older *parsedChange
	slices.SortStableFunc(changes, func(a, b parsedChange) int { return cmp.Compare(a.lead, b.lead) })
	for k := range changes {
		c := &changes[k]
		use := &d.Evidence[c.index]
		switch {
		case c.lead < 0:
			use.Role, use.Note = RoleLaterChange, fmt.Sprintf("rollout %s after the failure started", roundDur(-c.lead))
		case !relevant(c.change, symptom):
			use.Role, use.Note = RoleUnrelatedChange, fmt.Sprintf("a %s change does not cause %s", fieldsOf(c.change), symptom)
		case c.lead <= opts.ChangeWindow && suspect == nil:
			suspect = c
			use.Role, use.Note = RoleSuspectChange, fmt.Sprintf("rollout %s before the failure started, within the %s window", roundDur(c.lead), roundDur(opts.ChangeWindow))
		case c.lead <= opts.ChangeWindow:
			use.Role, use.Note = RoleOlderChange, "an earlier rollout within the window; the latest one is the suspect"
		default:
			use.Role, use.Note = RoleOlderChange, fmt.Sprintf("rollout %s before the failure started, outside the %s window", roundDur(c.lead), roundDur(opts.ChangeWindow))
			if older == nil && c.lead <= opts.StaleChangeWindow {
				older = c
			}
		}
	}

	d.Workload = workloadOf(d.Object, f.GetEvidence(), changes)
	if suspect != nil {
		c := suspect.change
		d.SuspectChange = &SuspectChange{
			Key: c.Key(), Owner: ownerRef(c, d.Object), FromRevision: c.FromRevision, ToRevision: c.ToRevision,
			ChangedAt: c.ChangedAt, Changes: c.Changes, Lead: suspect.lead, EvidenceIndex: suspect.index,
		}
		d.Category = CategoryBadRollout
		frac := float64(suspect.lead) / float64(opts.ChangeWindow)
		d.Confidence = round4(changeRolloutMax - (changeRolloutMax-changeRolloutMin)*frac)
		d.Hypothesis = fmt.Sprintf("The rollout of %s to revision %d (%s) %s before the failure started caused %s (%s).",
			d.SuspectChange.Owner, c.ToRevision, c.Describe(), roundDur(suspect.lead), f.GetSignature(), symptom)
	} else {
		d.Category = symptom
		d.Confidence = round4(symptomConf)
		d.Hypothesis = hypothesis(symptom, f.GetSignature(), d.LogTemplate, older)
	}

	cands := candidates(&d, f.GetEvidence(), texts, suspect, older, changes)
	d.Remediations = rank(d.Signature, cands, in, opts)
	return d, nil
}

func failureStart(in Input) time.Time {
	f := in.Finding
	if ts := f.GetFirstObservedAt(); ts != nil && ts.IsValid() && !ts.AsTime().IsZero() && ts.AsTime().Unix() > 0 {
		return ts.AsTime().UTC()
	}
	if ts := f.GetObservedAt(); ts != nil && ts.IsValid() && ts.AsTime().Unix() > 0 {
		return ts.AsTime().UTC()
	}
	return in.Now.UTC()
}

// classify finds the symptom by the rules, and which evidence items showed it.
func classify(signature, summary string, texts map[int]string) (Category, float64, []int) {
	sig := strings.ToLower(signature)
	sum := strings.ToLower(summary)
	idx := make([]int, 0, len(texts))
	for i := range texts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, r := range symptomRules() {
		bySig := containsAny(sig, r.sigWords)
		var hits []int
		for _, i := range idx {
			if containsAny(texts[i], r.evidenceWords) {
				hits = append(hits, i)
			}
		}
		if bySig || len(hits) > 0 || containsAny(sum, r.evidenceWords) {
			conf := r.confidence
			if !bySig {
				conf -= 0.05 // seen only in the evidence
			}
			if bySig && len(hits) > 0 {
				conf = min(conf+0.05, 0.95)
			}
			return r.category, conf, hits
		}
	}
	return CategoryUnknown, 0.2, nil
}

// refineByLogs turns a generic application error into a configuration or dependency failure when
// the mined templates say so.
func refineByLogs(ts []Template, conf float64) (Category, float64) {
	text := ""
	for _, t := range ts {
		text += strings.ToLower(t.Text) + "\n"
	}
	switch {
	case containsAny(text, dependencyLogWords()):
		return CategoryDependencyFailure, 0.55
	case containsAny(text, configLogWords()) && containsAny(text, errorLogWords()):
		return CategoryConfigError, 0.55
	case containsAny(text, errorLogWords()):
		return CategoryApplicationError, conf + 0.05
	}
	return CategoryApplicationError, conf - 0.1
}

// dominant is the template that best names the failure: one that reads like an error, then the
// one with most lines, then by text.
func dominant(ts []Template) Template {
	best := ts[0]
	bestErr := containsAny(strings.ToLower(best.Text), errorLogWords())
	for _, t := range ts[1:] {
		isErr := containsAny(strings.ToLower(t.Text), errorLogWords())
		if isErr && !bestErr {
			best, bestErr = t, true
		}
	}
	return best
}

// relevant says whether a change of these fields can cause the symptom.
func relevant(c Change, symptom Category) bool {
	switch symptom {
	case CategoryNodeFailure, CategoryStorageUnavailable:
		return false
	case CategoryUnschedulable, CategoryCapacityLimit:
		return len(c.Changes) == 0 || c.Touches(FieldReplicas) || c.Touches(FieldResources)
	}
	if len(c.Changes) == 0 {
		return true // a new revision with unknown content
	}
	for _, fc := range c.Changes {
		if fc.Field != FieldReplicas {
			return true
		}
	}
	return false
}

func fieldsOf(c Change) string {
	var fs []string
	for _, fc := range c.Changes {
		if !slices.Contains(fs, fc.Field) {
			fs = append(fs, fc.Field)
		}
	}
	return strings.Join(fs, "+")
}

func hypothesis(symptom Category, signature string, tpl *Template, older *parsedChange) string {
	var b strings.Builder
	switch symptom {
	case CategoryOutOfMemory:
		b.WriteString("Containers exceed their memory limit and are OOM-killed")
	case CategoryImageUnavailable:
		b.WriteString("The container image cannot be pulled")
	case CategoryConfigError:
		b.WriteString("The pod's configuration is wrong or missing")
	case CategoryUnschedulable:
		b.WriteString("No node can take the pod")
	case CategoryNodeFailure:
		b.WriteString("A node is failing, and the pods on it with it")
	case CategoryStorageUnavailable:
		b.WriteString("A volume cannot be provisioned, attached or mounted")
	case CategoryCapacityLimit:
		b.WriteString("A scaling limit is reached")
	case CategoryProbeFailure:
		b.WriteString("Health probes fail while the container runs")
	case CategoryDependencyFailure:
		b.WriteString("The application cannot reach a service it depends on")
	case CategoryApplicationError:
		b.WriteString("The application itself fails")
	default:
		b.WriteString("No known cause recognised")
	}
	fmt.Fprintf(&b, " (%s)", signature)
	if tpl != nil {
		fmt.Fprintf(&b, "; dominant log template %s: %q", tpl.ID, clip(tpl.Text, 160))
	}
	if older != nil {
		fmt.Fprintf(&b, "; the last rollout (revision %d) was %s before, too long to blame with confidence", older.change.ToRevision, roundDur(older.lead))
	}
	b.WriteString(".")
	return b.String()
}

// workloadOf finds the owner workload: a change's owner, an evidence source of a workload kind,
// the object itself when it is a workload, or a Deployment inferred from a pod name of the form
// name-<template hash>-<suffix>.
func workloadOf(obj ObjectRef, ev []*fleetv1.Evidence, changes []parsedChange) *ObjectRef {
	if len(changes) > 0 {
		first := slices.MinFunc(changes, func(a, b parsedChange) int { return cmp.Compare(a.index, b.index) })
		r := ownerRef(first.change, obj)
		return &r
	}
	for _, e := range ev {
		if src := RefFromProto(e.GetSource()); isWorkloadKind(src.Kind) && src.Name != "" {
			if src.Namespace == "" {
				src.Namespace = obj.Namespace
			}
			return &src
		}
	}
	if isWorkloadKind(obj.Kind) {
		r := obj
		return &r
	}
	if obj.Kind == "Pod" {
		segs := strings.Split(obj.Name, "-")
		if n := len(segs); n >= 3 && isGenerated(segs[n-1], 5, 5) && isGenerated(segs[n-2], 6, 10) {
			return &ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: obj.Namespace, Name: strings.Join(segs[:n-2], "-")}
		}
	}
	return nil
}

func isWorkloadKind(k string) bool {
	return k == "Deployment" || k == "StatefulSet" || k == "DaemonSet"
}

func ownerRef(c Change, obj ObjectRef) ObjectRef {
	ns := c.Owner.Namespace
	if ns == "" {
		ns = obj.Namespace
	}
	return refFromAPIVersion(c.Owner.APIVersion, c.Owner.Kind, ns, c.Owner.Name)
}

// containsAny reports whether s holds one of words. Words of up to three letters must start a
// word of s ("oom" in "pod/oomkilled", not in "toomanyreplicas"); longer ones may sit anywhere,
// as in "memorypressure".
func containsAny(s string, words []string) bool {
	for _, w := range words {
		if len(w) > 3 {
			if strings.Contains(s, w) {
				return true
			}
			continue
		}
		for i := 0; ; {
			j := strings.Index(s[i:], w)
			if j < 0 {
				break
			}
			at := i + j
			if at == 0 || !isAlnum(s[at-1]) {
				return true
			}
			i = at + 1
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func roundDur(d time.Duration) string { return d.Round(time.Second).String() }

// round4 keeps 4 decimals so that confidences encode the same on every platform.
func round4(x float64) float64 { return math.Round(min(max(x, 0), 1)*1e4) / 1e4 }

// memoryLimit finds the current memory limit in bytes and where: a suspect or later resources
// change's new value first, then status and event text, then older changes.
func memoryLimit(ev []*fleetv1.Evidence, texts map[int]string, changes []parsedChange) (bytes int64, container string, index int, ok bool) {
	fromChange := func(c parsedChange) bool {
		for _, fc := range c.change.Changes {
			if fc.Field != FieldResources {
				continue
			}
			if q, found := findMemory(string(fc.To)); found {
				bytes, container, index = q, fc.Container, c.index
				return true
			}
		}
		return false
	}
	// changes are sorted by lead: the most recent (smallest non-negative lead) first.
	for _, c := range changes {
		if c.lead >= 0 && fromChange(c) {
			return bytes, container, index, true
		}
	}
	idx := make([]int, 0, len(texts))
	for i := range texts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		raw := ev[i].GetSummary() + "\n" + ev[i].GetDetail()
		if q, found := findMemory(raw); found {
			c := ""
			if m := containerRe.FindStringSubmatch(raw); m != nil {
				c = m[1]
			}
			return q, c, i, true
		}
	}
	return 0, "", 0, false
}

func findMemory(s string) (int64, bool) {
	for _, re := range []*regexp.Regexp{jsonMemoryRe, memoryLimitRe} {
		if m := re.FindStringSubmatch(s); m != nil {
			if q, err := resource.ParseQuantity(m[1]); err == nil && q.Value() > 0 {
				return q.Value(), true
			}
		}
	}
	return 0, false
}

// formatMi is bytes in whole MiB, rounded up: "768Mi".
func formatMi(b int64) string {
	const mi = 1 << 20
	return strconv.FormatInt((b+mi-1)/mi, 10) + "Mi"
}

// containerOf is the container named by the changes or the status, when only one is named.
func containerOf(ev []*fleetv1.Evidence, texts map[int]string, changes []parsedChange) string {
	var names []string
	for _, c := range changes {
		for _, fc := range c.change.Changes {
			if fc.Container != "" && !slices.Contains(names, fc.Container) {
				names = append(names, fc.Container)
			}
		}
	}
	if len(names) == 0 {
		for i := range ev {
			if _, ok := texts[i]; !ok {
				continue
			}
			if m := containerRe.FindStringSubmatch(ev[i].GetSummary() + "\n" + ev[i].GetDetail()); m != nil && !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return ""
}
