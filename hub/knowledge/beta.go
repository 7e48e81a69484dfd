package knowledge

import (
	"fmt"
	"math"
)

// Beta is a Beta(Alpha, Beta) distribution over a success probability. Both parameters are > 0.
type Beta struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
}

// Uniform returns the default prior, Beta(1, 1): every success rate equally likely.
func Uniform() Beta { return Beta{Alpha: 1, Beta: 1} }

// Validate says whether both parameters are finite and positive.
func (b Beta) Validate() error {
	if !(b.Alpha > 0) || !(b.Beta > 0) || math.IsInf(b.Alpha, 0) || math.IsInf(b.Beta, 0) {
		return fmt.Errorf("beta distribution (%v, %v): both parameters must be finite and > 0", b.Alpha, b.Beta)
	}
	return nil
}

// Mean is the expected success probability, Alpha / (Alpha + Beta).
func (b Beta) Mean() float64 { return b.Alpha / (b.Alpha + b.Beta) }

// Update returns the posterior after the given numbers of successes and failures.
// Negative counts are treated as zero.
func (b Beta) Update(successes, failures int64) Beta {
	return Beta{Alpha: b.Alpha + float64(max(successes, 0)), Beta: b.Beta + float64(max(failures, 0))}
}

// CDF is the regularized incomplete beta function I_x(Alpha, Beta): P(p <= x).
func (b Beta) CDF(x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	a, c := b.Alpha, b.Beta
	// ln of x^a (1-x)^b / (a B(a,b)), the prefactor of the continued fraction.
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(c)
	lab, _ := math.Lgamma(a + c)
	front := math.Exp(lab - la - lb + a*math.Log(x) + c*math.Log1p(-x))
	// The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry
	// I_x(a,b) = 1 - I_{1-x}(b,a) on the other side.
	if x < (a+1)/(a+c+2) {
		return front * betaContinuedFraction(a, c, x) / a
	}
	return 1 - front*betaContinuedFraction(c, a, 1-x)/c
}

// betaContinuedFraction evaluates the continued fraction of the incomplete beta function with
// the modified Lentz method.
func betaContinuedFraction(a, b, x float64) float64 {
	const (
		tiny    = 1e-300
		epsilon = 1e-14
		maxIter = 300
	)
	clamp := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c := 1.0
	d := 1 / clamp(1-(a+b)*x/(a+1))
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		// Even step.
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		h *= d * c
		// Odd step.
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		step := d * c
		h *= step
		if math.Abs(step-1) < epsilon {
			break
		}
	}
	return h
}

// Quantile is the p-quantile: the x with CDF(x) = p, found by bisection (deterministic, and
// accurate to about 1e-12, far beyond what ranking needs).
func (b Beta) Quantile(p float64) float64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if b.CDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// LowerBound is the lower end of the one-sided credible interval with the given credibility:
// the success rate is above it with that probability (e.g. 0.9 -> the 10% quantile).
func (b Beta) LowerBound(credibility float64) float64 {
	return b.Quantile(1 - credibility)
}

// PriorFrom turns a prior success probability into a weak Beta prior carrying strength
// pseudo-observations: Beta(p*strength, (1-p)*strength). p is clamped to [0.01, 0.99] so that
// evidence can always move it; strength <= 0 means DefaultPriorStrength.
func PriorFrom(p, strength float64) Beta {
	if strength <= 0 || math.IsNaN(strength) || math.IsInf(strength, 0) {
		strength = DefaultPriorStrength
	}
	if math.IsNaN(p) {
		p = 0.5
	}
	p = min(max(p, 0.01), 0.99)
	return Beta{Alpha: p * strength, Beta: (1 - p) * strength}
}
