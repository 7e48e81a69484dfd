package registration

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/grpcerr"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Defaults for cluster certificates and leases.
const (
	// DefaultCertTTL is how long a cluster certificate lives; the spoke renews it at 2/3.
	DefaultCertTTL = 24 * time.Hour
	// DefaultLeaseDuration is the cluster lease, as in OCM: heartbeats renew it, and a cluster
	// whose lease was not renewed for LeaseGraceFactor leases turns Unknown.
	DefaultLeaseDuration = 60 * time.Second
	// LeaseGraceFactor is how many leases may pass without a renewal before a cluster is Unknown.
	LeaseGraceFactor = 5
)

// maxConflictRetries bounds the read-modify-write loops that lose a race to another writer;
// registrations, which members race for on a shared token, get more, with jittered waits.
const (
	maxConflictRetries     = 8
	maxRegistrationRetries = 64
)

// conflictPause spreads retries of writers that collided, so they do not collide again.
func conflictPause(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(4*min(attempt+1, 16))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Config wires a Registrar to its member.
type Config struct {
	Node  *raftnode.Node
	Store *store.Store
	// CA signs cluster certificates. Without it this member refuses work that needs a signature.
	CA *pki.CA
	// CertTTL is the lifetime of issued cluster certificates; DefaultCertTTL when zero.
	CertTTL time.Duration
	// LeaseDuration is written into new ManagedClusters; DefaultLeaseDuration when zero.
	LeaseDuration time.Duration
	Logger        *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Registrar admits, accepts, denies and re-certifies clusters, and manages bootstrap tokens.
type Registrar struct {
	node    *raftnode.Node
	store   *store.Store
	ca      *pki.CA
	certTTL time.Duration
	lease   time.Duration
	log     *slog.Logger
	now     func() time.Time
	// queues hold this member's registrations waiting for their token's next batch.
	qmu    sync.Mutex
	queues map[string]*tokenQueue
}

// New returns the Registrar of one member.
func New(cfg Config) *Registrar {
	r := &Registrar{node: cfg.Node, store: cfg.Store, ca: cfg.CA, certTTL: cfg.CertTTL, lease: cfg.LeaseDuration, log: cfg.Logger, now: cfg.Now}
	if r.certTTL <= 0 {
		r.certTTL = DefaultCertTTL
	}
	if r.lease <= 0 {
		r.lease = DefaultLeaseDuration
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// CertTTL is the lifetime of the certificates this member issues.
func (r *Registrar) CertTTL() time.Duration { return r.certTTL }

// LeaseDuration is the cluster lease this hub hands out.
func (r *Registrar) LeaseDuration() time.Duration { return r.lease }

func grpcError(err error) error { return grpcerr.From(err) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("audit details do not marshal: %v", err)) // only plain maps are passed
	}
	return b
}

// commit proposes one command and returns the store's result for it.
func (r *Registrar) commit(ctx context.Context, cmd []byte) (*store.Result, error) {
	res, err := writes.One(ctx, r.node, cmd)
	return res, grpcError(err)
}

// commitAll commits the commands as one transaction and returns each one's result.
func (r *Registrar) commitAll(ctx context.Context, cmds [][]byte) ([]*store.Result, error) {
	txn, err := store.EncodeTransaction(cmds)
	if err != nil {
		return nil, grpcError(err)
	}
	res, err := r.commit(ctx, txn)
	if err != nil {
		return nil, err
	}
	return res.Batch, nil
}

func (r *Registrar) readBarrier(ctx context.Context, c fleetv1.ReadConsistency) error {
	if c == fleetv1.ReadConsistency_READ_CONSISTENCY_STALE {
		return nil
	}
	return grpcError(r.node.ReadBarrier(ctx))
}

// retryable reports whether a transaction lost a race (a version moved, or the same name was
// created meanwhile) and is worth running again on fresh state.
func retryable(err error, attempt int) bool {
	c := status.Code(err)
	return (c == codes.Aborted || c == codes.AlreadyExists) && attempt < maxConflictRetries
}

// paginate pages items sorted by key; the page token is the last key of the previous page.
func paginate[T any](items []T, size int32, token string, key func(T) string) ([]T, string, error) {
	if size < 0 {
		return nil, "", status.Errorf(codes.InvalidArgument, "page_size %d is negative", size)
	}
	start := 0
	if token != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > token })
	}
	end := len(items)
	if size <= 0 {
		size = 500 // as the Fleet API's other lists
	}
	if size > 1000 {
		size = 1000
	}
	if start+int(size) < end {
		end = start + int(size)
	}
	next := ""
	if end < len(items) && end > start {
		next = key(items[end-1])
	}
	return items[start:end], next, nil
}

// hubEndpoints are the gRPC addresses of the hub's members, for spokes to fail over between.
func (r *Registrar) hubEndpoints() []string {
	items, _, err := r.store.List(store.KindHubMember, "", "")
	if err != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		var m hubv1alpha1.HubMember
		if it.Decode(&m) == nil && m.Spec.GRPCAddress != "" {
			out = append(out, m.Spec.GRPCAddress)
		}
	}
	sort.Strings(out)
	return out
}

// HubEndpoints are the members' gRPC addresses as this member last saw them.
func (r *Registrar) HubEndpoints() []string { return r.hubEndpoints() }

func (r *Registrar) sign(csr *x509.CertificateRequest, cluster string) ([]byte, *x509.Certificate, error) {
	if r.ca == nil {
		return nil, nil, status.Error(codes.FailedPrecondition, "this hub member has no CA key (--ca-key) and cannot sign cluster certificates")
	}
	certPEM, leaf, err := r.ca.IssueCluster(csr, cluster, r.certTTL)
	if err != nil {
		return nil, nil, status.Error(codes.Internal, err.Error())
	}
	return certPEM, leaf, nil
}

// credentials is what an accepted spoke receives.
func (r *Registrar) credentials(certPEM []byte, notAfter time.Time) *fleetv1.ClusterCredentials {
	c := &fleetv1.ClusterCredentials{CertificateChainPem: certPEM, HubEndpoints: r.hubEndpoints()}
	if r.ca != nil {
		c.CaBundlePem = r.ca.CertPEM
	}
	if !notAfter.IsZero() {
		c.NotAfter = timestampOf(notAfter)
	}
	return c
}

// certificateSerials is the set of client certificate serials the hub accepts from a cluster.
func certificateSerials(annotations map[string]string) []string {
	v := annotations[hubv1alpha1.AnnotationCertificateSerials]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// CertificateAccepted says whether a cluster's certificate may be used now, and if not, why.
func CertificateAccepted(mc *ManagedCluster, cert *x509.Certificate) error {
	if !mc.Spec.HubAcceptsClient {
		if reason, ok := mc.Annotations[hubv1alpha1.AnnotationDeniedReason]; ok {
			return fmt.Errorf("cluster %s was denied: %s", mc.Name, reason)
		}
		return fmt.Errorf("cluster %s is not accepted by the hub", mc.Name)
	}
	serial := pki.SerialHex(cert)
	for _, s := range certificateSerials(mc.Annotations) {
		if s == serial {
			return nil
		}
	}
	return fmt.Errorf("certificate %s of cluster %s was revoked or superseded; re-register the cluster", serial, mc.Name)
}
