package guard

import (
	"context"
	"fmt"
	"strings"
	"time"
	// Maintenance windows name IANA time zones; the agent's image need not ship a zone database.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// checkPolicy reads the AIOpsPolicy the directive names and checks the directive against it.
func (g *Guard) checkPolicy(ctx context.Context, p *fleetv1.DirectivePayload, now time.Time) (*aiopsv1alpha1.AIOpsPolicy, error) {
	id, name := p.GetActionId(), p.GetPolicyName()
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, &Refusal{Reason: ReasonNoLocalPolicy, Message: fmt.Sprintf("action %s names AIOpsPolicy %q, which cannot exist: %s", id, name, strings.Join(errs, "; "))}
	}
	pol := &aiopsv1alpha1.AIOpsPolicy{}
	if err := g.opts.Client.Get(ctx, client.ObjectKey{Name: name}, pol); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &Refusal{Reason: ReasonNoLocalPolicy, Message: fmt.Sprintf("action %s names AIOpsPolicy %q, which this cluster does not have", id, name)}
		}
		return nil, fmt.Errorf("read AIOpsPolicy %q for action %s: %w", name, id, err)
	}
	if pol.DeletionTimestamp != nil {
		return nil, &Refusal{Reason: ReasonNoLocalPolicy, Message: fmt.Sprintf("action %s names AIOpsPolicy %q, which is being deleted", id, name)}
	}
	spec := &pol.Spec
	if spec.Autonomy == aiopsv1alpha1.AutonomyObserve {
		return nil, &Refusal{Reason: ReasonObserveOnly, Message: fmt.Sprintf("AIOpsPolicy %q has autonomy observe: action %s is not executed", name, id)}
	}
	allowed := false
	for _, a := range spec.AllowedActions {
		if string(a.Type) == p.GetActionType() {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil, &Refusal{Reason: ReasonNotAllowedByPolicy, Message: fmt.Sprintf("action %s is a %s, which AIOpsPolicy %q does not list in allowedActions", id, p.GetActionType(), name)}
	}
	if directive.Disruptive(p.GetActionType()) && len(spec.MaintenanceWindows) > 0 {
		open, problems := anyWindowOpen(spec.MaintenanceWindows, now)
		if !open {
			msg := fmt.Sprintf("action %s is a %s, which is disruptive, and no maintenance window of AIOpsPolicy %q is open at %s", id, p.GetActionType(), name, stamp(now))
			if len(problems) > 0 {
				msg += " (windows that cannot be read count as closed: " + strings.Join(problems, "; ") + ")"
			}
			return nil, &Refusal{Reason: ReasonOutsideMaintenanceWindow, Message: msg}
		}
	}
	return pol, nil
}

// maxActionsPerHour is the policy's cap on actions per rolling hour.
func maxActionsPerHour(pol *aiopsv1alpha1.AIOpsPolicy) int {
	if br := pol.Spec.BlastRadius; br != nil && br.MaxActionsPerClusterPerHour != nil {
		return int(*br.MaxActionsPerClusterPerHour)
	}
	return DefaultMaxActionsPerHour
}

// cronParser reads the five standard fields and nothing else (no seconds, no descriptors).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// anyWindowOpen reports whether now falls in one of the windows, and describes the windows it
// could not evaluate (they count as closed: the guard fails closed).
func anyWindowOpen(windows []aiopsv1alpha1.MaintenanceWindow, now time.Time) (bool, []string) {
	var problems []string
	for i, w := range windows {
		open, err := windowOpen(w, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("maintenanceWindows[%d]: %v", i, err))
			continue
		}
		if open {
			return true, problems
		}
	}
	return false, problems
}

// windowOpen reports whether now lies in [start, start+duration) for some start the schedule
// yields in the window's time zone.
func windowOpen(w aiopsv1alpha1.MaintenanceWindow, now time.Time) (bool, error) {
	tz := w.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if tz == "Local" {
		return false, fmt.Errorf(`time zone "Local" is not an IANA time zone`)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return false, fmt.Errorf("time zone %q: %v", tz, err)
	}
	sched, err := cronParser.Parse(w.Schedule)
	if err != nil {
		return false, fmt.Errorf("schedule %q: %v", w.Schedule, err)
	}
	d := w.Duration.Duration
	if d <= 0 {
		return false, fmt.Errorf("duration %s is not positive", d)
	}
	// The first start strictly after now-d is the only one whose window can hold now. Next reads
	// the schedule in its argument's zone.
	start := sched.Next(now.Add(-d).In(loc))
	return !start.IsZero() && !start.After(now), nil
}
