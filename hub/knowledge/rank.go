package knowledge

import (
	"cmp"
	"math"
	"slices"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// Defaults of Options; a zero field takes its default.
const (
	// DefaultFloor is the posterior mean below which a candidate with enough observations is unsafe.
	DefaultFloor = 0.3
	// DefaultMinObservations is how many outcomes (successes + failures) a candidate needs before
	// the floor applies, so that one unlucky outcome of an untried fix does not bury it.
	DefaultMinObservations = 2
	// DefaultPriorStrength is the pseudo-count given to a candidate's own prior probability.
	DefaultPriorStrength = 2.0
	// DefaultCredibility is the credibility of the reported lower bound (its 10% quantile).
	DefaultCredibility = 0.9
)

// Candidate is one remediation to rank for a signature.
type Candidate struct {
	// ActionType is the remediation; it selects the KnowledgeEntry.
	ActionType aiopsv1alpha1.ActionType
	// Prior is the engine's own success probability for it, in (0, 1). Zero means no opinion:
	// the prior is then Options.Prior (default Beta(1, 1)).
	Prior float64
}

// Options tunes Rank. The zero value gives the documented defaults.
type Options struct {
	// Floor: a candidate with at least MinObservations outcomes and a posterior mean below Floor
	// is unsafe. Default DefaultFloor; a negative value disables the floor.
	Floor float64
	// MinObservations before the floor applies. Default DefaultMinObservations.
	MinObservations int64
	// DropUnsafe removes unsafe candidates from the result instead of marking and listing them last.
	DropUnsafe bool
	// PriorStrength is the pseudo-count of a candidate's own Prior. Default DefaultPriorStrength.
	PriorStrength float64
	// Prior is used for candidates without a Prior of their own. Default Beta(1, 1).
	Prior Beta
	// Credibility of Ranked.LowerBound, in (0, 1). Default DefaultCredibility.
	Credibility float64
}

func (o Options) withDefaults() Options {
	if o.Floor == 0 {
		o.Floor = DefaultFloor
	}
	if o.MinObservations <= 0 {
		o.MinObservations = DefaultMinObservations
	}
	if !(o.PriorStrength > 0) || math.IsInf(o.PriorStrength, 0) {
		o.PriorStrength = DefaultPriorStrength
	}
	if o.Prior.Validate() != nil {
		o.Prior = Uniform()
	}
	if !(o.Credibility > 0 && o.Credibility < 1) {
		o.Credibility = DefaultCredibility
	}
	return o
}

// Ranked is one candidate with what the fleet knows about it.
type Ranked struct {
	// Index of the candidate in the slice given to Rank.
	Index int `json:"index"`
	// ActionType of the candidate.
	ActionType aiopsv1alpha1.ActionType `json:"actionType"`
	// Prior used for it and the Posterior after the fleet's outcomes.
	Prior     Beta `json:"prior"`
	Posterior Beta `json:"posterior"`
	// Confidence is the posterior mean: the proposal's confidence.
	Confidence float64 `json:"confidence"`
	// LowerBound is the lower credible bound of the success rate at Options.Credibility.
	LowerBound float64 `json:"lowerBound"`
	// Successes and Failures counted across the fleet for (signature, action type).
	Successes int64 `json:"successes"`
	Failures  int64 `json:"failures"`
	// Unsafe is true when the floor applies and the posterior mean is below it.
	Unsafe bool `json:"unsafe,omitempty"`
}

// Observations is Successes + Failures.
func (r Ranked) Observations() int64 { return r.Successes + r.Failures }

// Counts sums the successes and failures of every entry for (signature, actionType). Normally there
// is one entry per pair (EntryName); summing keeps the result independent of entry order otherwise.
func Counts(signature string, actionType aiopsv1alpha1.ActionType, entries []hubv1alpha1.KnowledgeEntry) (successes, failures int64) {
	for i := range entries {
		s := &entries[i].Spec
		if s.Signature == signature && s.ActionType == actionType {
			successes += max(s.Successes, 0)
			failures += max(s.Failures, 0)
		}
	}
	return successes, failures
}

// Posterior is the Beta posterior of one candidate for signature, from its prior and the entries.
func Posterior(signature string, c Candidate, entries []hubv1alpha1.KnowledgeEntry, opts Options) Ranked {
	opts = opts.withDefaults()
	prior := opts.Prior
	if c.Prior > 0 && c.Prior < 1 {
		prior = PriorFrom(c.Prior, opts.PriorStrength)
	}
	s, f := Counts(signature, c.ActionType, entries)
	post := prior.Update(s, f)
	r := Ranked{
		ActionType: c.ActionType,
		Prior:      prior,
		Posterior:  post,
		Confidence: round(post.Mean()),
		LowerBound: round(post.LowerBound(opts.Credibility)),
		Successes:  s,
		Failures:   f,
	}
	r.Unsafe = opts.Floor >= 0 && r.Observations() >= opts.MinObservations && post.Mean() < opts.Floor
	return r
}

// Rank orders the candidates for signature best first: safe before unsafe, then by posterior
// mean, then by lower bound, then by the candidate's own prior, then by action type and finally
// by input position, so the order is total and deterministic. With Options.DropUnsafe the unsafe
// ones are left out.
func Rank(signature string, candidates []Candidate, entries []hubv1alpha1.KnowledgeEntry, opts Options) []Ranked {
	opts = opts.withDefaults()
	out := make([]Ranked, 0, len(candidates))
	for i, c := range candidates {
		r := Posterior(signature, c, entries, opts)
		r.Index = i
		if r.Unsafe && opts.DropUnsafe {
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b Ranked) int {
		if a.Unsafe != b.Unsafe {
			if a.Unsafe {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.Confidence, a.Confidence); c != 0 {
			return c
		}
		if c := cmp.Compare(b.LowerBound, a.LowerBound); c != 0 {
			return c
		}
		if c := cmp.Compare(candidates[b.Index].Prior, candidates[a.Index].Prior); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ActionType, b.ActionType); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	return out
}

// round keeps 6 decimals, so that results compare and encode the same on every platform even if
// the last bits of the floating-point arithmetic differ (fused multiply-add on some CPUs).
func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }
