package main

import (
	"encoding/json"
	"fmt"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func decodeObject(r *fleetv1.Resource, v any) error {
	if err := json.Unmarshal(r.GetObjectJson(), v); err != nil {
		return fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
	}
	return nil
}
