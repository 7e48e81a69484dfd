package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Service reports Services with a selector whose EndpointSlices hold no ready endpoint: no
// pod matches, or none of the matching pods is ready.
type Service struct {
	// Grace is how old a Service must be before it is judged, so the EndpointSlice controller
	// has filled its slices; default 1m.
	Grace time.Duration
}

// Name implements Analyzer.
func (Service) Name() string { return "service" }

// Analyze implements Analyzer.
func (a Service) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var svcs corev1.ServiceList
	if err := in.Reader.List(ctx, &svcs); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var slices discoveryv1.EndpointSliceList
	if err := in.Reader.List(ctx, &slices); err != nil {
		return nil, fmt.Errorf("list endpointslices: %w", err)
	}
	type tally struct{ ready, notReady []string }
	bySvc := map[string]*tally{}
	for _, s := range slices.Items {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := s.Namespace + "/" + name
		t := bySvc[k]
		if t == nil {
			t = &tally{}
			bySvc[k] = t
		}
		for _, e := range s.Endpoints {
			who := strings.Join(e.Addresses, ",")
			if e.TargetRef != nil {
				who = e.TargetRef.Kind + " " + e.TargetRef.Name
			}
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				t.ready = append(t.ready, who)
			} else {
				t.notReady = append(t.notReady, who)
			}
		}
	}
	var out []*fleetv1.Finding
	for i := range svcs.Items {
		s := &svcs.Items[i]
		if len(s.Spec.Selector) == 0 || s.Spec.Type == corev1.ServiceTypeExternalName || s.DeletionTimestamp != nil ||
			in.now().Sub(s.CreationTimestamp.Time) < or(a.Grace, time.Minute) {
			continue
		}
		t := bySvc[s.Namespace+"/"+s.Name]
		if t == nil {
			t = &tally{}
		}
		if len(t.ready) > 0 {
			continue
		}
		selector := labelsString(s.Spec.Selector)
		var f *fleetv1.Finding
		if len(t.notReady) == 0 {
			f = finding(in, "service", fleetv1.Severity_SEVERITY_HIGH, ref(gvkService, s),
				fmt.Sprintf("no pods match the selector %s", selector), "NoEndpoints", "NoMatchingPods")
			f.Evidence = append(f.Evidence, statusEvidence(in, "no endpoints", "selector "+selector))
		} else {
			sort.Strings(t.notReady)
			f = finding(in, "service", fleetv1.Severity_SEVERITY_HIGH, ref(gvkService, s),
				fmt.Sprintf("none of the %d endpoints is ready", len(t.notReady)), "NoReadyEndpoints")
			f.Evidence = append(f.Evidence, statusEvidence(in, fmt.Sprintf("%d endpoints, none ready", len(t.notReady)),
				"selector "+selector+"; not ready: "+strings.Join(t.notReady, "; ")))
		}
		f.Evidence = append(f.Evidence, eventEvidence(ctx, in, s.Namespace, string(s.UID), true)...)
		out = append(out, f)
	}
	return out, nil
}

func labelsString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// Ingress reports Ingresses whose backend Service (or its port) does not exist, or whose
// IngressClass does not.
type Ingress struct{}

// Name implements Analyzer.
func (Ingress) Name() string { return "ingress" }

// Analyze implements Analyzer.
func (Ingress) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list networkingv1.IngressList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list ingresses: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		ing := &list.Items[i]
		if ing.DeletionTimestamp != nil {
			continue
		}
		var missingSvc, missingPort []string
		check := func(where string, b *networkingv1.IngressBackend) {
			if b == nil || b.Service == nil {
				return
			}
			var svc corev1.Service
			err := in.Reader.Get(ctx, client.ObjectKey{Namespace: ing.Namespace, Name: b.Service.Name}, &svc)
			switch {
			case isNotFound(err):
				missingSvc = append(missingSvc, fmt.Sprintf("%s -> service %s", where, b.Service.Name))
			case err == nil && !servicePort(&svc, b.Service.Port):
				missingPort = append(missingPort, fmt.Sprintf("%s -> service %s port %s", where, b.Service.Name, portString(b.Service.Port)))
			}
		}
		check("default backend", ing.Spec.DefaultBackend)
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				check(or(r.Host, "*")+p.Path, &p.Backend)
			}
		}
		var fs []*fleetv1.Finding
		if len(missingSvc) > 0 {
			f := finding(in, "ingress", fleetv1.Severity_SEVERITY_HIGH, ref(gvkIngress, ing),
				fmt.Sprintf("%d backends name a service that does not exist", len(missingSvc)), "MissingBackendService")
			f.Evidence = append(f.Evidence, statusEvidence(in, "missing backend services", strings.Join(missingSvc, "\n")))
			fs = append(fs, f)
		}
		if len(missingPort) > 0 {
			f := finding(in, "ingress", fleetv1.Severity_SEVERITY_HIGH, ref(gvkIngress, ing),
				fmt.Sprintf("%d backends name a port their service does not have", len(missingPort)), "MissingBackendPort")
			f.Evidence = append(f.Evidence, statusEvidence(in, "missing backend ports", strings.Join(missingPort, "\n")))
			fs = append(fs, f)
		}
		if cls := ing.Spec.IngressClassName; cls != nil && *cls != "" {
			var ic networkingv1.IngressClass
			if err := in.Reader.Get(ctx, client.ObjectKey{Name: *cls}, &ic); isNotFound(err) {
				f := finding(in, "ingress", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkIngress, ing),
					fmt.Sprintf("ingress class %s does not exist", *cls), "MissingIngressClass")
				f.Evidence = append(f.Evidence, statusEvidence(in, "spec.ingressClassName", *cls))
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, ing.Namespace, string(ing.UID), true)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
		}
		out = append(out, fs...)
	}
	return out, nil
}

func servicePort(svc *corev1.Service, p networkingv1.ServiceBackendPort) bool {
	for _, sp := range svc.Spec.Ports {
		if p.Name != "" && sp.Name == p.Name || p.Name == "" && sp.Port == p.Number {
			return true
		}
	}
	return false
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}
