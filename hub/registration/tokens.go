package registration

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Bootstrap tokens have the kubeadm form "<id>.<secret>": a 6-character public id and a
// 16-character secret, both [a-z0-9].
var tokenPattern = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Token lifetimes: the default when none is asked for, and the most a token may live.
const (
	DefaultTokenTTL = 24 * time.Hour
	MaxTokenTTL     = 30 * 24 * time.Hour
)

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// ParseToken splits a bootstrap token into its id and secret.
func ParseToken(token string) (id, secret string, err error) {
	m := tokenPattern.FindStringSubmatch(token)
	if m == nil {
		return "", "", status.Error(codes.InvalidArgument, "bootstrap token is malformed: want <6 characters>.<16 characters>, lower-case letters and digits, as kubectl aiops token create prints it")
	}
	return m[1], m[2], nil
}

func validateLabels(labels map[string]string, what string) error {
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return status.Errorf(codes.InvalidArgument, "%s: label key %q: %s", what, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return status.Errorf(codes.InvalidArgument, "%s: label %s value %q: %s", what, k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// CreateToken creates a bootstrap token and returns it with its secret, which the hub keeps
// only as a hash.
func (r *Registrar) CreateToken(ctx context.Context, actor string, req *fleetv1.CreateTokenRequest) (*fleetv1.CreateTokenResponse, error) {
	ttl := DefaultTokenTTL
	if req.GetTtl() != nil {
		if err := req.GetTtl().CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "ttl: %v", err)
		}
		ttl = req.GetTtl().AsDuration()
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return nil, status.Errorf(codes.InvalidArgument, "ttl %s: a token lives more than 0 and at most %s", ttl, MaxTokenTTL)
	}
	if req.GetUsageLimit() > 1<<20 {
		return nil, status.Errorf(codes.InvalidArgument, "usage_limit %d is over 1048576; use 0 for no limit", req.GetUsageLimit())
	}
	if set := req.GetClusterSet(); set != "" {
		if errs := validation.IsDNS1123Label(set); len(errs) > 0 {
			return nil, status.Errorf(codes.InvalidArgument, "cluster_set %q: %s", set, strings.Join(errs, "; "))
		}
	}
	if err := validateLabels(req.GetClusterLabels(), "cluster_labels"); err != nil {
		return nil, err
	}
	if len(req.GetDescription()) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "description is over 1024 characters")
	}
	id, secret := randomString(6), randomString(16)
	exp := metav1.NewTime(r.now().Add(ttl).UTC().Truncate(time.Second))
	tok := &hubv1alpha1.BootstrapToken{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: hubv1alpha1.BootstrapTokenSpec{
			TokenID: id, SecretHash: hubv1alpha1.HashTokenSecret(secret), Expiration: &exp,
			UsageLimit: int32(req.GetUsageLimit()), ClusterSet: req.GetClusterSet(), AutoAccept: req.GetAutoAccept(),
			Description: req.GetDescription(), ClusterLabels: req.GetClusterLabels(), CreatedBy: actor,
		},
	}
	cmd, err := store.EncodeCreate(store.KindBootstrapToken, tok)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: actor, Action: "token.create", Target: "BootstrapToken/" + id,
			Details: mustJSON(map[string]any{"ttl": ttl.String(), "usageLimit": req.GetUsageLimit(), "clusterSet": req.GetClusterSet(), "autoAccept": req.GetAutoAccept()})})
	}
	if err != nil {
		return nil, grpcError(err)
	}
	res, err := r.commit(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out, err := tokenToProto(res.Resource)
	if err != nil {
		return nil, err
	}
	return &fleetv1.CreateTokenResponse{Token: out, Secret: id + "." + secret}, nil
}

// ListTokens lists tokens, without secrets; inactive ones (revoked, expired, used up) only when asked.
func (r *Registrar) ListTokens(ctx context.Context, req *fleetv1.ListTokensRequest) (*fleetv1.ListTokensResponse, error) {
	if err := r.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	items, _, err := r.store.List(store.KindBootstrapToken, "", "")
	if err != nil {
		return nil, grpcError(err)
	}
	now := r.now()
	var out []*fleetv1.BootstrapToken
	for _, it := range items {
		var tok hubv1alpha1.BootstrapToken
		if err := it.Decode(&tok); err != nil {
			return nil, status.Errorf(codes.Internal, "stored token %s: %v", it.Name, err)
		}
		if !req.GetIncludeInactive() && !tok.Usable(now) {
			continue
		}
		p, err := tokenToProto(it)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	page, next, err := paginate(out, req.GetPageSize(), req.GetPageToken(), func(t *fleetv1.BootstrapToken) string { return t.Id })
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListTokensResponse{Tokens: page, NextPageToken: next}, nil
}

// RevokeToken makes a token unusable. Clusters it already admitted keep their certificates.
func (r *Registrar) RevokeToken(ctx context.Context, actor string, req *fleetv1.RevokeTokenRequest) (*fleetv1.RevokeTokenResponse, error) {
	id := req.GetId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	if i := strings.IndexByte(id, '.'); i >= 0 {
		return nil, status.Error(codes.InvalidArgument, "give the token id (the part before the dot), not the whole token")
	}
	for attempt := 0; ; attempt++ {
		if err := r.node.ReadBarrier(ctx); err != nil {
			return nil, grpcError(err)
		}
		cur, err := r.store.Get(store.KindBootstrapToken, "", id)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "bootstrap token %s does not exist", id)
		}
		var tok hubv1alpha1.BootstrapToken
		if err := cur.Decode(&tok); err != nil {
			return nil, status.Errorf(codes.Internal, "stored token %s: %v", id, err)
		}
		if tok.Spec.Revoked {
			p, err := tokenToProto(cur)
			return &fleetv1.RevokeTokenResponse{Token: p}, err
		}
		tok.Spec.Revoked = true
		cmd, err := store.EncodeUpdate(store.KindBootstrapToken, &tok, cur.ResourceVersion)
		if err == nil {
			cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: actor, Action: "token.revoke", Target: "BootstrapToken/" + id})
		}
		if err != nil {
			return nil, grpcError(err)
		}
		res, err := r.commit(ctx, cmd)
		if status.Code(err) == codes.Aborted && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := tokenToProto(res.Resource)
		return &fleetv1.RevokeTokenResponse{Token: p}, err
	}
}

func tokenToProto(res *store.Resource) (*fleetv1.BootstrapToken, error) {
	var tok hubv1alpha1.BootstrapToken
	if err := res.Decode(&tok); err != nil {
		return nil, status.Errorf(codes.Internal, "stored token %s: %v", res.Name, err)
	}
	out := &fleetv1.BootstrapToken{
		Id: tok.Spec.TokenID, Description: tok.Spec.Description, CreatedBy: tok.Spec.CreatedBy,
		CreateTime: timestamppb.New(tok.CreationTimestamp.Time), UsageLimit: uint32(tok.Spec.UsageLimit),
		UsageCount: uint32(tok.Status.Uses), ClusterSet: tok.Spec.ClusterSet, AutoAccept: tok.Spec.AutoAccept,
		ClusterLabels: tok.Spec.ClusterLabels, Revoked: tok.Spec.Revoked,
	}
	if tok.Spec.Expiration != nil {
		out.ExpireTime = timestamppb.New(tok.Spec.Expiration.Time)
	}
	return out, nil
}

// checkToken says why a token may not admit a registration now, if it may not.
func checkToken(tok *hubv1alpha1.BootstrapToken, secret string, now time.Time) error {
	id := tok.Spec.TokenID
	if !tok.SecretMatches(secret) {
		return status.Errorf(codes.Unauthenticated, "bootstrap token %s: the secret does not match", id)
	}
	if tok.Spec.Revoked {
		return status.Errorf(codes.PermissionDenied, "bootstrap token %s was revoked", id)
	}
	if tok.Spec.Expiration != nil && !now.Before(tok.Spec.Expiration.Time) {
		return status.Errorf(codes.PermissionDenied, "bootstrap token %s expired at %s", id, tok.Spec.Expiration.UTC().Format(time.RFC3339))
	}
	if tok.Spec.UsageLimit > 0 && tok.Status.Uses >= tok.Spec.UsageLimit {
		return status.Errorf(codes.PermissionDenied, "bootstrap token %s is used up: %d of %d registrations", id, tok.Status.Uses, tok.Spec.UsageLimit)
	}
	return nil
}
