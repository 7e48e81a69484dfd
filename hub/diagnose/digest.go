package diagnose

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The canonical encodings hashed by InputDigest and DiagnosisDigest: JSON of plain structs with
// fixed field order, maps with sorted keys, times in UTC RFC 3339 with nanoseconds, knowledge
// entries sorted, and a format tag so that a later encoding cannot collide with this one.
const digestFormat = "kubedevaiops.diagnose.digest/v1"

type canonicalInput struct {
	Format    string             `json:"format"`
	Engine    string             `json:"engine"`
	Cluster   string             `json:"cluster"`
	Now       string             `json:"now"`
	Finding   canonicalFinding   `json:"finding"`
	Knowledge []canonicalKnowing `json:"knowledge"`
	Options   Options            `json:"options"`
}

type canonicalFinding struct {
	Analyzer        string              `json:"analyzer"`
	Signature       string              `json:"signature"`
	Severity        string              `json:"severity"`
	Object          ObjectRef           `json:"object"`
	Evidence        []canonicalEvidence `json:"evidence"`
	ObservedAt      string              `json:"observedAt"`
	Summary         string              `json:"summary"`
	FirstObservedAt string              `json:"firstObservedAt"`
	Resolved        bool                `json:"resolved"`
}

type canonicalEvidence struct {
	Type       string    `json:"type"`
	Summary    string    `json:"summary"`
	Detail     string    `json:"detail"`
	Source     ObjectRef `json:"source"`
	ObservedAt string    `json:"observedAt"`
}

type canonicalKnowing struct {
	Name       string                   `json:"name"`
	Signature  string                   `json:"signature"`
	ActionType aiopsv1alpha1.ActionType `json:"actionType"`
	Successes  int64                    `json:"successes"`
	Failures   int64                    `json:"failures"`
}

func canonicalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func protoTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return canonicalTime(ts.AsTime())
}

// InputDigest is "sha256:" and the hex sha256 of the input's canonical encoding: what an audit
// record keeps as the digest of a diagnosis' inputs. Knowledge entries count by name, signature,
// action type and counts only (not their order, nor metadata or timestamps).
func InputDigest(in Input) (string, error) {
	f := in.Finding
	if f == nil {
		return "", fmt.Errorf("digest input: no finding")
	}
	cf := canonicalFinding{
		Analyzer: f.GetAnalyzer(), Signature: f.GetSignature(), Severity: f.GetSeverity().String(),
		Object: RefFromProto(f.GetObject()), Summary: f.GetSummary(), Resolved: f.GetResolved(),
		ObservedAt:      protoTime(f.GetObservedAt()),
		FirstObservedAt: protoTime(f.GetFirstObservedAt()),
		Evidence:        make([]canonicalEvidence, 0, len(f.GetEvidence())),
	}
	for _, e := range f.GetEvidence() {
		cf.Evidence = append(cf.Evidence, canonicalEvidence{Type: e.GetType(), Summary: e.GetSummary(), Detail: e.GetDetail(),
			Source: RefFromProto(e.GetSource()), ObservedAt: protoTime(e.GetObservedAt())})
	}
	ks := make([]canonicalKnowing, 0, len(in.Knowledge))
	for _, k := range in.Knowledge {
		ks = append(ks, knowing(k))
	}
	slices.SortFunc(ks, func(a, b canonicalKnowing) int {
		return cmp.Or(cmp.Compare(a.Signature, b.Signature), cmp.Compare(a.ActionType, b.ActionType), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Successes, b.Successes), cmp.Compare(a.Failures, b.Failures))
	})
	return digest(canonicalInput{Format: digestFormat, Engine: Engine, Cluster: in.Cluster, Now: canonicalTime(in.Now),
		Finding: cf, Knowledge: ks, Options: in.Options})
}

func knowing(k hubv1alpha1.KnowledgeEntry) canonicalKnowing {
	return canonicalKnowing{Name: k.Name, Signature: k.Spec.Signature, ActionType: k.Spec.ActionType,
		Successes: k.Spec.Successes, Failures: k.Spec.Failures}
}

// DiagnosisDigest is "sha256:" and the hex sha256 of the diagnosis' canonical encoding.
func DiagnosisDigest(d Diagnosis) (string, error) {
	return digest(struct {
		Format    string    `json:"format"`
		Diagnosis Diagnosis `json:"diagnosis"`
	}{digestFormat, normalizeTimes(d)})
}

// normalizeTimes puts the diagnosis' times in UTC, so that equal instants encode equally.
func normalizeTimes(d Diagnosis) Diagnosis {
	d.FailureStartedAt = d.FailureStartedAt.UTC()
	if d.SuspectChange != nil {
		s := *d.SuspectChange
		s.ChangedAt = s.ChangedAt.UTC()
		d.SuspectChange = &s
	}
	return d
}

func digest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("digest: encode: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
