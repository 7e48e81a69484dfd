package registration

import (
	"context"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// expectVersion checks an optional optimistic-concurrency precondition against the stored object.
func expectVersion(res *store.Resource, rv string) error {
	if rv != "" && rv != res.ResourceVersionString() {
		return status.Errorf(codes.Aborted, "%s %s: expected resourceVersion %s, current is %s", res.Kind, res.Name, rv, res.ResourceVersionString())
	}
	return nil
}

// readCluster reads a cluster linearizably, checking the caller's optional version precondition.
func (r *Registrar) readCluster(ctx context.Context, name, rv string) (*ManagedCluster, *store.Resource, error) {
	if err := r.node.ReadBarrier(ctx); err != nil {
		return nil, nil, grpcError(err)
	}
	mc, res, err := r.GetCluster(name)
	if err != nil {
		return nil, nil, err
	}
	if err := expectVersion(res, rv); err != nil {
		return nil, nil, err
	}
	return mc, res, nil
}

// Accept accepts a cluster and signs its newest pending request; older pending ones are denied
// as superseded. Accepting an accepted cluster with nothing pending changes nothing.
func (r *Registrar) Accept(ctx context.Context, actor string, req *fleetv1.AcceptClusterRequest) (*store.Resource, error) {
	for attempt := 0; ; attempt++ {
		mc, res, err := r.readCluster(ctx, req.GetName(), req.GetResourceVersion())
		if err != nil {
			return nil, err
		}
		regs, err := r.registrationsOf(mc.Name)
		if err != nil {
			return nil, err
		}
		var pending []registrationRecord
		for _, reg := range regs {
			if reg.obj.Status.State == hubv1alpha1.RegistrationPending {
				pending = append(pending, reg)
			}
		}
		if mc.Spec.HubAcceptsClient && len(pending) == 0 {
			return res, nil
		}
		now := r.now()
		markAccepted(mc, actor, now)
		var cmds [][]byte
		signed := ""
		for i, reg := range pending {
			if i < len(pending)-1 {
				reg.obj.Status = hubv1alpha1.ClusterRegistrationStatus{State: hubv1alpha1.RegistrationDenied,
					Reason: "superseded by the newer request " + pending[len(pending)-1].obj.Name, DecidedBy: actor, DecidedTime: decidedAt(now)}
			} else {
				csr, err := pki.ParseCSR(reg.obj.Spec.CSR)
				if err != nil {
					return nil, status.Errorf(codes.Internal, "stored CSR of %s: %v", reg.obj.Name, err)
				}
				certPEM, leaf, err := r.sign(csr, mc.Name)
				if err != nil {
					return nil, err
				}
				signed = reg.obj.Name
				// The new certificate replaces every earlier one of the cluster.
				mc.Annotations[hubv1alpha1.AnnotationCertificateSerials] = pki.SerialHex(leaf)
				reg.obj.Status = hubv1alpha1.ClusterRegistrationStatus{State: hubv1alpha1.RegistrationAccepted,
					Reason: "accepted by " + actor, Certificate: certPEM, NotAfter: &metav1.Time{Time: leaf.NotAfter}, DecidedBy: actor, DecidedTime: decidedAt(now)}
			}
			reg.obj.Spec.CSR = nil // decided: the request need not be kept
			cmd, err := store.EncodeUpdate(store.KindClusterRegistration, reg.obj, reg.res.ResourceVersion)
			if err != nil {
				return nil, grpcError(err)
			}
			cmds = append(cmds, cmd)
		}
		mcCmd, err := store.EncodeUpdate(store.KindManagedCluster, mc, res.ResourceVersion)
		if err == nil {
			mcCmd, err = store.WithAudit(mcCmd, store.AuditEntry{Actor: actor, Action: "cluster.accept", Target: "ManagedCluster/" + mc.Name, Cluster: mc.Name,
				Details: mustJSON(map[string]any{"registration": signed, "comment": req.GetComment()})})
		}
		if err != nil {
			return nil, grpcError(err)
		}
		results, err := r.commitAll(ctx, append([][]byte{mcCmd}, cmds...))
		if retryable(err, attempt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return results[0].Resource, nil
	}
}

// Deny refuses a cluster: pending requests are denied, its certificates revoked, and the
// streams it holds are closed by the members serving them. It stays denied until accepted.
func (r *Registrar) Deny(ctx context.Context, actor string, req *fleetv1.DenyClusterRequest) (*store.Resource, error) {
	reason := strings.TrimSpace(req.GetReason())
	if reason == "" {
		reason = "denied by " + actor
	}
	if len(reason) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "reason is over 1024 characters")
	}
	for attempt := 0; ; attempt++ {
		mc, res, err := r.readCluster(ctx, req.GetName(), req.GetResourceVersion())
		if err != nil {
			return nil, err
		}
		wasAccepted := mc.Spec.HubAcceptsClient
		now := r.now()
		mc.Spec.HubAcceptsClient = false
		mc.Annotations[hubv1alpha1.AnnotationDeniedReason] = reason
		delete(mc.Annotations, hubv1alpha1.AnnotationCertificateSerials)
		setCondition(mc, clusterv1.ManagedClusterConditionHubAccepted, metav1.ConditionFalse, reasonDenied, reason, now)
		setCondition(mc, clusterv1.ManagedClusterConditionHubDenied, metav1.ConditionTrue, reasonDenied, reason, now)
		regs, err := r.registrationsOf(mc.Name)
		if err != nil {
			return nil, err
		}
		var cmds [][]byte
		for _, reg := range regs {
			if reg.obj.Status.State != hubv1alpha1.RegistrationPending {
				continue
			}
			reg.obj.Status = hubv1alpha1.ClusterRegistrationStatus{State: hubv1alpha1.RegistrationDenied, Reason: reason, DecidedBy: actor, DecidedTime: decidedAt(now)}
			reg.obj.Spec.CSR = nil
			cmd, err := store.EncodeUpdate(store.KindClusterRegistration, reg.obj, reg.res.ResourceVersion)
			if err != nil {
				return nil, grpcError(err)
			}
			cmds = append(cmds, cmd)
		}
		action := "cluster.deny"
		if wasAccepted {
			action = "cluster.revoke"
		}
		mcCmd, err := store.EncodeUpdate(store.KindManagedCluster, mc, res.ResourceVersion)
		if err == nil {
			mcCmd, err = store.WithAudit(mcCmd, store.AuditEntry{Actor: actor, Action: action, Target: "ManagedCluster/" + mc.Name, Cluster: mc.Name,
				Details: mustJSON(map[string]any{"reason": reason})})
		}
		if err != nil {
			return nil, grpcError(err)
		}
		results, err := r.commitAll(ctx, append([][]byte{mcCmd}, cmds...))
		if retryable(err, attempt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.log.Info("cluster denied", "cluster", mc.Name, "by", actor, "wasAccepted", wasAccepted)
		return results[0].Resource, nil
	}
}

// Label sets and removes labels of a cluster.
func (r *Registrar) Label(ctx context.Context, actor string, req *fleetv1.LabelClusterRequest) (*store.Resource, error) {
	if len(req.GetSet()) == 0 && len(req.GetRemove()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "nothing to do: give labels to set or keys to remove")
	}
	if err := validateLabels(req.GetSet(), "set"); err != nil {
		return nil, err
	}
	for _, k := range req.GetRemove() {
		if _, both := req.GetSet()[k]; both {
			return nil, status.Errorf(codes.InvalidArgument, "label %s is both set and removed", k)
		}
	}
	for attempt := 0; ; attempt++ {
		mc, res, err := r.readCluster(ctx, req.GetName(), req.GetResourceVersion())
		if err != nil {
			return nil, err
		}
		if mc.Labels == nil {
			mc.Labels = map[string]string{}
		}
		for k, v := range req.GetSet() {
			mc.Labels[k] = v
		}
		for _, k := range req.GetRemove() {
			delete(mc.Labels, k)
		}
		cmd, err := store.EncodeUpdate(store.KindManagedCluster, mc, res.ResourceVersion)
		if err == nil {
			cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: actor, Action: "cluster.label", Target: "ManagedCluster/" + mc.Name, Cluster: mc.Name,
				Details: mustJSON(map[string]any{"set": req.GetSet(), "remove": req.GetRemove()})})
		}
		if err != nil {
			return nil, grpcError(err)
		}
		out, err := r.commit(ctx, cmd)
		if retryable(err, attempt) && req.GetResourceVersion() == "" {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out.Resource, nil
	}
}

// Renew signs a new certificate for a connected cluster presenting its current one. The old
// certificate stays accepted beside the new one until it expires or the cluster renews again.
func (r *Registrar) Renew(ctx context.Context, cluster string, presented *x509.Certificate, csrPEM []byte) (*fleetv1.ClusterCredentials, error) {
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if csr.Subject.CommonName != cluster {
		return nil, status.Errorf(codes.PermissionDenied, "cluster %s may renew only its own certificate; the CSR is for %q", cluster, csr.Subject.CommonName)
	}
	for attempt := 0; ; attempt++ {
		if err := r.node.ReadBarrier(ctx); err != nil {
			return nil, grpcError(err)
		}
		mc, res, err := r.GetCluster(cluster)
		if err != nil {
			return nil, err
		}
		if err := CertificateAccepted(mc, presented); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
		certPEM, leaf, err := r.sign(csr, cluster)
		if err != nil {
			return nil, err
		}
		mc.Annotations[hubv1alpha1.AnnotationCertificateSerials] = pki.SerialHex(leaf) + "," + pki.SerialHex(presented)
		cmd, err := store.EncodeUpdate(store.KindManagedCluster, mc, res.ResourceVersion)
		if err == nil {
			cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: "cluster/" + cluster, Action: "cluster.certificate.renew", Target: "ManagedCluster/" + cluster, Cluster: cluster,
				Details: mustJSON(map[string]any{"serial": pki.SerialHex(leaf), "previous": pki.SerialHex(presented), "notAfter": leaf.NotAfter})})
		}
		if err != nil {
			return nil, grpcError(err)
		}
		_, err = r.commit(ctx, cmd)
		if retryable(err, attempt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return r.credentials(certPEM, leaf.NotAfter), nil
	}
}

// Accepted reports whether the cluster is accepted and its HubAccepted condition is True.
func Accepted(mc *ManagedCluster) bool {
	return mc.Spec.HubAcceptsClient && meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionHubAccepted)
}
