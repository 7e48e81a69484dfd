package ai

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

// Bounds of answers. They are generous for people and tight enough that a runaway model
// answer is refused rather than stored.
const (
	MaxRemediations       = 16
	MaxRationaleRunes     = 2000
	MaxHypothesisRunes    = 2000
	MaxSummaryRunes       = 4000
	MaxPoints             = 20
	MaxPointRunes         = 1000
	MaxAnswerRunes        = 8000
	MaxFacts              = 50
	MaxFactRunes          = 1000
	MaxSignatureBytes     = 512
	MaxReplicas           = 10000
	MaxManifestBytes      = 256 << 10
	MaxManifestObjects    = 50
	maxParameterValueSize = MaxManifestBytes
)

// Categories lists the root-cause categories an answer may name, in a stable order.
func Categories() []diagnose.Category {
	return []diagnose.Category{
		diagnose.CategoryBadRollout, diagnose.CategoryOutOfMemory, diagnose.CategoryImageUnavailable,
		diagnose.CategoryConfigError, diagnose.CategoryUnschedulable, diagnose.CategoryNodeFailure,
		diagnose.CategoryProbeFailure, diagnose.CategoryDependencyFailure, diagnose.CategoryApplicationError,
		diagnose.CategoryCapacityLimit, diagnose.CategoryStorageUnavailable, diagnose.CategoryUnknown,
	}
}

// ValidateDiagnosis checks a diagnosis answering req: it names the request's cluster and finding,
// a known category and symptom, a confidence in [0, 1], a hypothesis, and remediations that each
// pass ValidateRemediation in the finding's namespace.
func ValidateDiagnosis(req DiagnoseRequest, a DiagnoseAnswer) error {
	d := a.Diagnosis
	in := req.Input
	switch {
	case d.Engine == "":
		return invalid("diagnosis: no engine named")
	case d.Cluster != in.Cluster:
		return invalid("diagnosis: cluster %q is not the request's %q", d.Cluster, in.Cluster)
	case d.FindingSignature != in.Finding.GetSignature():
		return invalid("diagnosis: finding signature %q is not the request's %q", d.FindingSignature, in.Finding.GetSignature())
	case d.Signature == "" || len(d.Signature) > MaxSignatureBytes:
		return invalid("diagnosis: signature must have 1 to %d bytes, has %d", MaxSignatureBytes, len(d.Signature))
	case !slices.Contains(Categories(), d.Category):
		return invalid("diagnosis: unknown category %q (known: %s)", d.Category, joinCategories())
	case !slices.Contains(Categories(), d.Symptom):
		return invalid("diagnosis: unknown symptom %q (known: %s)", d.Symptom, joinCategories())
	}
	if err := checkUnit("diagnosis: confidence", d.Confidence); err != nil {
		return err
	}
	if err := checkText("diagnosis: hypothesis", d.Hypothesis, MaxHypothesisRunes, true); err != nil {
		return err
	}
	return validateRemediations("diagnosis", d.Remediations, RefFromFinding(in).Namespace)
}

// ValidatePlan checks remediations answering req: at most MaxRemediations, each valid in the
// finding's namespace, and a summary.
func ValidatePlan(req PlanRequest, a PlanAnswer) error {
	if a.Signature == "" || len(a.Signature) > MaxSignatureBytes {
		return invalid("plan: signature must have 1 to %d bytes, has %d", MaxSignatureBytes, len(a.Signature))
	}
	if err := checkText("plan: summary", a.Summary, MaxSummaryRunes, true); err != nil {
		return err
	}
	return validateRemediations("plan", a.Remediations, RefFromFinding(req.Input).Namespace)
}

// RefFromFinding is the object the request's finding is about.
func RefFromFinding(in diagnose.Input) diagnose.ObjectRef {
	return diagnose.RefFromProto(in.Finding.GetObject())
}

func validateRemediations(what string, rs []diagnose.Remediation, namespace string) error {
	if rs == nil {
		return invalid("%s: remediations missing (an empty list says there are none)", what)
	}
	if len(rs) > MaxRemediations {
		return invalid("%s: %d remediations, at most %d", what, len(rs), MaxRemediations)
	}
	for i, r := range rs {
		if err := ValidateRemediation(r, namespace); err != nil {
			return fmt.Errorf("%s: remediation %d: %w", what, i, err)
		}
	}
	return nil
}

// targetKinds are the kinds each action acts on, and their API group.
func targetKinds(a aiopsv1alpha1.ActionType) (group string, kinds []string) {
	switch a {
	case aiopsv1alpha1.ActionRestartWorkload, aiopsv1alpha1.ActionRollbackWorkload, aiopsv1alpha1.ActionSetResources:
		return "apps", []string{"Deployment", "StatefulSet", "DaemonSet"}
	case aiopsv1alpha1.ActionScaleWorkload:
		return "apps", []string{"Deployment", "StatefulSet"}
	case aiopsv1alpha1.ActionDeletePod:
		return "", []string{"Pod"}
	case aiopsv1alpha1.ActionPatchHPA:
		return "autoscaling", []string{"HorizontalPodAutoscaler"}
	}
	return "", nil
}

// ValidateRemediation checks one remediation the way the spoke's executor will read it (see
// docs/remediation.md): a known action type, a target of a kind the action acts on, named, in
// namespace (when namespace is not empty), parameters the action knows with values in range, a
// rationale, and probabilities in [0, 1]. Nothing is executed that did not pass it.
func ValidateRemediation(r diagnose.Remediation, namespace string) error {
	if !slices.Contains(aiopsv1alpha1.AllActionTypes, r.Action) {
		return invalid("unknown action type %q (known: %s)", r.Action, joinActions())
	}
	t := r.Target
	if errs := validation.IsDNS1123Subdomain(t.Name); t.Name == "" || len(errs) > 0 {
		return invalid("%s target name %q is not a Kubernetes name", r.Action, t.Name)
	}
	if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
		return invalid("%s target %s: namespace %q is not a namespace name", r.Action, t.Name, t.Namespace)
	}
	if namespace != "" && t.Namespace != namespace {
		return invalid("%s target %s is in namespace %q, not the incident's %q", r.Action, t.Name, t.Namespace, namespace)
	}
	if t.Version != "" && !versionRe(t.Version) {
		return invalid("%s target %s: version %q is not a Kubernetes API version", r.Action, t.Name, t.Version)
	}
	if r.Action != aiopsv1alpha1.ActionApplyManifests {
		group, kinds := targetKinds(r.Action)
		if !slices.Contains(kinds, t.Kind) {
			return invalid("%s cannot act on a %q (it acts on %s)", r.Action, t.Kind, strings.Join(kinds, ", "))
		}
		if t.Group != "" && t.Group != group {
			return invalid("%s target %s: group %q is not %q", r.Action, t.Name, t.Group, group)
		}
	}
	if err := validateParameters(r); err != nil {
		return err
	}
	if err := checkText(string(r.Action)+" rationale", r.Rationale, MaxRationaleRunes, true); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"prior", r.Prior}, {"confidence", r.Confidence}, {"lowerBound", r.LowerBound}} {
		if err := checkUnit(string(r.Action)+" "+p.name, p.v); err != nil {
			return err
		}
	}
	if r.Successes < 0 || r.Failures < 0 {
		return invalid("%s: negative outcome counts", r.Action)
	}
	return nil
}

func versionRe(v string) bool {
	rest, ok := strings.CutPrefix(v, "v")
	if !ok || rest == "" {
		return false
	}
	i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if i == 0 {
		return false
	}
	if i < 0 {
		return true
	}
	for _, q := range []string{"alpha", "beta"} {
		if n, ok := strings.CutPrefix(rest[i:], q); ok {
			_, err := strconv.ParseUint(n, 10, 32)
			return n != "" && err == nil
		}
	}
	return false
}

// paramKind is how a parameter's value is read.
type paramKind int

const (
	paramInt paramKind = iota
	paramQuantity
	paramDuration
	paramName
	paramBool
	paramManifests
)

type paramSpec struct {
	kind     paramKind
	min, max int64 // ints; for quantities the maximum in the canonical unit (cores, bytes)
}

// parameterSpecs are the parameters each action accepts besides the common ones.
func parameterSpecs(a aiopsv1alpha1.ActionType) map[string]paramSpec {
	common := map[string]paramSpec{
		"verifyTimeout":   {kind: paramDuration, min: int64(time.Second), max: int64(15 * time.Minute)},
		"verifyStableFor": {kind: paramDuration, min: 0, max: int64(15 * time.Minute)},
	}
	add := func(m map[string]paramSpec) map[string]paramSpec {
		for k, v := range common {
			m[k] = v
		}
		return m
	}
	switch a {
	case aiopsv1alpha1.ActionRestartWorkload:
		return add(map[string]paramSpec{})
	case aiopsv1alpha1.ActionRollbackWorkload:
		return add(map[string]paramSpec{"toRevision": {kind: paramInt, min: 1, max: math.MaxInt32}})
	case aiopsv1alpha1.ActionScaleWorkload:
		return add(map[string]paramSpec{"replicas": {kind: paramInt, min: 0, max: MaxReplicas}})
	case aiopsv1alpha1.ActionSetResources:
		return add(map[string]paramSpec{
			"container":     {kind: paramName},
			"cpuRequest":    {kind: paramQuantity, max: 64},
			"cpuLimit":      {kind: paramQuantity, max: 64},
			"memoryRequest": {kind: paramQuantity, max: 256 << 30},
			"memoryLimit":   {kind: paramQuantity, max: 256 << 30},
		})
	case aiopsv1alpha1.ActionDeletePod:
		return add(map[string]paramSpec{"gracePeriodSeconds": {kind: paramInt, min: 0, max: 3600}})
	case aiopsv1alpha1.ActionApplyManifests:
		return add(map[string]paramSpec{"manifests": {kind: paramManifests}, "forceConflicts": {kind: paramBool}})
	case aiopsv1alpha1.ActionPatchHPA:
		return add(map[string]paramSpec{
			"minReplicas": {kind: paramInt, min: 1, max: MaxReplicas},
			"maxReplicas": {kind: paramInt, min: 1, max: MaxReplicas},
		})
	}
	return nil
}

func validateParameters(r diagnose.Remediation) error {
	specs := parameterSpecs(r.Action)
	keys := make([]string, 0, len(r.Parameters))
	for k := range r.Parameters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ints := map[string]int64{}
	quantities := map[string]resource.Quantity{}
	for _, k := range keys {
		v := r.Parameters[k]
		spec, ok := specs[k]
		if !ok {
			known := make([]string, 0, len(specs))
			for n := range specs {
				known = append(known, n)
			}
			slices.Sort(known)
			return invalid("%s: unknown parameter %q (known: %s)", r.Action, k, strings.Join(known, ", "))
		}
		if len(v) > maxParameterValueSize {
			return invalid("%s: parameter %s is %d bytes long", r.Action, k, len(v))
		}
		switch spec.kind {
		case paramInt:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return invalid("%s: parameter %s=%q is not an integer", r.Action, k, clip(v, 40))
			}
			if n < spec.min || n > spec.max {
				return invalid("%s: parameter %s=%d is out of range [%d, %d]", r.Action, k, n, spec.min, spec.max)
			}
			ints[k] = n
		case paramQuantity:
			q, err := resource.ParseQuantity(strings.TrimSpace(v))
			if err != nil {
				return invalid("%s: parameter %s=%q is not a quantity", r.Action, k, clip(v, 40))
			}
			limit := resource.NewQuantity(spec.max, resource.DecimalSI)
			if q.Sign() <= 0 || q.Cmp(*limit) > 0 {
				return invalid("%s: parameter %s=%s is out of range (0, %s]", r.Action, k, q.String(), limit.String())
			}
			quantities[k] = q
		case paramDuration:
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return invalid("%s: parameter %s=%q is not a duration", r.Action, k, clip(v, 40))
			}
			if int64(d) < spec.min || int64(d) > spec.max {
				return invalid("%s: parameter %s=%s is out of range [%s, %s]", r.Action, k, d, time.Duration(spec.min), time.Duration(spec.max))
			}
			ints[k] = int64(d)
		case paramName:
			if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
				return invalid("%s: parameter %s=%q is not a container name", r.Action, k, clip(v, 40))
			}
		case paramBool:
			if _, err := strconv.ParseBool(v); err != nil {
				return invalid("%s: parameter %s=%q is not true or false", r.Action, k, clip(v, 40))
			}
		case paramManifests:
			if _, err := ParseManifests([]byte(v), r.Target.Namespace); err != nil {
				return fmt.Errorf("%s: parameter manifests: %w", r.Action, err)
			}
		}
	}
	switch r.Action {
	case aiopsv1alpha1.ActionScaleWorkload:
		if _, ok := r.Parameters["replicas"]; !ok {
			return invalid("ScaleWorkload: parameter replicas is required")
		}
	case aiopsv1alpha1.ActionSetResources:
		if len(quantities) == 0 {
			return invalid("SetResources: needs at least one of cpuRequest, cpuLimit, memoryRequest, memoryLimit")
		}
		for _, res := range []string{"cpu", "memory"} {
			req, okR := quantities[res+"Request"]
			lim, okL := quantities[res+"Limit"]
			if okR && okL && req.Cmp(lim) > 0 {
				return invalid("SetResources: %sRequest %s exceeds %sLimit %s", res, req.String(), res, lim.String())
			}
		}
	case aiopsv1alpha1.ActionPatchHPA:
		lo, okLo := ints["minReplicas"]
		hi, okHi := ints["maxReplicas"]
		if !okLo && !okHi {
			return invalid("PatchHPA: needs minReplicas or maxReplicas")
		}
		if okLo && okHi && lo > hi {
			return invalid("PatchHPA: minReplicas %d exceeds maxReplicas %d", lo, hi)
		}
	case aiopsv1alpha1.ActionApplyManifests:
		v, ok := r.Parameters["manifests"]
		if !ok {
			return invalid("ApplyManifests: parameter manifests is required")
		}
		objs, _ := ParseManifests([]byte(v), r.Target.Namespace)
		if !slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool {
			return o.GetKind() == r.Target.Kind && o.GetName() == r.Target.Name
		}) {
			return invalid("ApplyManifests: the target %s %s is none of the manifests' objects", r.Target.Kind, r.Target.Name)
		}
	}
	if t, ok := ints["verifyTimeout"]; ok {
		if s, ok := ints["verifyStableFor"]; ok && s >= t {
			return invalid("%s: verifyStableFor must be shorter than verifyTimeout", r.Action)
		}
	}
	return nil
}

// ValidateExplanation checks an explanation: a summary and at most MaxPoints points.
func ValidateExplanation(a ExplainAnswer) error {
	if err := checkText("explanation: summary", a.Summary, MaxSummaryRunes, true); err != nil {
		return err
	}
	if a.Points == nil {
		return invalid("explanation: points missing (an empty list says there are none)")
	}
	if len(a.Points) > MaxPoints {
		return invalid("explanation: %d points, at most %d", len(a.Points), MaxPoints)
	}
	for i, p := range a.Points {
		if err := checkText(fmt.Sprintf("explanation: point %d", i), p, MaxPointRunes, true); err != nil {
			return err
		}
	}
	return nil
}

// ValidateQuestionAnswer checks an answer: text and at most MaxFacts facts.
func ValidateQuestionAnswer(a QuestionAnswer) error {
	if err := checkText("answer", a.Answer, MaxAnswerRunes, true); err != nil {
		return err
	}
	if a.Facts == nil {
		return invalid("answer: facts missing (an empty list says there are none)")
	}
	if len(a.Facts) > MaxFacts {
		return invalid("answer: %d facts, at most %d", len(a.Facts), MaxFacts)
	}
	for i, f := range a.Facts {
		if err := checkText(fmt.Sprintf("answer: fact %d", i), f, MaxFactRunes, true); err != nil {
			return err
		}
	}
	return nil
}

// checkUnit refuses a probability outside [0, 1] (NaN included).
func checkUnit(what string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return invalid("%s %v is outside [0, 1]", what, v)
	}
	return nil
}

// checkText refuses invalid UTF-8, control characters other than newline and tab, and text
// that is empty (when required) or longer than max runes.
func checkText(what, s string, max int, required bool) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is empty", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s has %d characters, at most %d", what, n, max)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
		return invalid("%s has a control character at byte %d", what, i)
	}
	return nil
}

func joinActions() string {
	s := make([]string, len(aiopsv1alpha1.AllActionTypes))
	for i, a := range aiopsv1alpha1.AllActionTypes {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func joinCategories() string {
	var s []string
	for _, c := range Categories() {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}
