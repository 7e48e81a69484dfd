package testbed

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	vault "github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Halt stops the Vault server process, as an outage would; its in-memory state is gone. Restart
// brings a fresh one up at the same address.
func (v *Vault) Halt() {
	if v.proc != nil {
		v.proc.stop(10 * time.Second)
	}
}

// Restart halts the server if it runs and starts a fresh dev server at the same address with the
// same root token (KV v2 at secret/, transit at transit/). Everything else written before is
// gone: auth methods, policies and secrets must be set up again.
func (v *Vault) Restart(ctx context.Context) error {
	v.Halt()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bin, err := binary(binVault)
	if err != nil {
		return err
	}
	u, err := url.Parse(v.Address)
	if err != nil {
		return fmt.Errorf("vault restart: %w", err)
	}
	// Keep the previous run's log next to the new one.
	_ = os.Rename(v.proc.logPath, v.proc.logPath+"."+time.Now().Format("150405.000"))
	proc, err := startProcess(binVault, bin, []string{
		"server", "-dev",
		"-dev-root-token-id=" + v.RootToken,
		"-dev-listen-address=" + u.Host,
		"-dev-no-store-token",
	}, v.Dir, []string{"HOME=" + v.Dir, "VAULT_DISABLE_MLOCK=true", "SKIP_SETCAP=true"})
	if err != nil {
		return err
	}
	v.proc = proc
	client, err := v.Client()
	if err != nil {
		return err
	}
	if err := proc.await(ctx, "unsealed", func(ctx context.Context) error {
		h, err := client.Sys().HealthWithContext(ctx)
		if err != nil {
			return err
		}
		if !h.Initialized || h.Sealed {
			return fmt.Errorf("initialized=%v sealed=%v", h.Initialized, h.Sealed)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := client.Sys().MountWithContext(ctx, "transit", &vault.MountInput{Type: "transit"}); err != nil {
		return proc.failure(fmt.Errorf("enable the transit engine: %w", err))
	}
	return nil
}

// VaultKubernetesAuth says how EnableKubernetesAuth set up Vault's kubernetes auth method.
type VaultKubernetesAuth struct {
	// Mount is the auth method's mount path.
	Mount string
	// ReviewerNamespace and ReviewerName name the ServiceAccount whose token Vault uses for
	// TokenReviews; it is bound to system:auth-delegator.
	ReviewerNamespace, ReviewerName string
}

// EnableKubernetesAuth enables Vault's kubernetes auth method at mount, pointed at cluster c:
// its apiserver URL and CA, and the token of a reviewer ServiceAccount (bound to
// system:auth-delegator) with which Vault checks each login's JWT through a TokenReview.
func EnableKubernetesAuth(ctx context.Context, v *Vault, c *Cluster, mount string) (*VaultKubernetesAuth, error) {
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	auth := &VaultKubernetesAuth{Mount: mount, ReviewerNamespace: "kube-system", ReviewerName: "vault-token-reviewer"}
	if err := ensureServiceAccount(ctx, cs, auth.ReviewerNamespace, auth.ReviewerName); err != nil {
		return nil, err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-token-reviewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: auth.ReviewerNamespace, Name: auth.ReviewerName}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("bind the token reviewer to system:auth-delegator: %w", err)
	}
	reviewerJWT, err := ServiceAccountToken(ctx, c, auth.ReviewerNamespace, auth.ReviewerName, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(c.Config.TLSClientConfig.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	client, err := v.Client()
	if err != nil {
		return nil, err
	}
	if err := client.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &vault.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		return nil, fmt.Errorf("enable vault auth method kubernetes at %s: %w", mount, err)
	}
	if _, err := client.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":    c.Config.Host,
		"kubernetes_ca_cert": string(ca),
		"token_reviewer_jwt": reviewerJWT,
	}); err != nil {
		return nil, fmt.Errorf("configure vault auth method kubernetes at %s: %w", mount, err)
	}
	return auth, nil
}

// ServiceAccountToken creates the ServiceAccount namespace/name when missing (and the namespace)
// and returns a token for it from the TokenRequest API, valid for ttl.
func ServiceAccountToken(ctx context.Context, c *Cluster, namespace, name string, ttl time.Duration) (string, error) {
	cs, err := c.Clientset()
	if err != nil {
		return "", err
	}
	if err := ensureServiceAccount(ctx, cs, namespace, name); err != nil {
		return "", err
	}
	secs := int64(ttl / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

func ensureServiceAccount(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", namespace, name, err)
	}
	return nil
}
