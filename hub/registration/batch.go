package registration

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Registrations under one token all update that token's use count, so one at a time would
// serialise them on a Raft round trip each. Instead the requests that arrive at a member while
// one batch commits wait in the token's queue and go together in the next: one transaction
// with one token update for the whole batch, up to maxBatch requests.
const (
	maxBatch     = 64
	batchTimeout = time.Minute
)

// registration is one validated Register call waiting for its batch.
type registration struct {
	req             *fleetv1.RegisterRequest
	tokenID, secret string
	claims          *fleetv1.ClusterClaims
	csr             *x509.CertificateRequest
	keyHash         string
	done            chan registered
}

type registered struct {
	resp *fleetv1.RegisterResponse
	err  error
}

func (j *registration) finish(resp *fleetv1.RegisterResponse, err error) {
	j.done <- registered{resp, err}
}

// tokenQueue holds one token's waiting registrations; busy while a drainer runs.
type tokenQueue struct {
	jobs []*registration
	busy bool
}

func (r *Registrar) enqueue(j *registration) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if r.queues == nil {
		r.queues = map[string]*tokenQueue{}
	}
	q := r.queues[j.tokenID]
	if q == nil {
		q = &tokenQueue{}
		r.queues[j.tokenID] = q
	}
	q.jobs = append(q.jobs, j)
	if !q.busy {
		q.busy = true
		go r.drain(j.tokenID, q)
	}
}

// drain registers the token's queue in batches until it is empty.
func (r *Registrar) drain(tokenID string, q *tokenQueue) {
	for {
		r.qmu.Lock()
		n := min(len(q.jobs), maxBatch)
		if n == 0 {
			q.busy = false
			delete(r.queues, tokenID)
			r.qmu.Unlock()
			return
		}
		batch := q.jobs[:n:n]
		q.jobs = q.jobs[n:]
		r.qmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		r.registerBatch(ctx, batch)
		cancel()
	}
}

// admitted is a request the batch writes: its commands and what to answer once they commit.
type admitted struct {
	job        *registration
	reg        *hubv1alpha1.ClusterRegistration
	pollSecret string
	cmds       [][]byte
}

// registerBatch admits the requests of one token in one transaction, retrying on fresh state
// when another member changed the token or a cluster meanwhile.
func (r *Registrar) registerBatch(ctx context.Context, jobs []*registration) {
	tokenID := jobs[0].tokenID
	for attempt := 0; ; attempt++ {
		if err := r.node.ReadBarrier(ctx); err != nil {
			failAll(jobs, grpcError(err))
			return
		}
		now := r.now()
		tokRes, err := r.store.Get(store.KindBootstrapToken, "", tokenID)
		if err != nil {
			failAll(jobs, status.Errorf(codes.Unauthenticated, "bootstrap token %s is not known to this hub", tokenID))
			return
		}
		var tok hubv1alpha1.BootstrapToken
		if err := tokRes.Decode(&tok); err != nil {
			failAll(jobs, status.Errorf(codes.Internal, "stored token %s: %v", tokenID, err))
			return
		}

		var batch []admitted
		var later []*registration // a second request for a name already in this batch
		names := map[string]bool{}
		for _, j := range jobs {
			if err := checkToken(&tok, j.secret, now); err != nil {
				j.finish(nil, err)
				continue
			}
			name := j.claims.GetClusterName()
			if names[name] {
				later = append(later, j)
				continue
			}
			a, done, err := r.prepare(ctx, j, &tok, now)
			switch {
			case err != nil:
				j.finish(nil, err)
			case done:
				// answered without a write of its own (a repeated pending request)
			default:
				names[name] = true
				tok.Status.Uses++ // checkToken of the next request sees this one's use
				batch = append(batch, a)
			}
		}
		if len(batch) > 0 {
			used := metav1.NewTime(now.UTC().Truncate(time.Second))
			tok.Status.LastUsedTime = &used
			tokCmd, err := store.EncodeUpdate(store.KindBootstrapToken, &tok, tokRes.ResourceVersion)
			if err != nil {
				failAdmitted(batch, grpcError(err))
				return
			}
			cmds := [][]byte{tokCmd}
			for _, a := range batch {
				cmds = append(cmds, a.cmds...)
			}
			results, err := r.commitAll(ctx, cmds)
			if c := status.Code(err); (c == codes.Aborted || c == codes.AlreadyExists) && attempt < maxRegistrationRetries {
				// Another member admitted a cluster under this token, or created one of these
				// names, meanwhile: read again and redo the whole batch.
				if err := conflictPause(ctx, attempt); err != nil {
					failAdmitted(batch, grpcError(err))
					return
				}
				jobs = append(batchJobs(batch), later...)
				continue
			}
			if err != nil {
				failAdmitted(batch, err)
			} else {
				r.answer(batch, results[1:], tok.Spec.AutoAccept)
			}
		}
		if len(later) == 0 {
			return
		}
		jobs = later
	}
}

func failAll(jobs []*registration, err error) {
	for _, j := range jobs {
		j.finish(nil, err)
	}
}

func failAdmitted(batch []admitted, err error) {
	for _, a := range batch {
		a.job.finish(nil, err)
	}
}

func batchJobs(batch []admitted) []*registration {
	out := make([]*registration, len(batch))
	for i, a := range batch {
		out[i] = a.job
	}
	return out
}

// answer sends each admitted request its stored registration; results are the transaction's
// results after the token update, three per request (cluster, registration, audit).
func (r *Registrar) answer(batch []admitted, results []*store.Result, autoAccepted bool) {
	for i, a := range batch {
		var stored hubv1alpha1.ClusterRegistration
		if err := results[3*i+1].Resource.Decode(&stored); err != nil {
			a.job.finish(nil, status.Errorf(codes.Internal, "stored registration: %v", err))
			continue
		}
		r.log.Info("cluster registered", "cluster", a.reg.Spec.ClusterName, "token", a.job.tokenID, "registration", a.reg.Name, "autoAccepted", autoAccepted)
		a.job.finish(&fleetv1.RegisterResponse{Status: registrationStatus(&stored, r.credentials), PollSecret: a.pollSecret}, nil)
	}
}

// prepare checks one request against the stored cluster of its name and returns the writes that
// admit it. done means it was answered already: the same pending request again, which gets a
// fresh poll secret and uses the token no further.
func (r *Registrar) prepare(ctx context.Context, j *registration, tok *hubv1alpha1.BootstrapToken, now time.Time) (admitted, bool, error) {
	claims, name := j.claims, j.claims.GetClusterName()
	mc, mcRes, err := r.GetCluster(name)
	if err != nil && status.Code(err) != codes.NotFound {
		return admitted{}, false, err
	}
	if mc != nil {
		// A cluster created ahead of its agent (an import) takes the id of the first registration.
		if cid := mc.Annotations[hubv1alpha1.AnnotationClusterID]; cid != "" && cid != claims.GetClusterId() {
			return admitted{}, false, status.Errorf(codes.FailedPrecondition, "cluster name %q is registered to another cluster (id.k8s.io %q, this one claims %q); pick another name or remove the old cluster", name, cid, claims.GetClusterId())
		}
		if reason, denied := mc.Annotations[hubv1alpha1.AnnotationDeniedReason]; denied {
			return admitted{}, false, status.Errorf(codes.PermissionDenied, "cluster %s was denied (%s); an admin must accept it (kubectl aiops clusters accept %s) before it registers again", name, reason, name)
		}
		regs, err := r.registrationsOf(name)
		if err != nil {
			return admitted{}, false, err
		}
		for _, reg := range regs {
			if reg.obj.Spec.PublicKeySHA256 == j.keyHash && reg.obj.Status.State == hubv1alpha1.RegistrationPending {
				resp, err := r.refreshPoll(ctx, reg)
				j.finish(resp, err)
				return admitted{}, true, nil
			}
		}
	}

	pollSecret := randomString(32)
	reg := &hubv1alpha1.ClusterRegistration{
		ObjectMeta: metav1.ObjectMeta{Name: "reg-" + randomString(12), Labels: map[string]string{hubv1alpha1.LabelCluster: name}},
		Spec: hubv1alpha1.ClusterRegistrationSpec{
			ClusterName: name, CSR: j.req.GetCsrPem(), PublicKeySHA256: j.keyHash,
			PollSecretHash: hubv1alpha1.HashTokenSecret(pollSecret), TokenID: j.tokenID, ClusterID: claims.GetClusterId(),
		},
		Status: hubv1alpha1.ClusterRegistrationStatus{State: hubv1alpha1.RegistrationPending, Reason: fmt.Sprintf(pendingHowToFmt, name)},
	}
	creating := mc == nil
	if creating {
		mc = newManagedCluster(claims, tok, r.lease)
	}
	mc.Annotations[hubv1alpha1.AnnotationBootstrapToken] = j.tokenID
	mc.Annotations[hubv1alpha1.AnnotationClusterID] = claims.GetClusterId()
	mc.Status.ClusterClaims = ClaimsToStatus(claims)
	mc.Status.Version.Kubernetes = claims.GetKubernetesVersion()
	if tok.Spec.AutoAccept {
		certPEM, leaf, err := r.sign(j.csr, name)
		if err != nil {
			return admitted{}, false, err
		}
		by := "token/" + j.tokenID
		markAccepted(mc, by, now)
		mc.Annotations[hubv1alpha1.AnnotationCertificateSerials] = pki.SerialHex(leaf)
		reg.Spec.CSR = nil // signed: the request need not be kept
		reg.Status = hubv1alpha1.ClusterRegistrationStatus{
			State: hubv1alpha1.RegistrationAccepted, Reason: "accepted by auto-accepting bootstrap token " + j.tokenID,
			Certificate: certPEM, NotAfter: &metav1.Time{Time: leaf.NotAfter}, DecidedBy: by, DecidedTime: decidedAt(now),
		}
	}
	var mcCmd []byte
	if creating {
		mcCmd, err = store.EncodeCreate(store.KindManagedCluster, mc)
	} else {
		mcCmd, err = store.EncodeUpdate(store.KindManagedCluster, mc, mcRes.ResourceVersion)
	}
	if err != nil {
		return admitted{}, false, grpcError(err)
	}
	regCmd, err := store.EncodeCreate(store.KindClusterRegistration, reg)
	if err != nil {
		return admitted{}, false, grpcError(err)
	}
	auditCmd, err := store.EncodeAuditAppend(store.AuditEntry{
		Actor: "token/" + j.tokenID, Action: "cluster.register", Target: "ManagedCluster/" + name, Cluster: name,
		Details: mustJSON(map[string]any{"registration": reg.Name, "clusterID": claims.GetClusterId(), "autoAccepted": tok.Spec.AutoAccept, "newCluster": creating}),
	})
	if err != nil {
		return admitted{}, false, grpcError(err)
	}
	return admitted{job: j, reg: reg, pollSecret: pollSecret, cmds: [][]byte{mcCmd, regCmd, auditCmd}}, false, nil
}
