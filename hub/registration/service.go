package registration

import (
	"context"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Service serves the Registration gRPC service. Callers have no client certificate yet: the
// bootstrap token authenticates Register, the poll secret GetRegistration.
type Service struct {
	fleetv1.UnimplementedRegistrationServer
	r *Registrar
}

// NewService returns the Registration service over r.
func NewService(r *Registrar) *Service { return &Service{r: r} }

// Register admits a spoke's request; see Registrar.Register.
func (s *Service) Register(ctx context.Context, req *fleetv1.RegisterRequest) (*fleetv1.RegisterResponse, error) {
	return s.r.Register(ctx, req)
}

// GetRegistration answers a poll; see Registrar.GetRegistration.
func (s *Service) GetRegistration(ctx context.Context, req *fleetv1.GetRegistrationRequest) (*fleetv1.GetRegistrationResponse, error) {
	return s.r.GetRegistration(ctx, req)
}
