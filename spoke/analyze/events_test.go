package analyze_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

func TestEventsAnalyzer(t *testing.T) {
	ns := namespace(t, "events-analyzer")
	a := analyze.Events{}
	tests := []struct {
		name   string
		events func(t *testing.T, obj *corev1.ConfigMap)
		kind   string
		want   []string
		check  func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name: "recent warnings, one finding per reason",
			events: func(t *testing.T, cm *corev1.ConfigMap) {
				warn(t, cm, "ConfigMap", "v1", "FailedSync", "sync failed: token=abc123secret rejected", 12, time.Now())
				warn(t, cm, "ConfigMap", "v1", "FailedSync", "sync failed again", 1, time.Now().Add(-time.Minute))
				warn(t, cm, "ConfigMap", "v1", "Invalid", "bad key", 1, time.Now())
			},
			kind: "ConfigMap",
			want: []string{"event/FailedSync/ConfigMap", "event/Invalid/ConfigMap"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				f := fs["event/FailedSync/ConfigMap"]
				assert.Equal(t, fleetv1.Severity_SEVERITY_MEDIUM, f.Severity, "13 occurrences")
				assert.Len(t, evidence(f, analyze.EvidenceEvent), 2)
				assert.NotContains(t, f.Summary, "abc123secret", "tokens are redacted")
			},
		},
		{
			name: "old warnings and normal events are not findings",
			events: func(t *testing.T, cm *corev1.ConfigMap) {
				awaitCached(t, warn(t, cm, "ConfigMap", "v1", "FailedSync", "long ago", 1, time.Now().Add(-3*time.Hour)))
				normal := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "normal.", Namespace: ns},
					InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: ns, Name: cm.Name, UID: cm.UID},
					Type:           corev1.EventTypeNormal, Reason: "Synced", Message: "ok", LastTimestamp: metav1.Now()}
				create(t, normal)
				awaitCached(t, normal)
			},
			kind: "ConfigMap",
		},
		{
			name: "warnings another analyzer reports are left to it",
			events: func(t *testing.T, cm *corev1.ConfigMap) {
				awaitCached(t, warn(t, &corev1.Pod{ObjectMeta: cm.ObjectMeta}, "Pod", "v1", "BackOff", "Back-off restarting failed container", 5, time.Now()))
			},
			kind: "Pod",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg-" + string(rune('a'+i)), Namespace: ns}}
			create(t, cm)
			tt.events(t, cm)
			fs := awaitFindings(t, a, input(), tt.kind, ns, cm.Name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}
