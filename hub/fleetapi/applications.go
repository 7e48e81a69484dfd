package fleetapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"k8s.io/apimachinery/pkg/util/validation"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ManagedApplications. The hub owns their status (onboarding, hub/onboard): an apply changes
// the spec and metadata and keeps the stored status.

// applyAttempts bounds the retries of an unconditional apply that raced a status write.
const applyAttempts = 4

func (s *Server) ApplyApplication(ctx context.Context, req *fleetv1.ApplyApplicationRequest) (*fleetv1.ApplyApplicationResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetApplication()
	if in == nil || len(in.GetObjectJson()) == 0 {
		return nil, invalid("%s: object_json is empty", store.KindManagedApplication)
	}
	if in.GetKind() != "" && in.GetKind() != store.KindManagedApplication {
		return nil, invalid("this call stores %s objects, not %s", store.KindManagedApplication, in.GetKind())
	}
	rv, err := parseVersion(in.GetResourceVersion())
	if err != nil {
		return nil, err
	}
	// The store's strict decoding first, on the object as given.
	if _, err := store.EncodeApply(store.KindManagedApplication, json.RawMessage(in.GetObjectJson()), rv); err != nil {
		return nil, grpcError(err)
	}
	var app aiopsv1alpha1.ManagedApplication
	if err := json.Unmarshal(in.GetObjectJson(), &app); err != nil {
		return nil, invalid("ManagedApplication: %v", err)
	}
	if err := validateApplication(&app); err != nil {
		return nil, invalid("ManagedApplication %s/%s: %v", app.Namespace, app.Name, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(in.GetObjectJson(), &fields); err != nil {
		return nil, invalid("ManagedApplication: %v", err)
	}
	audit := store.AuditEntry{Actor: who.String(), Action: "application.apply", Target: store.KindManagedApplication + "/" + app.Namespace + "/" + app.Name, Cluster: app.Spec.Cluster}
	for attempt := 1; ; attempt++ {
		if err := s.readBarrier(ctx, fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED); err != nil {
			return nil, err
		}
		delete(fields, "status")
		want := rv
		if cur, err := s.store.Get(store.KindManagedApplication, app.Namespace, app.Name); err == nil {
			var stored struct {
				Status json.RawMessage `json:"status"`
			}
			if err := json.Unmarshal(cur.Object, &stored); err != nil {
				return nil, grpcError(err)
			}
			if len(stored.Status) > 0 {
				fields["status"] = stored.Status
			}
			if want == 0 {
				want = cur.ResourceVersion // so a status written meanwhile is not lost
			}
		}
		obj, err := json.Marshal(fields)
		if err != nil {
			return nil, grpcError(err)
		}
		r, err := s.applyResource(ctx, store.KindManagedApplication, &fleetv1.Resource{
			Kind: store.KindManagedApplication, Name: app.Name, Namespace: app.Namespace, ResourceVersion: versionString(want), ObjectJson: obj,
		}, audit)
		if err != nil && rv == 0 && attempt < applyAttempts && status.Code(err) == codes.Aborted {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &fleetv1.ApplyApplicationResponse{Application: r}, nil
	}
}

// validateApplication checks at the hub what the CRD's validation checks in a cluster and the
// hub relies on: one source, and a cluster that can be a ManagedCluster's name.
func validateApplication(app *aiopsv1alpha1.ManagedApplication) error {
	var errs []error
	if (app.Spec.Source.Git == nil) == (app.Spec.Source.Image == nil) {
		errs = append(errs, errors.New("exactly one of spec.source.git or spec.source.image must be set"))
	}
	if g := app.Spec.Source.Git; g != nil && strings.TrimSpace(g.URL) == "" {
		errs = append(errs, errors.New("spec.source.git.url is required"))
	}
	if c := app.Spec.Cluster; c != "" {
		if msgs := validation.IsDNS1123Subdomain(c); len(msgs) > 0 {
			errs = append(errs, errors.New("spec.cluster "+c+": "+strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

func versionString(v uint64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

func (s *Server) GetApplication(ctx context.Context, req *fleetv1.GetApplicationRequest) (*fleetv1.GetApplicationResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if req.GetNamespace() == "" {
		return nil, invalid("%s: namespace is required", store.KindManagedApplication)
	}
	r, err := s.getResource(ctx, store.KindManagedApplication, req.GetNamespace(), req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetApplicationResponse{Application: r}, nil
}

func (s *Server) ListApplications(ctx context.Context, req *fleetv1.ListApplicationsRequest) (*fleetv1.ListApplicationsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	items, next, err := s.listResources(ctx, store.KindManagedApplication, req.GetNamespace(), req.GetLabelSelector(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListApplicationsResponse{Applications: items, NextPageToken: next}, nil
}

func (s *Server) DeleteApplication(ctx context.Context, req *fleetv1.DeleteApplicationRequest) (*fleetv1.DeleteApplicationResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetNamespace() == "" {
		return nil, invalid("%s: namespace is required", store.KindManagedApplication)
	}
	index, err := s.deleteResource(ctx, store.KindManagedApplication, req.GetNamespace(), req.GetName(), req.GetResourceVersion(),
		store.AuditEntry{Actor: who.String(), Action: "application.delete", Target: store.KindManagedApplication + "/" + req.GetNamespace() + "/" + req.GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.DeleteApplicationResponse{Index: index}, nil
}
