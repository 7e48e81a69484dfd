package onboard

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
)

// dryRun is the action that dry-runs a patch's manifests, and what it holds.
type dryRun struct {
	action hubv1alpha1.PlannedAction
	// summary describes the patch and the manifests for the plan's Patch condition.
	summary string
	// objects are the manifests' "Kind/name", in order.
	objects []string
	// findings are the best practices the manifests break; they are shown, not refused: people
	// approved Jules' plan, and the dry-run only checks what the cluster would accept.
	findings []ai.Violation
}

// dryRunOf extracts the Kubernetes manifests of the patch a completed session stored, checks
// them strictly (ai.ParseManifests: one namespace, the application's; no cluster-scoped kinds
// or forbidden groups) and makes the ApplyManifests action that dry-runs them on the
// application's cluster, targeting their Deployment.
func dryRunOf(js *hubv1alpha1.JulesSession, app *aiopsv1alpha1.ManagedApplication) (*dryRun, error) {
	p := js.Status.Patch
	switch {
	case app.Spec.Cluster == "":
		return nil, errors.New("the application names no cluster (spec.cluster) to dry-run its manifests on")
	case p == nil:
		return nil, errors.New("Jules completed the session without a patch")
	case p.Truncated:
		return nil, fmt.Errorf("the patch is %d bytes, more than the hub keeps (%d): only its digest %s is stored", p.Size, jules.MaxStoredPatch, p.SHA256)
	}
	manifests, partial, err := jules.ManifestsFromPatch(p.UnidiffPatch)
	if err != nil {
		return nil, fmt.Errorf("read the manifests of patch %s: %w", p.SHA256, err)
	}
	if len(manifests) == 0 {
		return nil, fmt.Errorf("patch %s creates no Kubernetes manifests (files: %s)", p.SHA256, strings.Join(p.Files, ", "))
	}
	var stream bytes.Buffer
	for i, m := range manifests {
		if i > 0 {
			stream.WriteString("---\n")
		}
		stream.Write(bytes.TrimRight(m.YAML, "\n"))
		stream.WriteString("\n")
	}
	objs, err := ai.ParseManifests(stream.Bytes(), app.Namespace)
	if err != nil {
		return nil, fmt.Errorf("the manifests of patch %s: %w", p.SHA256, err)
	}
	dr := &dryRun{findings: ai.CheckBestPractices(objs)}
	var target *hubv1alpha1.ObjectReference
	for _, o := range objs {
		dr.objects = append(dr.objects, o.GetKind()+"/"+o.GetName())
		if target == nil && o.GetAPIVersion() == "apps/v1" && o.GetKind() == "Deployment" {
			target = &hubv1alpha1.ObjectReference{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: app.Namespace, Name: o.GetName()}
		}
	}
	if target == nil {
		o := objs[0]
		target = &hubv1alpha1.ObjectReference{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: app.Namespace, Name: o.GetName()}
	}
	dr.action = hubv1alpha1.PlannedAction{
		Cluster: app.Spec.Cluster, Type: aiopsv1alpha1.ActionApplyManifests, Target: *target,
		Parameters: map[string]string{"manifests": stream.String()}, Risk: aiopsv1alpha1.RiskLow,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "patch %s (%d bytes, files %s", p.SHA256, p.Size, strings.Join(p.Files, ", "))
	if p.SuggestedCommitMessage != "" {
		fmt.Fprintf(&b, "; commit message %q", firstLine(p.SuggestedCommitMessage))
	}
	fmt.Fprintf(&b, ") is stored with Jules session %s; its %d manifest(s) %s go to a server-side dry-run on cluster %s in namespace %s",
		js.Name, len(objs), strings.Join(dr.objects, ", "), app.Spec.Cluster, app.Namespace)
	if len(partial) > 0 {
		fmt.Fprintf(&b, "; changed YAML files not dry-run (the patch holds only their changes): %s", strings.Join(partial, ", "))
	}
	if len(dr.findings) > 0 {
		msgs := make([]string, len(dr.findings))
		for i, v := range dr.findings {
			msgs[i] = v.String()
		}
		fmt.Fprintf(&b, "; best practices they break: %s", strings.Join(msgs, "; "))
	}
	if js.Status.PullRequest != nil {
		fmt.Fprintf(&b, "; pull request %s", js.Status.PullRequest.URL)
	}
	dr.summary = julesplan.Truncate(b.String(), 8<<10)
	return dr, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
