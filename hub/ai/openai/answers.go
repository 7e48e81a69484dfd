package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
)

// Explanation is a validated explanation of a diagnosis, plan or finding.
type Explanation struct {
	Summary    string            // one or two sentences
	Details    string            // the reasoning, for a human
	Confidence float64           // 0..1
	Actions    []SuggestedAction // proposals only: they go through planning and approval like any other
}

// Answer is a validated answer to a natural-language question about the fleet.
type Answer struct {
	Text       string
	Answerable bool // false: the context did not hold the answer, and Text says what is missing
	Confidence float64
	References []Reference
	Actions    []SuggestedAction
}

// Reference is an object an answer refers to.
type Reference struct {
	Cluster   string
	Kind      string
	Namespace string
	Name      string
}

// SuggestedAction is an action a provider proposes. It is never executed as it is: it can
// only become part of a plan, which the policy and a human approve.
type SuggestedAction struct {
	Type       aiopsv1alpha1.ActionType
	Cluster    string // empty: the cluster the question or explanation is about
	Target     hubv1alpha1.ObjectReference
	Parameters map[string]string
	Reason     string
}

// Limits of the answers.
const (
	MaxSuggestedActions = 5
	MaxReferences       = 20
	MaxReplicas         = 100 // the spoke's default cap on replicas
	MaxCPU              = "64"
	MaxMemory           = "256Gi"
)

// suggestedActionTypes are the types a chat provider may propose: all but ApplyManifests,
// which needs manifests this provider is not asked for.
func suggestedActionTypes() []string {
	var out []string
	for _, t := range aiopsv1alpha1.AllActionTypes {
		if t != aiopsv1alpha1.ActionApplyManifests {
			out = append(out, string(t))
		}
	}
	return out
}

// targetKinds are the kinds each action type acts on.
func targetKinds(t aiopsv1alpha1.ActionType) []string {
	switch t {
	case aiopsv1alpha1.ActionRestartWorkload, aiopsv1alpha1.ActionRollbackWorkload, aiopsv1alpha1.ActionSetResources:
		return []string{"Deployment", "StatefulSet", "DaemonSet"}
	case aiopsv1alpha1.ActionScaleWorkload:
		return []string{"Deployment", "StatefulSet"}
	case aiopsv1alpha1.ActionDeletePod:
		return []string{"Pod"}
	case aiopsv1alpha1.ActionPatchHPA:
		return []string{"HorizontalPodAutoscaler"}
	}
	return nil
}

func apiVersionOf(kind string) string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return "apps/v1"
	case "HorizontalPodAutoscaler":
		return "autoscaling/v2"
	}
	return "v1"
}

func parameterNames() []string {
	return []string{"replicas", "toRevision", "container", "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit", "minReplicas", "maxReplicas"}
}

func actionSchema() *Schema {
	return object(map[string]*Schema{
		"type":      enum(suggestedActionTypes(), ErrUnknownAction, "the action type"),
		"cluster":   str(0, 253, "the cluster placeholder, or empty for the cluster in question"),
		"kind":      enum([]string{"Deployment", "StatefulSet", "DaemonSet", "Pod", "HorizontalPodAutoscaler"}, ErrInvalidAnswer, "kind of the target"),
		"namespace": str(1, 253, "namespace of the target, as given"),
		"name":      str(1, 253, "name of the target, as given"),
		"parameters": array(object(map[string]*Schema{
			"name":  enum(parameterNames(), ErrInvalidAnswer, "parameter name"),
			"value": str(1, 64, "parameter value"),
		}), 8, "replicas (ScaleWorkload); toRevision (RollbackWorkload); container, cpuRequest, cpuLimit, memoryRequest, memoryLimit (SetResources); minReplicas, maxReplicas (PatchHPA)"),
		"reason": str(1, 1000, "why this action would help"),
	})
}

// ExplanationSchema is the schema explanations are asked for in and checked against.
func ExplanationSchema() *Schema {
	return object(map[string]*Schema{
		"summary":          str(1, 1000, "one or two sentences"),
		"details":          str(0, 8000, "the reasoning, for an operator"),
		"confidence":       number(0, 1, "how sure the explanation is, 0 to 1"),
		"suggestedActions": array(actionSchema(), MaxSuggestedActions, "actions that could help, possibly none"),
	})
}

// AnswerSchema is the schema answers to questions are asked for in and checked against.
func AnswerSchema() *Schema {
	return object(map[string]*Schema{
		"answer":     str(1, 8000, "the answer, or what is missing to give one"),
		"answerable": {Type: "boolean", Description: "false when the context does not hold the answer"},
		"confidence": number(0, 1, "how sure the answer is, 0 to 1"),
		"references": array(object(map[string]*Schema{
			"cluster":   str(0, 253, "cluster placeholder, or empty"),
			"kind":      str(1, 63, "kind of the object"),
			"namespace": str(0, 253, "namespace, empty for cluster-scoped objects"),
			"name":      str(1, 253, "name of the object"),
		}), MaxReferences, "objects the answer refers to"),
		"suggestedActions": array(actionSchema(), MaxSuggestedActions, "actions that could help, possibly none"),
	})
}

// wire forms of the answers.
type (
	paramWire struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	actionWire struct {
		Type       string      `json:"type"`
		Cluster    string      `json:"cluster"`
		Kind       string      `json:"kind"`
		Namespace  string      `json:"namespace"`
		Name       string      `json:"name"`
		Parameters []paramWire `json:"parameters"`
		Reason     string      `json:"reason"`
	}
	explanationWire struct {
		Summary          string       `json:"summary"`
		Details          string       `json:"details"`
		Confidence       float64      `json:"confidence"`
		SuggestedActions []actionWire `json:"suggestedActions"`
	}
	referenceWire struct {
		Cluster   string `json:"cluster"`
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	answerWire struct {
		Answer           string          `json:"answer"`
		Answerable       bool            `json:"answerable"`
		Confidence       float64         `json:"confidence"`
		References       []referenceWire `json:"references"`
		SuggestedActions []actionWire    `json:"suggestedActions"`
	}
)

// checkShape refuses content that is not exactly one JSON value of the schema.
func checkShape(content []byte, s *Schema) error {
	v, err := decodeStrict(content)
	if err != nil {
		return refuse(ErrInvalidAnswer, content, "not JSON: %v", err)
	}
	if viol := s.validate(v, "$"); viol != nil {
		return refuse(viol.reason, content, "%s", viol.Error())
	}
	return nil
}

// decodeChecked checks the shape, then decodes into the wire struct.
func decodeChecked(content []byte, s *Schema, into any) error {
	if err := checkShape(content, s); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return refuse(ErrInvalidAnswer, content, "decode: %v", err)
	}
	return nil
}

// ParseExplanation turns an answer's content into an Explanation, or refuses it: it must be
// exactly one JSON object of ExplanationSchema, with known action types, values in range, and
// targets among the scope's names (a scope list left empty is not checked).
func ParseExplanation(content []byte, scope anonymize.Known) (Explanation, error) {
	var w explanationWire
	if err := decodeChecked(content, ExplanationSchema(), &w); err != nil {
		return Explanation{}, err
	}
	actions, err := convertActions(w.SuggestedActions, scope, content)
	if err != nil {
		return Explanation{}, err
	}
	return Explanation{Summary: w.Summary, Details: w.Details, Confidence: w.Confidence, Actions: actions}, nil
}

// ParseAnswer turns an answer's content into an Answer, or refuses it, as ParseExplanation.
func ParseAnswer(content []byte, scope anonymize.Known) (Answer, error) {
	var w answerWire
	if err := decodeChecked(content, AnswerSchema(), &w); err != nil {
		return Answer{}, err
	}
	a := Answer{Text: w.Answer, Answerable: w.Answerable, Confidence: w.Confidence}
	for i, r := range w.References {
		path := fmt.Sprintf("$.references[%d]", i)
		if !kindRe.MatchString(r.Kind) {
			return Answer{}, refuse(ErrInvalidAnswer, content, "%s.kind %q is not a Kubernetes kind", path, clip(r.Kind))
		}
		if err := checkNames(path, r.Cluster, r.Namespace, r.Name, r.Namespace == "", false, scope, content); err != nil {
			return Answer{}, err
		}
		a.References = append(a.References, Reference(r))
	}
	actions, err := convertActions(w.SuggestedActions, scope, content)
	if err != nil {
		return Answer{}, err
	}
	a.Actions = actions
	return a, nil
}

var kindRe = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,62}$`)

func convertActions(in []actionWire, scope anonymize.Known, content []byte) ([]SuggestedAction, error) {
	var out []SuggestedAction
	for i, w := range in {
		path := fmt.Sprintf("$.suggestedActions[%d]", i)
		t := aiopsv1alpha1.ActionType(w.Type)
		kinds := targetKinds(t)
		if kinds == nil || t == aiopsv1alpha1.ActionApplyManifests {
			return nil, refuse(ErrUnknownAction, content, "%s.type %q", path, clip(w.Type))
		}
		if !slices.Contains(kinds, w.Kind) {
			return nil, refuse(ErrInvalidAnswer, content, "%s: %s acts on %s, not on a %s", path, t, strings.Join(kinds, ", "), clip(w.Kind))
		}
		workload := w.Kind == "Deployment" || w.Kind == "StatefulSet" || w.Kind == "DaemonSet"
		if err := checkNames(path, w.Cluster, w.Namespace, w.Name, false, workload, scope, content); err != nil {
			return nil, err
		}
		params, err := checkParameters(path, t, w.Parameters, content)
		if err != nil {
			return nil, err
		}
		out = append(out, SuggestedAction{
			Type: t, Cluster: w.Cluster, Parameters: params, Reason: w.Reason,
			Target: hubv1alpha1.ObjectReference{APIVersion: apiVersionOf(w.Kind), Kind: w.Kind, Namespace: w.Namespace, Name: w.Name},
		})
	}
	return out, nil
}

// checkNames refuses names that are not Kubernetes names, or that the scope does not know.
func checkNames(path, cluster, namespace, name string, clusterScoped, workload bool, scope anonymize.Known, content []byte) error {
	if cluster != "" {
		if errs := validation.IsDNS1123Subdomain(cluster); len(errs) > 0 {
			return refuse(ErrInvalidAnswer, content, "%s.cluster %q is not a cluster name", path, clip(cluster))
		}
		if len(scope.Clusters) > 0 && !slices.Contains(scope.Clusters, cluster) {
			return refuse(ErrUnknownTarget, content, "%s.cluster %q", path, clip(cluster))
		}
	}
	if !clusterScoped {
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			return refuse(ErrInvalidAnswer, content, "%s.namespace %q is not a namespace name", path, clip(namespace))
		}
		if len(scope.Namespaces) > 0 && !slices.Contains(scope.Namespaces, namespace) {
			return refuse(ErrUnknownTarget, content, "%s.namespace %q", path, clip(namespace))
		}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return refuse(ErrInvalidAnswer, content, "%s.name %q is not an object name", path, clip(name))
	}
	if workload && len(scope.Workloads) > 0 && !slices.Contains(scope.Workloads, name) {
		return refuse(ErrUnknownTarget, content, "%s.name %q", path, clip(name))
	}
	return nil
}

// checkParameters applies each action type's parameter rules, the spoke's own ranges.
func checkParameters(path string, t aiopsv1alpha1.ActionType, in []paramWire, content []byte) (map[string]string, error) {
	allowed := map[aiopsv1alpha1.ActionType][]string{
		aiopsv1alpha1.ActionRollbackWorkload: {"toRevision"},
		aiopsv1alpha1.ActionScaleWorkload:    {"replicas"},
		aiopsv1alpha1.ActionSetResources:     {"container", "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"},
		aiopsv1alpha1.ActionPatchHPA:         {"minReplicas", "maxReplicas"},
	}[t]
	params := map[string]string{}
	for _, p := range in {
		if !slices.Contains(allowed, p.Name) {
			return nil, refuse(ErrInvalidAnswer, content, "%s: %s takes no parameter %q", path, t, clip(p.Name))
		}
		if _, dup := params[p.Name]; dup {
			return nil, refuse(ErrInvalidAnswer, content, "%s: parameter %q given twice", path, p.Name)
		}
		params[p.Name] = p.Value
	}
	integer := func(name string, lo, hi int64) (int64, bool, error) {
		v, ok := params[name]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, true, refuse(ErrInvalidAnswer, content, "%s: %s %q is not an integer", path, name, clip(v))
		}
		if n < lo || n > hi {
			return 0, true, refuse(ErrOutOfRange, content, "%s: %s %d is outside %d..%d", path, name, n, lo, hi)
		}
		return n, true, nil
	}
	switch t {
	case aiopsv1alpha1.ActionScaleWorkload:
		if _, ok, err := integer("replicas", 1, MaxReplicas); err != nil || !ok {
			if err == nil {
				err = refuse(ErrInvalidAnswer, content, "%s: ScaleWorkload needs replicas", path)
			}
			return nil, err
		}
	case aiopsv1alpha1.ActionRollbackWorkload:
		if _, _, err := integer("toRevision", 1, 1<<31-1); err != nil {
			return nil, err
		}
	case aiopsv1alpha1.ActionPatchHPA:
		lo, hasLo, err := integer("minReplicas", 1, MaxReplicas)
		if err != nil {
			return nil, err
		}
		hi, hasHi, err := integer("maxReplicas", 1, MaxReplicas)
		if err != nil {
			return nil, err
		}
		switch {
		case !hasLo && !hasHi:
			return nil, refuse(ErrInvalidAnswer, content, "%s: PatchHPA needs minReplicas or maxReplicas", path)
		case hasLo && hasHi && lo > hi:
			return nil, refuse(ErrOutOfRange, content, "%s: minReplicas %d is above maxReplicas %d", path, lo, hi)
		}
	case aiopsv1alpha1.ActionSetResources:
		if err := checkResources(path, params, content); err != nil {
			return nil, err
		}
	}
	if len(params) == 0 {
		return nil, nil
	}
	return params, nil
}

func checkResources(path string, params map[string]string, content []byte) error {
	if c, ok := params["container"]; ok {
		if errs := validation.IsDNS1123Label(c); len(errs) > 0 {
			return refuse(ErrInvalidAnswer, content, "%s: container %q is not a container name", path, clip(c))
		}
	}
	quantity := func(name, max string) (*resource.Quantity, error) {
		v, ok := params[name]
		if !ok {
			return nil, nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, refuse(ErrInvalidAnswer, content, "%s: %s %q is not a quantity", path, name, clip(v))
		}
		if q.Sign() <= 0 || q.Cmp(resource.MustParse(max)) > 0 {
			return nil, refuse(ErrOutOfRange, content, "%s: %s %s is outside (0, %s]", path, name, q.String(), max)
		}
		return &q, nil
	}
	var set int
	for _, pair := range [][2]string{{"cpuRequest", "cpuLimit"}, {"memoryRequest", "memoryLimit"}} {
		max := MaxCPU
		if strings.HasPrefix(pair[0], "memory") {
			max = MaxMemory
		}
		req, err := quantity(pair[0], max)
		if err != nil {
			return err
		}
		lim, err := quantity(pair[1], max)
		if err != nil {
			return err
		}
		if req != nil && lim != nil && req.Cmp(*lim) > 0 {
			return refuse(ErrOutOfRange, content, "%s: %s %s is above %s %s", path, pair[0], req.String(), pair[1], lim.String())
		}
		if req != nil {
			set++
		}
		if lim != nil {
			set++
		}
	}
	if set == 0 {
		return refuse(ErrInvalidAnswer, content, "%s: SetResources needs at least one of cpuRequest, cpuLimit, memoryRequest, memoryLimit", path)
	}
	return nil
}

// checkFinish refuses a completion that did not end with a whole answer.
func checkFinish(r *ChatResponse) error {
	content := []byte(r.Content)
	switch {
	case r.Refusal != "":
		return refuse(ErrRefused, []byte(r.Refusal), "the model said: %s", clip(r.Refusal))
	case r.FinishReason == FinishLength:
		return refuse(ErrTruncated, content, "finish_reason length after %d output tokens", r.Usage.OutputTokens)
	case r.FinishReason == FinishContentFilter:
		return refuse(ErrContentFilter, content, "finish_reason content_filter")
	case r.FinishReason == FinishToolCalls || r.FinishReason == FinishFunctionCall || r.ToolCalls > 0:
		return refuse(ErrNotImplemented, content, "finish_reason %s with %d tool calls", r.FinishReason, r.ToolCalls)
	case r.FinishReason != FinishStop && r.FinishReason != "":
		return refuse(ErrInvalidAnswer, content, "unknown finish_reason %q", clip(r.FinishReason))
	case strings.TrimSpace(r.Content) == "":
		return refuse(ErrInvalidAnswer, content, "empty content")
	}
	return nil
}

// errorsAsInvalid reports whether err is a refusal of the answer.
func errorsAsInvalid(err error) (*InvalidAnswerError, bool) {
	var ia *InvalidAnswerError
	ok := errors.As(err, &ia)
	return ia, ok
}
