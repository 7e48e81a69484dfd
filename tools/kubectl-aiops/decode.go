package main

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func decodeObject(r *fleetv1.Resource, v any) error {
	if err := json.Unmarshal(r.GetObjectJson(), v); err != nil {
		return fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
	}
	return nil
}

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// allPages collects every page of a list call: page is called with each page token in turn.
func allPages[T any](page func(token string) ([]T, string, error)) ([]T, error) {
	var all []T
	token := ""
	for {
		items, next, err := page(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}
