package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
)

// Identities travel as SPIFFE-style URI SANs, one per certificate.
const (
	trustDomain  = "kubedevaiops.io"
	memberPrefix = "spiffe://" + trustDomain + "/hub/member/"
	adminPrefix  = "spiffe://" + trustDomain + "/hub/admin/"
	// ClusterPrefix names a managed cluster's spoke; the rest of the URI is the cluster name.
	ClusterPrefix = fleetauth.ClusterURIPrefix
)

// Kind is the kind of principal a certificate speaks for.
type Kind string

const (
	KindMember Kind = "member"
	KindAdmin  Kind = "admin"
	// KindCluster is a managed cluster's spoke agent.
	KindCluster Kind = "cluster"
)

// Identity is who a verified certificate speaks for.
type Identity struct {
	Kind Kind
	Name string
	// Roles are an admin's roles (the certificate's Organization), e.g. "admin", "viewer".
	Roles []string
}

func (id Identity) String() string { return string(id.Kind) + "/" + id.Name }

func identityURI(kind Kind, name string) *url.URL {
	prefix := memberPrefix
	switch kind {
	case KindAdmin:
		prefix = adminPrefix
	case KindCluster:
		prefix = ClusterPrefix
	}
	u, _ := url.Parse(prefix + url.PathEscape(name))
	return u
}

// IdentityOf reads the identity of a certificate that has already been verified against the
// hub CA. A certificate without one of the hub's URIs speaks for no one.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	for _, u := range cert.URIs {
		s := u.String()
		for _, p := range []struct {
			prefix string
			kind   Kind
		}{{memberPrefix, KindMember}, {adminPrefix, KindAdmin}, {ClusterPrefix, KindCluster}} {
			if name, ok := strings.CutPrefix(s, p.prefix); ok && name != "" {
				name, err := url.PathUnescape(name)
				if err != nil {
					return Identity{}, fmt.Errorf("certificate %q: bad identity URI %q", cert.Subject.CommonName, s)
				}
				id := Identity{Kind: p.kind, Name: name}
				if p.kind == KindAdmin {
					id.Roles = cert.Subject.Organization
				}
				return id, nil
			}
		}
	}
	return Identity{}, fmt.Errorf("certificate %q carries no hub identity (a %s..., %s... or %s... URI)", cert.Subject.CommonName, memberPrefix, adminPrefix, ClusterPrefix)
}
