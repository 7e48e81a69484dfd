package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The tests store values in AIOpsPolicies: a real kind on the generic resource path, cheap to
// write. The value lives in an annotation.
const valueAnnotation = "test.kubedevaiops.io/value"

func policyJSON(name, value string) []byte {
	obj := map[string]any{
		"apiVersion": "aiops.kubedevaiops.io/v1alpha1",
		"kind":       "AIOpsPolicy",
		"metadata":   map[string]any{"name": name, "annotations": map[string]string{valueAnnotation: value}},
		"spec":       map[string]any{"autonomy": "observe"},
	}
	data, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return data
}

func putPolicy(ctx context.Context, c fleetv1.FleetClient, name, value string) (*fleetv1.Resource, error) {
	out, err := c.ApplyPolicy(ctx, &fleetv1.ApplyPolicyRequest{Policy: &fleetv1.Resource{
		Kind: "AIOpsPolicy", Name: name, ObjectJson: policyJSON(name, value),
	}})
	return out.GetPolicy(), err
}

// policyValue reads the value a policy holds.
func policyValue(r *fleetv1.Resource) (string, error) {
	var obj struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(r.GetObjectJson(), &obj); err != nil {
		return "", err
	}
	v, ok := obj.Metadata.Annotations[valueAnnotation]
	if !ok {
		return "", fmt.Errorf("policy %s has no value", r.GetName())
	}
	return v, nil
}

func getPolicy(ctx context.Context, c fleetv1.FleetClient, name string, stale bool) (string, error) {
	req := &fleetv1.GetPolicyRequest{Name: name}
	if stale {
		req.Consistency = fleetv1.ReadConsistency_READ_CONSISTENCY_STALE
	}
	out, err := c.GetPolicy(ctx, req)
	if err != nil {
		return "", err
	}
	return policyValue(out.GetPolicy())
}

// requireAll checks that member i holds every acknowledged value.
func requireAll(t *testing.T, ctx context.Context, h *testbed.Hub, i int, acked map[string]string) {
	t.Helper()
	for name, want := range acked {
		got, err := getPolicy(ctx, h.Client(i), name, false)
		require.NoError(t, err, "member %s, policy %s", h.Members[i].ID, name)
		require.Equal(t, want, got, "member %s, policy %s", h.Members[i].ID, name)
	}
}
