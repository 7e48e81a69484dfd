package registration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// DecidedRetention is how long a decided registration request is kept: long enough for a
// spoke polling every few seconds to fetch its certificate, or to read why it was denied.
const DecidedRetention = time.Hour

func decidedAt(t time.Time) *metav1.Time {
	d := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &d
}

// CollectGarbage runs on the leader: it removes registration requests decided more than
// DecidedRetention ago, which hold a certificate nobody needs any more, and bootstrap tokens that
// expired or were used up that long ago (as Kubernetes' token cleaner removes expired bootstrap
// tokens), so the store does not grow with every registration the fleet ever saw. The audit log
// keeps their history.
func (r *Registrar) CollectGarbage(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.collect(ctx, r.now())
		}
	}
}

func (r *Registrar) collect(ctx context.Context, now time.Time) int {
	items, _, err := r.store.List(store.KindClusterRegistration, "", "")
	if err != nil {
		return 0
	}
	cmds := expiredDeletes(items, now)
	if toks, _, err := r.store.List(store.KindBootstrapToken, "", ""); err == nil {
		cmds = append(cmds, spentTokenDeletes(toks, now)...)
	}
	n := 0
	for _, err := range writes.Commit(ctx, r.node, cmds) {
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound):
			r.log.Warn("decided registration not removed; next round retries", "err", err)
		}
	}
	return n
}

// expiredDeletes returns the deletes of the registrations decided more than DecidedRetention
// before now, each conditional on the version it was read at.
func expiredDeletes(items []*store.Resource, now time.Time) [][]byte {
	var cmds [][]byte
	for _, it := range items {
		var reg hubv1alpha1.ClusterRegistration
		if it.Decode(&reg) != nil || reg.Status.State == hubv1alpha1.RegistrationPending || reg.Status.DecidedTime == nil {
			continue
		}
		if now.Sub(reg.Status.DecidedTime.Time) < DecidedRetention {
			continue
		}
		if cmd, err := store.EncodeDelete(store.KindClusterRegistration, "", reg.Name, it.ResourceVersion); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// spentTokenDeletes returns the deletes of the tokens that expired, or admitted their last
// registration, more than DecidedRetention before now.
func spentTokenDeletes(items []*store.Resource, now time.Time) [][]byte {
	var cmds [][]byte
	for _, it := range items {
		var tok hubv1alpha1.BootstrapToken
		if it.Decode(&tok) != nil {
			continue
		}
		expired := tok.Spec.Expiration != nil && now.Sub(tok.Spec.Expiration.Time) >= DecidedRetention
		usedUp := tok.Spec.UsageLimit > 0 && tok.Status.Uses >= tok.Spec.UsageLimit &&
			tok.Status.LastUsedTime != nil && now.Sub(tok.Status.LastUsedTime.Time) >= DecidedRetention
		if !expired && !usedUp {
			continue
		}
		if cmd, err := store.EncodeDelete(store.KindBootstrapToken, "", tok.Name, it.ResourceVersion); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// CollectedOnConnect returns the deletes of cluster's accepted registration requests whose
// certificate has the serial the cluster just connected with. A connection proves the agent
// saved that certificate, so the request (and its copy of the certificate) has served its
// purpose; removing it then, rather than DecidedRetention later, keeps the store from holding a
// certificate per cluster for the first hour of a large fleet's life.
func (r *Registrar) CollectedOnConnect(cluster, serialHex string) [][]byte {
	regs, err := r.registrationsOf(cluster)
	if err != nil {
		return nil
	}
	return connectedDeletes(regs, serialHex)
}

// connectedDeletes returns the deletes of the accepted requests whose certificate has serialHex.
func connectedDeletes(regs []registrationRecord, serialHex string) [][]byte {
	var cmds [][]byte
	for _, reg := range regs {
		if reg.obj.Status.State != hubv1alpha1.RegistrationAccepted || len(reg.obj.Status.Certificate) == 0 {
			continue
		}
		block, _ := pem.Decode(reg.obj.Status.Certificate)
		if block == nil {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || pki.SerialHex(cert) != serialHex {
			continue
		}
		if cmd, err := store.EncodeDelete(store.KindClusterRegistration, "", reg.obj.Name, reg.res.ResourceVersion); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}
