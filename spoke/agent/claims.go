package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// staticClaims are what does not change while the agent runs: name, id, version, platform.
func (a *Agent) staticClaims(ctx context.Context, cfg *rest.Config, reader client.Reader) (*fleetv1.ClusterClaims, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read the cluster's Kubernetes version: %w", err)
	}
	id := a.opts.ClusterID
	if id == "" {
		// Without an id.k8s.io ClusterProperty, the kube-system namespace's uid is the
		// cluster's most stable identity (it lives as long as the cluster does).
		var ns corev1.Namespace
		if err := reader.Get(ctx, client.ObjectKey{Name: "kube-system"}, &ns); err != nil {
			return nil, fmt.Errorf("read namespace kube-system for the cluster id (or give --cluster-id): %w", err)
		}
		id = string(ns.UID)
	}
	return &fleetv1.ClusterClaims{ClusterName: a.opts.ClusterName, KubernetesVersion: v.GitVersion, Platform: a.opts.Platform, ClusterId: id}, nil
}

// withNodeClaims adds node count, region and zone from the nodes.
func withNodeClaims(base *fleetv1.ClusterClaims, nodes []corev1.Node) *fleetv1.ClusterClaims {
	c := &fleetv1.ClusterClaims{
		ClusterName: base.GetClusterName(), KubernetesVersion: base.GetKubernetesVersion(), Platform: base.GetPlatform(),
		ClusterId: base.GetClusterId(), NodeCount: uint32(len(nodes)), Additional: base.GetAdditional(),
	}
	regions, zones := map[string]bool{}, map[string]bool{}
	for _, n := range nodes {
		if r := n.Labels[corev1.LabelTopologyRegion]; r != "" {
			regions[r] = true
		}
		if z := n.Labels[corev1.LabelTopologyZone]; z != "" {
			zones[z] = true
		}
	}
	c.Region, c.Zone = joined(regions), joined(zones)
	if c.Platform == "" {
		c.Platform = guessPlatform(nodes)
	}
	return c
}

func joined(set map[string]bool) string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	if len(out) != 1 {
		// Several regions or zones: a claim names one; placements select by labels instead.
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	return out[0]
}

// guessPlatform names the platform from the nodes' provider ids, as far as they tell.
func guessPlatform(nodes []corev1.Node) string {
	for _, n := range nodes {
		p := n.Spec.ProviderID
		switch {
		case strings.HasPrefix(p, "aws://"):
			return "EKS"
		case strings.HasPrefix(p, "gce://"):
			return "GKE"
		case strings.HasPrefix(p, "azure://"):
			return "AKS"
		case strings.HasPrefix(p, "kind://"):
			return "kind"
		}
		if n.Annotations["kwok.x-k8s.io/node"] == "fake" {
			return "kwok"
		}
	}
	return "Kubernetes"
}
