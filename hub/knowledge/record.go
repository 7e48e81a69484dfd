package knowledge

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// EntryName is the KnowledgeEntry name for (signature, actionType): the lower-cased action type
// (letters and digits only, at most 30 characters, "action" if none) and the first 20 hex digits
// of sha256(signature NUL actionType), e.g. "rollbackworkload-3f0a9c...". It is a valid DNS-1123
// subdomain and label, and the same on every hub member.
func EntryName(signature string, actionType aiopsv1alpha1.ActionType) string {
	sum := sha256.Sum256([]byte(signature + "\x00" + string(actionType)))
	var prefix strings.Builder
	for _, r := range strings.ToLower(string(actionType)) {
		if prefix.Len() >= 30 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			prefix.WriteRune(r)
		}
	}
	if prefix.Len() == 0 {
		prefix.WriteString("action")
	}
	return prefix.String() + "-" + hex.EncodeToString(sum[:10])
}

// NewEntry is an empty KnowledgeEntry for (signature, actionType), named by EntryName.
func NewEntry(signature string, actionType aiopsv1alpha1.ActionType) hubv1alpha1.KnowledgeEntry {
	return hubv1alpha1.KnowledgeEntry{
		TypeMeta:   metav1.TypeMeta{APIVersion: hubv1alpha1.GroupVersion.String(), Kind: hubv1alpha1.KindKnowledgeEntry},
		ObjectMeta: metav1.ObjectMeta{Name: EntryName(signature, actionType)},
		Spec:       hubv1alpha1.KnowledgeEntrySpec{Signature: signature, ActionType: actionType},
	}
}

// Record returns entry with one more outcome counted: a verified success, or a failure (which
// includes a rollback). The input is not modified. LastOutcomeTime becomes at (in UTC, to the
// second as the API stores it) unless the entry already holds a later time, so outcomes counted
// out of order keep the latest. An entry without a name gets EntryName of its spec.
func Record(entry hubv1alpha1.KnowledgeEntry, succeeded bool, at time.Time) hubv1alpha1.KnowledgeEntry {
	out := *entry.DeepCopy()
	if out.Name == "" {
		out.Name = EntryName(out.Spec.Signature, out.Spec.ActionType)
	}
	if succeeded {
		out.Spec.Successes = max(out.Spec.Successes, 0) + 1
	} else {
		out.Spec.Failures = max(out.Spec.Failures, 0) + 1
	}
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	if out.Spec.LastOutcomeTime == nil || out.Spec.LastOutcomeTime.Before(&t) {
		out.Spec.LastOutcomeTime = &t
	}
	return out
}
