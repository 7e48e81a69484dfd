package jules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// maxPagesPerPoll bounds the activity pages one poll of one session reads; the rest waits for
// the next poll, from the recorded page.
const maxPagesPerPoll = 20

// adoptPages bounds the session pages searched for a record whose creation was not recorded.
const adoptPages = 5

// pollQuietRewrite is how long a session that did not change goes without its poll time
// being rewritten, so quiet sessions cost no Raft writes on every poll.
const pollQuietRewrite = 5 * time.Minute

// Run polls the sessions every PollInterval until ctx ends. Register it with
// raftnode.Node.RunWhileLeader: one member follows the sessions, and a new leader resumes from
// what the records hold.
func (t *Tracker) Run(ctx context.Context) {
	t.log.Info("following jules sessions", "interval", t.cfg.PollInterval)
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for {
		if err := t.PollOnce(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("jules poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PollOnce polls every record that is not finished, or finished but not yet handed to the
// Finished hook, once.
func (t *Tracker) PollOnce(ctx context.Context) error {
	list, _, err := t.cfg.Store.List(hubv1alpha1.KindJulesSession, "", "")
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var js hubv1alpha1.JulesSession
		if err := r.Decode(&js); err != nil {
			errs = append(errs, fmt.Errorf("decode JulesSession/%s: %w", r.Name, err))
			continue
		}
		if err := t.Poll(ctx, &js, r.ResourceVersion); err != nil {
			errs = append(errs, fmt.Errorf("jules session %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Poll follows one record: it adopts a session whose creation was not recorded, reads the
// session and its new activities from the recorded page, sends a recorded approval Jules has
// not had, calls the hooks, and writes what changed, conditionally on version rv.
func (t *Tracker) Poll(ctx context.Context, js *hubv1alpha1.JulesSession, rv uint64) error {
	switch js.Status.Phase {
	case hubv1alpha1.JulesPending:
		return t.adopt(ctx, js, rv)
	case hubv1alpha1.JulesActive:
	default:
		return t.notify(ctx, js)
	}
	ctx, span := t.tracer.Start(telemetry.WithTraceparent(ctx, js.Spec.TraceParent), "jules poll "+js.Name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(telemetry.GenAIProviderNameKey.String(telemetry.ProviderJules), attribute.String("jules.record", js.Name),
			attribute.String("gen_ai.conversation.id", idOf(js.Status.SessionName))))
	defer span.End()

	next := js.DeepCopy()
	st := &next.Status
	now := t.now()
	sess, err := t.cfg.Client.GetSession(ctx, st.SessionName)
	switch {
	case errors.Is(err, ErrNotFound):
		st.Phase, st.Message, st.CompletionTime = hubv1alpha1.JulesFailed, "the session no longer exists at Jules", &now
		return t.commit(ctx, js, next, rv, span)
	case err != nil:
		return err
	}
	if err := t.readActivities(ctx, next); err != nil {
		if !errors.Is(err, ErrBadRequest) || next.Status.PageToken == "" {
			return err
		}
		// Jules no longer takes the recorded page token: read the activities again from the
		// start. What they record is rebuilt; only the counts start over.
		t.log.Warn("jules refused the recorded activity page token; reading the activities again", "jules_record", js.Name, "err", err)
		next = js.DeepCopy()
		st = &next.Status
		st.PageToken, st.PageSeen, st.ActivitiesSeen, st.Artifacts = "", nil, 0, hubv1alpha1.JulesArtifactCounts{}
		if err := t.readActivities(ctx, next); err != nil {
			return err
		}
	}
	st.State, st.URL = string(sess.State), sess.URL
	if pr := sess.PullRequest(); pr != nil {
		restore := restorer(js)
		st.PullRequest = &hubv1alpha1.JulesPullRequest{URL: pr.URL, Title: truncate(restore(pr.Title), maxStepText), Description: truncate(restore(pr.Description), maxMessage)}
	}
	state := State(st.State)

	// An approval recorded on a member that could not tell Jules: tell it now, unless Jules
	// reported it approved (the member told it, and failed before recording so).
	if a := st.Approval; a != nil && a.SentTime == nil && st.PlanApproved {
		a.SentTime = &now
	}
	if a := st.Approval; a != nil && a.SentTime == nil && state == StateAwaitingPlanApproval && st.Plan != nil && st.Plan.ID == a.PlanID {
		if err := t.cfg.Client.ApprovePlan(ctx, st.SessionName); err != nil {
			t.log.Warn("resending a recorded jules plan approval failed", "jules_record", js.Name, "err", err)
		} else {
			a.SentTime = &now
		}
	}
	if h := t.hooks(js.Spec.Purpose).PlanReady; h != nil && state == StateAwaitingPlanApproval && st.Plan != nil && st.PlanRef == "" && st.Approval == nil {
		if ref, err := h(ctx, next); err != nil {
			t.log.Warn("jules plan hook failed", "jules_record", js.Name, "err", err)
		} else {
			st.PlanRef = ref
		}
	}
	if h := t.hooks(js.Spec.Purpose).Question; h != nil && state == StateAwaitingUserFeedback && st.AgentMessage != "" {
		reply, err := h(ctx, next)
		if err == nil && reply != "" {
			anon := anonymize.Resume(next.Spec.Placeholders)
			reply = anon.Anonymize(reply)
			// Recorded with this poll's write; should that fail, only the restoring of new
			// placeholders in Jules' answers is lost, no name.
			if kept := anon.Placeholders(); len(kept) > 0 {
				next.Spec.Placeholders = kept
			}
			err = t.cfg.Client.SendMessage(ctx, st.SessionName, reply)
		}
		if err != nil {
			t.log.Warn("answering jules' question failed", "jules_record", js.Name, "err", err)
		}
	}
	if state.Final() {
		st.Phase, st.CompletionTime = hubv1alpha1.JulesCompleted, &now
		if state == StateFailed {
			st.Phase = hubv1alpha1.JulesFailed
			if st.Message == "" {
				st.Message = "Jules failed the session"
			}
		}
	}
	st.LastPollTime = js.Status.LastPollTime
	if !equality.Semantic.DeepEqual(js.Status, next.Status) || !equality.Semantic.DeepEqual(js.Spec, next.Spec) || js.Status.LastPollTime == nil || now.Sub(js.Status.LastPollTime.Time) >= pollQuietRewrite {
		st.LastPollTime = &now
	} else {
		return nil // nothing new
	}
	if err := t.commit(ctx, js, next, rv, span); err != nil {
		return err
	}
	if next.Status.Phase != hubv1alpha1.JulesActive {
		return t.notifyLatest(ctx, next.Name)
	}
	return nil
}

// readActivities processes the activities after the recorded cursor.
func (t *Tracker) readActivities(ctx context.Context, js *hubv1alpha1.JulesSession) error {
	st := &js.Status
	restore := restorer(js)
	for range maxPagesPerPoll {
		page, err := t.cfg.Client.ListActivities(ctx, st.SessionName, ListOptions{PageSize: t.cfg.PageSize, PageToken: st.PageToken})
		if err != nil {
			return err
		}
		for i := range page.Activities {
			a := &page.Activities[i]
			id := a.ID
			if id == "" {
				id = a.Name
			}
			if slices.Contains(st.PageSeen, id) {
				continue
			}
			apply(js, a, restore)
			st.PageSeen = append(st.PageSeen, id)
			st.ActivitiesSeen++
			st.LastActivity = a.Name
		}
		if page.NextPageToken == "" || len(page.Activities) == 0 {
			return nil
		}
		st.PageToken, st.PageSeen = page.NextPageToken, nil
	}
	return nil
}

// restorer puts back the names the session's prompt replaced by placeholders, into what Jules
// answers, before it is recorded.
func restorer(js *hubv1alpha1.JulesSession) func(string) string {
	if len(js.Spec.Placeholders) == 0 {
		return func(s string) string { return s }
	}
	return anonymize.Resume(js.Spec.Placeholders).Restore
}

// apply records what one activity says, with the prompt's placeholders restored.
func apply(js *hubv1alpha1.JulesSession, a *Activity, restore func(string) string) {
	st := &js.Status
	switch a.Kind() {
	case KindPlanGenerated:
		p := a.PlanGenerated.Plan
		if p == nil {
			break
		}
		plan := &hubv1alpha1.JulesPlan{ID: p.ID, ActivityName: a.Name, CreateTime: parseTime(p.CreateTime)}
		for _, s := range p.Steps {
			plan.Steps = append(plan.Steps, hubv1alpha1.JulesPlanStep{ID: s.ID, Index: s.Index, Title: truncate(restore(s.Title), maxStepText), Description: truncate(restore(s.Description), maxStepText)})
		}
		if st.Plan == nil || st.Plan.ID != plan.ID {
			// A new plan needs its own review.
			st.PlanRef, st.PlanApproved = "", false
			if st.Approval != nil && st.Approval.PlanID != plan.ID {
				st.Approval = nil
			}
		}
		st.Plan = plan
	case KindPlanApproved:
		if st.Plan != nil && (a.PlanApproved.PlanID == "" || a.PlanApproved.PlanID == st.Plan.ID) {
			st.PlanApproved = true
		}
	case KindProgressUpdated:
		st.LastProgress = truncate(restore(a.ProgressUpdated.Title), maxStepText)
	case KindAgentMessaged:
		st.AgentMessage = truncate(restore(a.AgentMessaged.AgentMessage), maxMessage)
	case KindUserMessaged:
		st.AgentMessage = "" // answered
	case KindSessionFailed:
		st.Message = truncate("Jules failed the session: "+restore(a.SessionFailed.Reason), maxMessage)
	}
	for _, art := range a.Artifacts {
		switch {
		case art.ChangeSet != nil:
			st.Artifacts.ChangeSets++
			if gp := art.ChangeSet.GitPatch; gp != nil && gp.UnidiffPatch != "" {
				st.Patch = patchOf(gp, a.Name, restore)
			}
		case art.BashOutput != nil:
			st.Artifacts.BashOutputs++
		case art.Media != nil:
			st.Artifacts.Media++
		}
	}
}

// patchOf records a patch with the prompt's placeholders restored (in file names too): the
// digest and size are those of the patch as recorded.
func patchOf(gp *GitPatch, activity string, restore func(string) string) *hubv1alpha1.JulesPatch {
	diff := restore(gp.UnidiffPatch)
	p := &hubv1alpha1.JulesPatch{
		BaseCommitID: truncate(gp.BaseCommitID, 128), SuggestedCommitMessage: truncate(restore(gp.SuggestedCommitMessage), maxMessage),
		SHA256: digest(diff), Size: int64(len(diff)), ActivityName: activity,
	}
	if files, err := ParsePatch(diff); err == nil {
		for _, f := range files {
			if f.Path != "" {
				p.Files = append(p.Files, f.Path)
			} else {
				p.Files = append(p.Files, f.OldPath)
			}
		}
	}
	if len(diff) > MaxStoredPatch {
		p.Truncated = true
	} else {
		p.UnidiffPatch = diff
	}
	return p
}

// commit writes next over js, conditionally on rv, with an audit record when it finishes.
func (t *Tracker) commit(ctx context.Context, js, next *hubv1alpha1.JulesSession, rv uint64, span trace.Span) error {
	cmd, err := store.EncodeUpdate(hubv1alpha1.KindJulesSession, next, rv)
	if err != nil {
		return fmt.Errorf("encode JulesSession/%s: %w", js.Name, err)
	}
	if js.Status.Phase != next.Status.Phase || planID(js.Status.Plan) != planID(next.Status.Plan) {
		details := map[string]any{"session": next.Status.SessionName, "state": next.Status.State, "phase": next.Status.Phase}
		if p := next.Status.Plan; p != nil {
			details["planID"], details["planSteps"] = p.ID, len(p.Steps)
		}
		if p := next.Status.Patch; p != nil {
			details["patchSHA256"], details["patchFiles"] = p.SHA256, p.Files
		}
		if pr := next.Status.PullRequest; pr != nil {
			details["pullRequest"] = pr.URL
		}
		action := "jules.session." + map[hubv1alpha1.JulesSessionPhase]string{
			hubv1alpha1.JulesCompleted: "complete", hubv1alpha1.JulesFailed: "fail", hubv1alpha1.JulesActive: "plan",
		}[next.Status.Phase]
		if cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: "hub/jules", Action: action, Target: hubv1alpha1.KindJulesSession + "/" + js.Name,
			TraceID: span.SpanContext().TraceID().String(), Details: mustJSON(details)}); err != nil {
			return err
		}
	}
	if _, err := writes.One(ctx, t.cfg.Node, cmd); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // written meanwhile (an approval): the next poll starts from it
		}
		return fmt.Errorf("write JulesSession/%s: %w", js.Name, err)
	}
	span.SetAttributes(attribute.String("jules.state", next.Status.State), attribute.Int("jules.activities", int(next.Status.ActivitiesSeen)))
	if js.Status.Phase != next.Status.Phase {
		t.log.Info("jules session finished", "jules_record", js.Name, "session", next.Status.SessionName, "phase", next.Status.Phase,
			"trace_id", span.SpanContext().TraceID().String())
	}
	return nil
}

// notify hands a finished record to the Finished hook until it accepts it.
func (t *Tracker) notify(ctx context.Context, js *hubv1alpha1.JulesSession) error {
	final := js.Status.Phase == hubv1alpha1.JulesCompleted || js.Status.Phase == hubv1alpha1.JulesFailed
	finished := t.hooks(js.Spec.Purpose).Finished
	if !final || js.Status.Notified || finished == nil {
		return nil
	}
	if err := finished(ctx, js); err != nil {
		return fmt.Errorf("finished hook: %w", err)
	}
	_, err := t.update(ctx, js.Name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		if r.Status.Notified {
			return false, nil
		}
		r.Status.Notified = true
		return true, nil
	}, nil)
	return err
}

func (t *Tracker) notifyLatest(ctx context.Context, name string) error {
	js, err := t.Get(name)
	if err != nil {
		return err
	}
	return t.notify(ctx, js)
}

// adopt finds at Jules a session whose creation the record does not hold (its creator failed
// after asking Jules), by the record's name in the title; a record not found after AdoptAfter
// is failed.
func (t *Tracker) adopt(ctx context.Context, js *hubv1alpha1.JulesSession, rv uint64) error {
	age := t.cfg.Now().Sub(js.CreationTimestamp.Time)
	if age < time.Minute {
		return nil // its creator may still be waiting for Jules
	}
	var found *Session
	opts := ListOptions{PageSize: 100}
	for range adoptPages {
		page, err := t.cfg.Client.ListSessions(ctx, opts)
		if err != nil {
			return err
		}
		for i := range page.Sessions {
			if page.Sessions[i].Title == js.Spec.Title {
				found = &page.Sessions[i]
			}
		}
		if found != nil || page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	next := js.DeepCopy()
	now := t.now()
	switch {
	case found != nil:
		next.Status.Phase, next.Status.SessionName, next.Status.URL, next.Status.State = hubv1alpha1.JulesActive, found.Name, found.URL, string(found.State)
		t.log.Info("adopted a jules session its creator did not record", "jules_record", js.Name, "session", found.Name)
	case age >= t.cfg.AdoptAfter:
		next.Status.Phase, next.Status.CompletionTime = hubv1alpha1.JulesFailed, &now
		next.Status.Message = "the session was not found at Jules: its creation failed"
	default:
		return nil
	}
	cmd, err := store.EncodeUpdate(hubv1alpha1.KindJulesSession, next, rv)
	if err != nil {
		return err
	}
	if _, err := writes.One(ctx, t.cfg.Node, cmd); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

func planID(p *hubv1alpha1.JulesPlan) string {
	if p == nil {
		return ""
	}
	return p.ID
}

func idOf(sessionName string) string {
	if len(sessionName) > len("sessions/") {
		return sessionName[len("sessions/"):]
	}
	return ""
}

func parseTime(s string) *metav1.Time {
	if s == "" {
		return nil
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	mt := metav1.NewTime(tm.UTC().Truncate(time.Second))
	return &mt
}
