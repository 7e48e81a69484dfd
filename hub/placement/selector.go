package placement

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// celVariable is the name CEL expressions use for the cluster, as in OCM.
const celVariable = "managedCluster"

// celCostLimit bounds the work one expression may do on one cluster (the same budget Kubernetes
// gives one CEL call), so a pathological expression fails to match instead of stalling the hub.
const celCostLimit = 1_000_000

// celEnv is built once: it is immutable after construction and safe for concurrent use, and
// building it declares the whole standard library, which is too slow to repeat per placement.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(celVariable, cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
})

// compiledSpec is the placement spec with every selector parsed and checked once, so that
// matching a cluster cannot fail.
type compiledSpec struct {
	predicates  []*clusterSelector // empty: every cluster passes
	tolerations []clusterv1beta1.Toleration
	groups      []compiledGroup
	groupSize   groupSize
}

type compiledGroup struct {
	name     string
	selector *clusterSelector
}

// groupSize is clustersPerDecisionGroup: either a count or a percentage of the selected clusters.
type groupSize struct {
	count   int
	percent int
}

// of returns the group size for total selected clusters: a percentage rounds up and is at least 1.
func (g groupSize) of(total int) int {
	if g.percent > 0 {
		return max(1, (g.percent*total+99)/100)
	}
	return g.count
}

// compileSpec parses spec and returns it with the problems found, in spec order. Any problem
// makes the placement misconfigured.
func compileSpec(spec *clusterv1beta1.PlacementSpec) (*compiledSpec, []string) {
	out := &compiledSpec{tolerations: spec.Tolerations}
	var problems []string

	if n := spec.NumberOfClusters; n != nil && *n < 0 {
		problems = append(problems, problem("spec.numberOfClusters", "must not be negative, got %d", *n))
	}

	for i, pred := range spec.Predicates {
		field := fmt.Sprintf("spec.predicates[%d].requiredClusterSelector", i)
		sel, errs := newClusterSelector(field, pred.RequiredClusterSelector)
		problems = append(problems, errs...)
		out.predicates = append(out.predicates, sel)
	}

	for i, t := range spec.Tolerations {
		problems = append(problems, checkToleration(fmt.Sprintf("spec.tolerations[%d]", i), t)...)
	}

	strategy := spec.DecisionStrategy.GroupStrategy
	for i, g := range strategy.DecisionGroups {
		field := fmt.Sprintf("spec.decisionStrategy.groupStrategy.decisionGroups[%d]", i)
		// The name becomes a label value on the PlacementDecisions, so it must be one.
		if g.GroupName == "" {
			problems = append(problems, problem(field+".groupName", "must not be empty"))
		} else if errs := validation.IsValidLabelValue(g.GroupName); len(errs) > 0 {
			problems = append(problems, problem(field+".groupName", "%s", strings.Join(errs, "; ")))
		}
		sel, errs := newClusterSelector(field+".groupClusterSelector", clusterv1beta1.ClusterSelector{
			LabelSelector: g.ClusterSelector.LabelSelector,
			ClaimSelector: g.ClusterSelector.ClaimSelector,
		})
		problems = append(problems, errs...)
		out.groups = append(out.groups, compiledGroup{name: g.GroupName, selector: sel})
	}

	size, err := parseGroupSize(strategy.ClustersPerDecisionGroup)
	if err != nil {
		problems = append(problems, problem("spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup", "%v", err))
	}
	out.groupSize = size
	return out, problems
}

// parseGroupSize reads clustersPerDecisionGroup. The zero value (field unset) means "100%".
func parseGroupSize(v intstr.IntOrString) (groupSize, error) {
	all := groupSize{percent: 100}
	switch v.Type {
	case intstr.Int:
		switch {
		case v.IntVal == 0:
			return all, nil
		case v.IntVal < 0:
			return all, fmt.Errorf("must be a positive number or a percentage, got %d", v.IntVal)
		}
		return groupSize{count: int(v.IntVal)}, nil
	case intstr.String:
		s := v.StrVal
		if s == "" {
			return all, nil
		}
		if digits, ok := strings.CutSuffix(s, "%"); ok {
			p, err := strconv.Atoi(digits)
			if err != nil || p < 1 || p > 100 {
				return all, fmt.Errorf("percentage must be between 1%% and 100%%, got %q", s)
			}
			return groupSize{percent: p}, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return all, fmt.Errorf("must be a positive number or a percentage, got %q", s)
		}
		return groupSize{count: n}, nil
	default:
		return all, fmt.Errorf("unknown value type %d", v.Type)
	}
}

// checkToleration applies the rules documented on Toleration.
func checkToleration(field string, t clusterv1beta1.Toleration) []string {
	var problems []string
	switch t.Operator {
	case "", clusterv1beta1.TolerationOpEqual:
		if t.Key == "" {
			problems = append(problems, problem(field, "an empty key requires operator Exists"))
		}
	case clusterv1beta1.TolerationOpExists:
		if t.Value != "" {
			problems = append(problems, problem(field, "operator Exists takes no value"))
		}
	default:
		problems = append(problems, problem(field+".operator", "must be Equal or Exists, got %q", t.Operator))
	}
	switch t.Effect {
	case "", clusterv1.TaintEffectNoSelect, clusterv1.TaintEffectNoSelectIfNew, clusterv1.TaintEffectPreferNoSelect:
	default:
		problems = append(problems, problem(field+".effect", "must be NoSelect, PreferNoSelect or NoSelectIfNew, got %q", t.Effect))
	}
	return problems
}

// clusterSelector is a compiled ClusterSelector: its label, claim and CEL parts are ANDed.
type clusterSelector struct {
	labels labels.Selector
	claims labels.Selector
	cel    []cel.Program
}

func newClusterSelector(field string, s clusterv1beta1.ClusterSelector) (*clusterSelector, []string) {
	var problems []string
	out := &clusterSelector{labels: labels.Nothing(), claims: labels.Nothing()}

	if sel, err := metav1.LabelSelectorAsSelector(&s.LabelSelector); err != nil {
		problems = append(problems, problem(field+".labelSelector", "%v", err))
	} else {
		out.labels = sel
	}

	// Claims are matched like labels, with the claim name as key; only matchExpressions exist.
	if sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: s.ClaimSelector.MatchExpressions}); err != nil {
		problems = append(problems, problem(field+".claimSelector", "%v", err))
	} else {
		out.claims = sel
	}

	for i, expr := range s.CelSelector.CelExpressions {
		prg, err := compileCEL(expr)
		if err != nil {
			problems = append(problems, problem(fmt.Sprintf("%s.celSelector.celExpressions[%d]", field, i), "%v", err))
			continue
		}
		out.cel = append(out.cel, prg)
	}
	return out, problems
}

func compileCEL(expr string) (cel.Program, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	ast, issues := env.Compile(expr)
	if issues.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(issues.Err().Error()))
	}
	// A dyn result can still be a bool at run time; anything else can never match.
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must evaluate to a bool, not %s", t)
	}
	return env.Program(ast, cel.CostLimit(celCostLimit))
}

func (s *clusterSelector) matches(c *clusterView) bool {
	if !s.labels.Matches(labels.Set(c.cluster.Labels)) || !s.claims.Matches(c.claims) {
		return false
	}
	if len(s.cel) == 0 {
		return true
	}
	obj, ok := c.object()
	if !ok {
		return false
	}
	activation := map[string]any{celVariable: obj}
	for _, prg := range s.cel {
		// A run-time error (a missing field, an exhausted budget) means no match, as in OCM.
		val, _, err := prg.Eval(activation)
		if err != nil {
			return false
		}
		if b, ok := val.(types.Bool); !ok || !bool(b) {
			return false
		}
	}
	return true
}

// matchesPredicates reports whether the cluster matches any predicate; no predicates match all.
func (s *compiledSpec) matchesPredicates(c *clusterView) bool {
	if len(s.predicates) == 0 {
		return true
	}
	for _, p := range s.predicates {
		if p.matches(c) {
			return true
		}
	}
	return false
}

// clusterView is a cluster with the derived forms selectors match against, computed at most
// once per Schedule call.
type clusterView struct {
	cluster *clusterv1.ManagedCluster
	claims  labels.Set

	converted bool
	obj       map[string]any
	objOK     bool
}

func newClusterView(c *clusterv1.ManagedCluster) *clusterView {
	claims := labels.Set{}
	for _, claim := range c.Status.ClusterClaims {
		claims[claim.Name] = claim.Value
	}
	return &clusterView{cluster: c, claims: claims}
}

// object returns the cluster as CEL sees it: the map its JSON form decodes to (integers as
// int64, times and quantities as strings).
func (c *clusterView) object() (map[string]any, bool) {
	if !c.converted {
		c.converted = true
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c.cluster)
		c.obj, c.objOK = obj, err == nil
	}
	return c.obj, c.objOK
}
