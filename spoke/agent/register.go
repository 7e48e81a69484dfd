package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ErrRefused is a decision of the hub that retrying will not change: a bad or used-up token,
// a denied cluster, a name that belongs to another cluster. The agent stops on it.
var ErrRefused = errors.New("refused by the hub")

func refused(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists:
		return true
	}
	return false
}

// newKey makes the cluster's private key.
func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p, err := marshalKey(key)
	return key, p, err
}

func marshalKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("the stored private key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the stored private key is a %T, not ECDSA", k)
	}
	return ec, nil
}

// csrFor asks for a certificate for cluster, and nothing else: the hub sets the identity.
func csrFor(key *ecdsa.PrivateKey, cluster string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cluster}}, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// errPin marks a hub that does not present the pinned CA: no retry will fix that.
type errPin struct{ err error }

func (e errPin) Error() string { return e.err.Error() }

func pinnedTLS(pin string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is checked against the pin below instead of a CA bundle, which a spoke
		// does not have before it registers.
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if _, err := fleetauth.VerifyPinnedChain(raw, pin); err != nil {
				return errPin{err}
			}
			return nil
		},
		NextProtos: []string{"h2"},
	}
}

// probePin checks, with a bare TLS handshake, that addr presents the pinned CA: a wrong pin is
// then a clear, final error instead of a gRPC connection that keeps failing.
func probePin(ctx context.Context, addr, pin string) error {
	d := tls.Dialer{Config: pinnedTLS(pin)}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var pe errPin
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: hub %s: %v", ErrRefused, addr, pe.err)
		}
		return err
	}
	return conn.Close()
}

// pinnedConn dials a hub member over TLS that trusts only the CA whose hash is pinned.
func pinnedConn(addr, pin string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(pinnedTLS(pin))))
}

// register obtains the cluster's certificate: it sends the CSR under the bootstrap token, then
// polls until an admin (or the token) accepts or denies. Progress is kept in the Secret, so a
// restart while pending resumes the same request rather than spending another token use.
func (a *Agent) register(ctx context.Context, creds *hubCredentials, claims *fleetv1.ClusterClaims) error {
	if a.opts.BootstrapToken == "" || len(a.opts.Hub) == 0 || a.opts.HubCAHash == "" {
		return fmt.Errorf("cluster %s has no hub credentials in Secret %s/%s yet: give --hub, --bootstrap-token and --hub-ca-hash to register it",
			claims.GetClusterName(), a.opts.Namespace, a.opts.SecretName)
	}
	pin, err := fleetauth.ParseCAHash(a.opts.HubCAHash)
	if err != nil {
		return err
	}
	var key *ecdsa.PrivateKey
	if len(creds.KeyPEM) > 0 {
		if key, err = parseKey(creds.KeyPEM); err != nil {
			return err
		}
	} else {
		if key, creds.KeyPEM, err = newKey(); err != nil {
			return err
		}
		if err := a.secrets.save(ctx, creds); err != nil {
			return err
		}
	}
	csr, err := csrFor(key, claims.GetClusterName())
	if err != nil {
		return err
	}

	backoff := newBackoff(500*time.Millisecond, 15*time.Second)
	for i := 0; ; i++ {
		addr := a.opts.Hub[i%len(a.opts.Hub)]
		st, err := a.registerOnce(ctx, addr, pin, creds, csr, claims)
		switch {
		case err == nil && st.GetState() == fleetv1.RegistrationState_REGISTRATION_STATE_ACCEPTED:
			c := st.GetCredentials()
			creds.CertPEM, creds.CAPEM, creds.Endpoints = c.GetCertificateChainPem(), c.GetCaBundlePem(), c.GetHubEndpoints()
			if len(creds.Endpoints) == 0 {
				creds.Endpoints = a.opts.Hub
			}
			creds.RegistrationID, creds.PollSecret = "", ""
			if err := a.secrets.save(ctx, creds); err != nil {
				return err
			}
			a.log.Info("registered with the hub", "cluster", creds.Cluster, "notAfter", c.GetNotAfter().AsTime())
			return nil
		case err == nil && st.GetState() == fleetv1.RegistrationState_REGISTRATION_STATE_DENIED:
			return fmt.Errorf("%w: registration of cluster %s was denied: %s", ErrRefused, claims.GetClusterName(), st.GetReason())
		case err == nil:
			a.log.Info("registration pending", "cluster", claims.GetClusterName(), "registration", st.GetRegistrationId(), "reason", st.GetReason())
			wait := max(st.GetRetryAfter().AsDuration(), 500*time.Millisecond)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			backoff.reset()
			i-- // keep polling the member that answered
		case errors.Is(err, ErrRefused):
			return err
		case refused(err):
			return fmt.Errorf("%w: %s", ErrRefused, status.Convert(err).Message())
		default:
			a.log.Warn("hub not reachable for registration; trying again", "hub", addr, "err", err)
			if err := sleep(ctx, backoff.next()); err != nil {
				return err
			}
		}
	}
}

// registerOnce polls the stored registration when there is one, else registers.
func (a *Agent) registerOnce(ctx context.Context, addr, pin string, creds *hubCredentials, csr []byte, claims *fleetv1.ClusterClaims) (*fleetv1.RegistrationStatus, error) {
	if err := probePin(ctx, addr, pin); err != nil {
		return nil, err
	}
	conn, err := pinnedConn(addr, pin)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rc := fleetv1.NewRegistrationClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if creds.RegistrationID != "" {
		resp, err := rc.GetRegistration(ctx, &fleetv1.GetRegistrationRequest{RegistrationId: creds.RegistrationID, PollSecret: creds.PollSecret})
		if err == nil {
			return resp.GetStatus(), nil
		}
		if status.Code(err) != codes.NotFound && status.Code(err) != codes.PermissionDenied {
			return nil, err
		}
		// The hub no longer knows the request (a restored backup, say): ask again with the same key.
	}
	resp, err := rc.Register(ctx, &fleetv1.RegisterRequest{BootstrapToken: a.opts.BootstrapToken, CsrPem: csr, Claims: claims})
	if err != nil {
		return nil, err
	}
	creds.RegistrationID, creds.PollSecret = resp.GetStatus().GetRegistrationId(), resp.GetPollSecret()
	if resp.GetStatus().GetState() == fleetv1.RegistrationState_REGISTRATION_STATE_PENDING {
		if err := a.secrets.save(ctx, creds); err != nil {
			return nil, err
		}
	}
	return resp.GetStatus(), nil
}
