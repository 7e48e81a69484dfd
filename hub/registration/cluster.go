package registration

import (
	"context"
	"crypto/subtle"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ManagedCluster is OCM's type, as the store holds it.
type ManagedCluster = clusterv1.ManagedCluster

// Well-known claim names. The first ones are OCM's; the rest are this project's.
const (
	ClaimID         = "id.k8s.io"
	ClaimKubeVer    = "kubeversion.open-cluster-management.io"
	ClaimPlatform   = "platform.open-cluster-management.io"
	ClaimRegion     = "region.open-cluster-management.io"
	ClaimZone       = "zone.kubedevaiops.io"
	ClaimNodeCount  = "nodes.kubedevaiops.io"
	reasonAccepted  = "HubClusterAdminAccepted"
	reasonDenied    = "HubClusterAdminDenied"
	pendingRetry    = 2 * time.Second
	pendingHowToFmt = "waiting for an admin: kubectl aiops clusters accept %s"
)

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// validateClaims checks what a spoke says about itself.
func validateClaims(c *fleetv1.ClusterClaims) error {
	if c == nil {
		return status.Error(codes.InvalidArgument, "claims are required, with at least cluster_name")
	}
	if errs := validation.IsDNS1123Label(c.GetClusterName()); len(errs) > 0 {
		return status.Errorf(codes.InvalidArgument, "claims.cluster_name %q: %s", c.GetClusterName(), strings.Join(errs, "; "))
	}
	for name, v := range c.GetAdditional() {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return status.Errorf(codes.InvalidArgument, "claims.additional: claim name %q: %s", name, strings.Join(errs, "; "))
		}
		if len(v) == 0 || len(v) > 1024 {
			return status.Errorf(codes.InvalidArgument, "claims.additional[%s]: the value must be 1 to 1024 characters", name)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"kubernetes_version", c.GetKubernetesVersion()}, {"platform", c.GetPlatform()}, {"region", c.GetRegion()},
		{"zone", c.GetZone()}, {"cluster_id", c.GetClusterId()},
	} {
		if len(f.v) > 1024 {
			return status.Errorf(codes.InvalidArgument, "claims.%s is over 1024 characters", f.name)
		}
	}
	return nil
}

// ClaimsToStatus turns claims into ManagedCluster clusterClaims, sorted by name.
func ClaimsToStatus(c *fleetv1.ClusterClaims) []clusterv1.ManagedClusterClaim {
	m := map[string]string{}
	maps.Copy(m, c.GetAdditional())
	for name, v := range map[string]string{
		ClaimID: c.GetClusterId(), ClaimKubeVer: c.GetKubernetesVersion(), ClaimPlatform: c.GetPlatform(),
		ClaimRegion: c.GetRegion(), ClaimZone: c.GetZone(),
	} {
		if v != "" {
			m[name] = v
		}
	}
	if c.GetNodeCount() > 0 {
		m[ClaimNodeCount] = strconv.FormatUint(uint64(c.GetNodeCount()), 10)
	}
	out := make([]clusterv1.ManagedClusterClaim, 0, len(m))
	for name, v := range m {
		out = append(out, clusterv1.ManagedClusterClaim{Name: name, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func setCondition(mc *ManagedCluster, typ string, s metav1.ConditionStatus, reason, msg string, now time.Time) {
	meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
		ObservedGeneration: mc.Generation,
	})
}

func markAccepted(mc *ManagedCluster, by string, now time.Time) {
	mc.Spec.HubAcceptsClient = true
	delete(mc.Annotations, hubv1alpha1.AnnotationDeniedReason)
	setCondition(mc, clusterv1.ManagedClusterConditionHubAccepted, metav1.ConditionTrue, reasonAccepted, "Accepted by "+by, now)
	meta.RemoveStatusCondition(&mc.Status.Conditions, clusterv1.ManagedClusterConditionHubDenied)
}

func newManagedCluster(claims *fleetv1.ClusterClaims, tok *hubv1alpha1.BootstrapToken, lease time.Duration) *ManagedCluster {
	labels := map[string]string{}
	maps.Copy(labels, tok.Spec.ClusterLabels)
	if tok.Spec.ClusterSet != "" {
		labels[clusterv1beta2.ClusterSetLabel] = tok.Spec.ClusterSet
	}
	mc := &ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:        claims.GetClusterName(),
			Labels:      labels,
			Annotations: map[string]string{hubv1alpha1.AnnotationClusterID: claims.GetClusterId()},
		},
		Spec: clusterv1.ManagedClusterSpec{LeaseDurationSeconds: int32(lease / time.Second)},
	}
	mc.Status.Conditions = []metav1.Condition{}
	return mc
}

func decodeCluster(res *store.Resource) (*ManagedCluster, error) {
	var mc ManagedCluster
	if err := res.Decode(&mc); err != nil {
		return nil, status.Errorf(codes.Internal, "stored ManagedCluster %s: %v", res.Name, err)
	}
	if mc.Annotations == nil {
		mc.Annotations = map[string]string{}
	}
	return &mc, nil
}

// GetCluster returns the stored ManagedCluster and its resource.
func (r *Registrar) GetCluster(name string) (*ManagedCluster, *store.Resource, error) {
	res, err := r.store.Get(store.KindManagedCluster, "", name)
	if err != nil {
		return nil, nil, status.Errorf(codes.NotFound, "cluster %s is not registered with this hub", name)
	}
	mc, err := decodeCluster(res)
	return mc, res, err
}

type registrationRecord struct {
	obj *hubv1alpha1.ClusterRegistration
	res *store.Resource
}

// registrationsOf lists a cluster's registration requests, oldest first.
func (r *Registrar) registrationsOf(cluster string) ([]registrationRecord, error) {
	items, _, err := r.store.List(store.KindClusterRegistration, "", hubv1alpha1.LabelCluster+"="+cluster)
	if err != nil {
		return nil, grpcError(err)
	}
	out := make([]registrationRecord, 0, len(items))
	for _, it := range items {
		var reg hubv1alpha1.ClusterRegistration
		if err := it.Decode(&reg); err != nil {
			return nil, status.Errorf(codes.Internal, "stored ClusterRegistration %s: %v", it.Name, err)
		}
		out = append(out, registrationRecord{&reg, it})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].res.CreateIndex < out[j].res.CreateIndex })
	return out, nil
}

func registrationStatus(reg *hubv1alpha1.ClusterRegistration, creds func([]byte, time.Time) *fleetv1.ClusterCredentials) *fleetv1.RegistrationStatus {
	st := &fleetv1.RegistrationStatus{RegistrationId: reg.Name, ClusterName: reg.Spec.ClusterName, Reason: reg.Status.Reason}
	switch reg.Status.State {
	case hubv1alpha1.RegistrationAccepted:
		st.State = fleetv1.RegistrationState_REGISTRATION_STATE_ACCEPTED
		var notAfter time.Time
		if reg.Status.NotAfter != nil {
			notAfter = reg.Status.NotAfter.Time
		}
		st.Credentials = creds(reg.Status.Certificate, notAfter)
	case hubv1alpha1.RegistrationDenied:
		st.State = fleetv1.RegistrationState_REGISTRATION_STATE_DENIED
	default:
		st.State = fleetv1.RegistrationState_REGISTRATION_STATE_PENDING
		st.RetryAfter = durationpb.New(pendingRetry)
	}
	return st
}

// Register admits a spoke's request under a bootstrap token: see the package doc.
func (r *Registrar) Register(ctx context.Context, req *fleetv1.RegisterRequest) (*fleetv1.RegisterResponse, error) {
	tokenID, secret, err := ParseToken(req.GetBootstrapToken())
	if err != nil {
		return nil, err
	}
	claims := req.GetClaims()
	if err := validateClaims(claims); err != nil {
		return nil, err
	}
	name := claims.GetClusterName()
	csr, err := pki.ParseCSR(req.GetCsrPem())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if csr.Subject.CommonName != name {
		return nil, status.Errorf(codes.InvalidArgument, "the CSR is for %q but the claims name cluster %q; a spoke asks for a certificate for its own cluster only", csr.Subject.CommonName, name)
	}
	job := &registration{
		req: req, tokenID: tokenID, secret: secret, claims: claims, csr: csr,
		keyHash: pki.PublicKeyHash(csr.RawSubjectPublicKeyInfo), done: make(chan registered, 1),
	}
	r.enqueue(job)
	select {
	case res := <-job.done:
		return res.resp, res.err
	case <-ctx.Done():
		// The request may still be admitted; a retry with the same key finds it.
		return nil, grpcError(ctx.Err())
	}
}

func (r *Registrar) refreshPoll(ctx context.Context, reg registrationRecord) (*fleetv1.RegisterResponse, error) {
	pollSecret := randomString(32)
	reg.obj.Spec.PollSecretHash = hubv1alpha1.HashTokenSecret(pollSecret)
	cmd, err := store.EncodeUpdate(store.KindClusterRegistration, reg.obj, reg.res.ResourceVersion)
	if err != nil {
		return nil, grpcError(err)
	}
	if _, err := r.commit(ctx, cmd); err != nil {
		return nil, err
	}
	return &fleetv1.RegisterResponse{Status: registrationStatus(reg.obj, r.credentials), PollSecret: pollSecret}, nil
}

// GetRegistration answers a spoke polling its request with the poll secret.
func (r *Registrar) GetRegistration(ctx context.Context, req *fleetv1.GetRegistrationRequest) (*fleetv1.GetRegistrationResponse, error) {
	if req.GetRegistrationId() == "" || req.GetPollSecret() == "" {
		return nil, status.Error(codes.InvalidArgument, "registration_id and poll_secret are required")
	}
	if err := r.node.ReadBarrier(ctx); err != nil {
		return nil, grpcError(err)
	}
	res, err := r.store.Get(store.KindClusterRegistration, "", req.GetRegistrationId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "registration %s is not known to this hub", req.GetRegistrationId())
	}
	var reg hubv1alpha1.ClusterRegistration
	if err := res.Decode(&reg); err != nil {
		return nil, status.Errorf(codes.Internal, "stored registration: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(reg.Spec.PollSecretHash), []byte(hubv1alpha1.HashTokenSecret(req.GetPollSecret()))) != 1 {
		return nil, status.Errorf(codes.PermissionDenied, "poll secret does not match registration %s", reg.Name)
	}
	return &fleetv1.GetRegistrationResponse{Status: registrationStatus(&reg, r.credentials)}, nil
}
