package placement

import (
	"math"
	"time"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// admitTaints applies the cluster's taints to cand. It returns false when a taint excludes the
// cluster; otherwise it marks cand demoted for an untolerated PreferNoSelect taint and records
// in cand.expiry the earliest moment a toleration it relies on runs out.
func admitTaints(cand *candidate, taints []clusterv1.Taint, tolerations []clusterv1beta1.Toleration, now time.Time) bool {
	for _, taint := range taints {
		switch taint.Effect {
		case clusterv1.TaintEffectNoSelectIfNew:
			// A cluster the placement already has stays; only new selections are blocked.
			if cand.existing {
				continue
			}
		case clusterv1.TaintEffectNoSelect, clusterv1.TaintEffectPreferNoSelect:
		default:
			// Not an effect the API allows; it cannot constrain anything.
			continue
		}

		ok, until := tolerated(taint, tolerations, now)
		if !ok {
			if taint.Effect == clusterv1.TaintEffectPreferNoSelect {
				cand.demoted = true
				continue
			}
			return false
		}
		if !until.IsZero() && (cand.expiry.IsZero() || until.Before(cand.expiry)) {
			cand.expiry = until
		}
	}
	return true
}

// tolerated reports whether any toleration tolerates taint at now, and until when; a zero time
// means for good. With several matching tolerations the longest-lasting one counts.
func tolerated(taint clusterv1.Taint, tolerations []clusterv1beta1.Toleration, now time.Time) (bool, time.Time) {
	found := false
	var until time.Time
	for _, t := range tolerations {
		if !tolerationMatches(t, taint) {
			continue
		}
		// tolerationSeconds applies to NoSelect and PreferNoSelect taints only (see its API doc).
		if t.TolerationSeconds == nil || taint.Effect == clusterv1.TaintEffectNoSelectIfNew {
			return true, time.Time{}
		}
		expiry, forever := addSeconds(taint.TimeAdded.Time, *t.TolerationSeconds)
		if forever {
			return true, time.Time{}
		}
		// Counted from when the taint was added, not from when the cluster was selected.
		if now.Before(expiry) {
			found = true
			if expiry.After(until) {
				until = expiry
			}
		}
	}
	return found, until
}

// tolerationMatches is the <key, value, effect> match with the toleration's operator.
func tolerationMatches(t clusterv1beta1.Toleration, taint clusterv1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case clusterv1beta1.TolerationOpExists:
		return true
	case "", clusterv1beta1.TolerationOpEqual:
		return t.Value == taint.Value
	default:
		return false
	}
}

// addSeconds returns start+seconds, or forever when the sum overflows a time.Duration (more
// than about 292 years); a hugely negative value just lies in the past.
func addSeconds(start time.Time, seconds int64) (time.Time, bool) {
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	switch {
	case seconds > maxSeconds:
		return time.Time{}, true
	case seconds < -maxSeconds:
		seconds = -maxSeconds
	}
	return start.Add(time.Duration(seconds) * time.Second), false
}
