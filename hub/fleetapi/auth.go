package fleetapi

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
)

// Admin roles, carried in the admin certificate's Organization.
const (
	// RoleAdmin may do everything.
	RoleAdmin = "admin"
	// RoleViewer may read everything but secrets, and change nothing.
	RoleViewer = "viewer"
	// RoleApprover may read everything and approve or reject plans.
	RoleApprover = "approver"
)

// caller returns the verified identity of the peer.
func caller(ctx context.Context) (pki.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return pki.Identity{}, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return pki.Identity{}, status.Error(codes.Unauthenticated, "the Fleet API needs a client certificate issued by the hub CA")
	}
	id, err := pki.IdentityOf(info.State.VerifiedChains[0][0])
	if err != nil {
		return pki.Identity{}, status.Error(codes.PermissionDenied, err.Error())
	}
	return id, nil
}

// requireAdmin lets through admins holding one of the roles (admin always qualifies).
func requireAdmin(ctx context.Context, roles ...string) (pki.Identity, error) {
	id, err := caller(ctx)
	if err != nil {
		return id, err
	}
	if id.Kind != pki.KindAdmin {
		return id, status.Errorf(codes.PermissionDenied, "%s is not an admin", id)
	}
	if slices.Contains(id.Roles, RoleAdmin) {
		return id, nil
	}
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return id, nil
		}
	}
	return id, status.Errorf(codes.PermissionDenied, "%s (roles %v) may not do this; it needs one of %v", id, id.Roles, append([]string{RoleAdmin}, roles...))
}

// canRead is for read-only calls; canWrite for changes.
func canRead(ctx context.Context) (pki.Identity, error) {
	return requireAdmin(ctx, RoleViewer, RoleApprover)
}
func canWrite(ctx context.Context) (pki.Identity, error) { return requireAdmin(ctx) }
