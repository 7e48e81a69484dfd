package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Login retry pacing of the keeper, and the floor under which a failed login is not retried
// on a caller's behalf (the caller gets the last error at once and falls back).
const (
	loginRetryMin   = 500 * time.Millisecond
	loginRetryMax   = 30 * time.Second
	loginRetryFloor = time.Second
	// rememberedValues bounds how many credential values are kept for scrubbing error texts.
	rememberedValues = 64
)

// Vault is the hub's session with Vault: it logs in, keeps the token renewed, logs in again
// when the token ends or Vault stops knowing it, and reads provider keys. Safe for concurrent use.
type Vault struct {
	cfg    Config
	log    *slog.Logger
	client *vault.Client // for every caller; its token is replaced in place on each login
	lc     *vault.Client // carries no token but the one being checked; used only under loginMu

	loginMu sync.Mutex

	mu         sync.Mutex
	gen        uint64 // counts logins: a token is known by the generation that got it
	authed     bool
	auth       *vault.SecretAuth
	expiry     time.Time
	logins     uint64
	renewals   uint64
	lastErr    error
	lastFailAt time.Time
	keys       map[string]cachedKey
	remembered []string // credential values to scrub from error texts, newest last

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

type cachedKey struct {
	secret  Secret
	version int
	readAt  time.Time
}

// Status is a snapshot of the session, safe to show: it holds no credential.
type Status struct {
	Address       string
	Method        AuthMethod
	Authenticated bool
	// TokenExpiry is when the current token ends unless renewed; zero when it does not expire.
	TokenExpiry      time.Time
	Logins, Renewals uint64
	// LastError is the last login or check failure, scrubbed; empty after a success.
	LastError string
}

// New validates cfg, builds the client and starts the keeper, which logs in in the background
// and keeps the token alive until Close. It does not wait for Vault: call Login for that.
func New(cfg Config, log *slog.Logger) (*Vault, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	vc := vault.DefaultConfig() // also reads VAULT_* variables; every setting that matters is set below
	vc.Address = cfg.Address
	vc.Timeout = cfg.Timeout
	// Short retry waits, so that a refused connection is reported well within the timeout and
	// callers fall back quickly.
	vc.MinRetryWait, vc.MaxRetryWait = 250*time.Millisecond, time.Second
	if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CAFile, TLSServerName: cfg.TLSServerName}); err != nil {
		return nil, fmt.Errorf("vault config CAFile (--vault-ca-file) %s: %w", cfg.CAFile, err)
	}
	if vc.Error != nil {
		return nil, fmt.Errorf("vault client for %s: %w", cfg.Address, vc.Error)
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", cfg.Address, err)
	}
	client.ClearToken()     // NewClient takes $VAULT_TOKEN; only a login sets the token
	client.ClearNamespace() // likewise $VAULT_NAMESPACE
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	lc, err := client.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", cfg.Address, err)
	}
	lc.ClearToken()
	v := &Vault{
		cfg: cfg, log: log.With("vault", cfg.Address, "auth", string(cfg.Auth.Method)),
		client: client, lc: lc,
		keys: map[string]cachedKey{},
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	go v.keep()
	return v, nil
}

// Client returns the Vault client, authenticated with the current token (replaced in place at
// each login, so holding the pointer is fine). Requests made before the first login, or while
// Vault is unavailable, fail with Vault's own error.
func (v *Vault) Client() *vault.Client { return v.client }

// Login returns nil when the session holds a token, else logs in now. Its error is
// ErrUnavailable (and ErrLoginFailed when Vault refused); the keeper keeps retrying either way.
func (v *Vault) Login(ctx context.Context) error { return v.authenticate(ctx, false) }

// Close stops the keeper and the renewal. The token is left to expire.
func (v *Vault) Close() {
	v.cancel()
	<-v.done
}

// Status reports the session's state.
func (v *Vault) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Status{
		Address: v.cfg.Address, Method: v.cfg.Auth.Method, Authenticated: v.authed,
		TokenExpiry: v.expiry, Logins: v.logins, Renewals: v.renewals,
	}
	if v.lastErr != nil {
		s.LastError = v.lastErr.Error()
	}
	return s
}

// keep is the keeper: it logs in (with backoff), runs a lifetime watcher on each token, logs
// in again when the watcher ends, and checks the token now and then.
func (v *Vault) keep() {
	defer close(v.done)
	var (
		watcher *vault.LifetimeWatcher
		watched uint64
		renewCh <-chan *vault.RenewOutput
		doneCh  <-chan error
	)
	stopWatcher := func() {
		if watcher != nil {
			watcher.Stop()
		}
		watcher, renewCh, doneCh = nil, nil, nil
	}
	defer stopWatcher()
	check := time.NewTicker(v.cfg.CheckInterval)
	defer check.Stop()
	delay := loginRetryMin
	for {
		gen, authed, auth := v.current()
		if !authed {
			stopWatcher()
			if err := v.authenticate(v.ctx, true); err != nil {
				if v.ctx.Err() != nil {
					return
				}
				v.log.Warn("vault login failed; retrying", "in", delay, "error", err)
				if !v.sleep(delay) {
					return
				}
				delay = min(2*delay, loginRetryMax)
				continue
			}
			delay = loginRetryMin
			continue
		}
		if watched != gen {
			stopWatcher()
			watched = gen
			if auth.LeaseDuration > 0 {
				w, err := v.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: &vault.Secret{Auth: auth}})
				if err != nil { // only for a missing secret, which cannot happen here
					v.log.Error("vault token renewal not started", "error", err)
				} else {
					watcher, renewCh, doneCh = w, w.RenewCh(), w.DoneCh()
					go w.Start()
				}
			}
		}
		select {
		case <-v.ctx.Done():
			return
		case <-v.wake:
		case out := <-renewCh:
			v.renewed(watched, out)
		case err := <-doneCh:
			// Renewal is over: the token reached its max TTL, is not renewable, or renewing
			// failed until it expired. Either way a fresh login is due.
			if err != nil {
				v.log.Info("vault token renewal ended; logging in again", "error", v.scrub(describe(err)))
			} else {
				v.log.Info("vault token at the end of its lifetime; logging in again")
			}
			stopWatcher()
			v.markStale(watched)
		case <-check.C:
			v.checkToken(gen)
		}
	}
}

// sleep waits d, or less when poked; false when closed.
func (v *Vault) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.ctx.Done():
		return false
	case <-v.wake:
	case <-t.C:
	}
	return true
}

func (v *Vault) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

func (v *Vault) current() (uint64, bool, *vault.SecretAuth) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gen, v.authed, v.auth
}

// markStale drops the token of login gen, unless a newer login already replaced it.
func (v *Vault) markStale(gen uint64) {
	v.mu.Lock()
	if v.gen == gen {
		v.authed = false
	}
	v.mu.Unlock()
	v.poke()
}

func (v *Vault) renewed(gen uint64, out *vault.RenewOutput) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen || out == nil || out.Secret == nil || out.Secret.Auth == nil {
		return
	}
	v.renewals++
	v.expiry = expiryOf(out.RenewedAt, out.Secret.Auth.LeaseDuration)
	v.log.Debug("vault token renewed", "ttl", time.Duration(out.Secret.Auth.LeaseDuration)*time.Second)
}

// checkToken asks Vault about the current token; one it no longer knows (a restarted dev
// server, a revocation) is replaced by a fresh login.
func (v *Vault) checkToken(gen uint64) {
	// The client bounds the request (retries included) by Config.Timeout; a context deadline of
	// our own would hide an unreachable Vault as a mere timeout.
	ctx := v.ctx
	_, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil {
		return
	}
	switch classify(ctx, err) {
	case failRejected:
		v.log.Info("vault no longer accepts the hub's token; logging in again")
		v.markStale(gen)
	case failContext:
	default:
		e := v.fail(fmt.Sprintf("vault at %s unreachable: %s (checking the token)", v.cfg.Address, v.unreachable(err)), ErrUnavailable)
		v.mu.Lock()
		v.lastErr = e
		v.mu.Unlock()
		v.log.Warn("vault token check failed", "error", e)
	}
}

// authenticate logs in unless a token is held. A caller (not the keeper) within loginRetryFloor
// of a failed attempt gets that failure again at once rather than waiting on Vault.
func (v *Vault) authenticate(ctx context.Context, keeper bool) error {
	if v.ctx.Err() != nil {
		return ErrClosed
	}
	v.loginMu.Lock()
	defer v.loginMu.Unlock()
	v.mu.Lock()
	authed, lastErr, lastFailAt := v.authed, v.lastErr, v.lastFailAt
	v.mu.Unlock()
	if authed {
		return nil
	}
	if !keeper && lastErr != nil && time.Since(lastFailAt) < loginRetryFloor {
		return lastErr
	}
	auth, err := v.login(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.lastErr, v.lastFailAt = err, time.Now()
		return err
	}
	v.client.SetToken(auth.ClientToken)
	v.gen++
	v.authed, v.auth, v.lastErr = true, auth, nil
	v.expiry = expiryOf(time.Now(), auth.LeaseDuration)
	v.logins++
	v.log.Info("logged in to vault", "mount", "auth/"+v.cfg.Auth.Mount,
		"ttl", time.Duration(auth.LeaseDuration)*time.Second, "renewable", auth.Renewable)
	v.poke()
	return nil
}

func expiryOf(from time.Time, leaseSeconds int) time.Time {
	if leaseSeconds <= 0 {
		return time.Time{}
	}
	return from.Add(time.Duration(leaseSeconds) * time.Second)
}

// login performs one login with the configured method and returns the token's auth data.
func (v *Vault) login(ctx context.Context) (*vault.SecretAuth, error) {
	a := v.cfg.Auth
	var data map[string]any
	switch a.Method {
	case AuthToken:
		return v.tokenLogin(ctx)
	case AuthKubernetes:
		jwt, err := v.readCredential(a.JWTFile)
		if err != nil {
			return nil, v.loginFailed("read the service-account token (--vault-jwt-file): %s", err)
		}
		data = map[string]any{"role": a.Role, "jwt": jwt}
	case AuthAppRole:
		roleID, err := v.readCredential(a.RoleIDFile)
		if err != nil {
			return nil, v.loginFailed("read the role id (--vault-role-id-file): %s", err)
		}
		secretID, err := v.readCredential(a.SecretIDFile)
		if err != nil {
			return nil, v.loginFailed("read the secret id (--vault-secret-id-file): %s", err)
		}
		data = map[string]any{"role_id": roleID, "secret_id": secretID}
	}
	s, err := v.lc.Logical().WriteWithContext(ctx, v.loginPath(), data)
	if err != nil {
		return nil, v.loginRequestFailed(ctx, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, v.loginFailed("Vault's answer holds no token")
	}
	v.remember(s.Auth.ClientToken)
	return s.Auth, nil
}

// tokenLogin takes the token from its file or variable and asks Vault what it is.
func (v *Vault) tokenLogin(ctx context.Context) (*vault.SecretAuth, error) {
	a := v.cfg.Auth
	var token string
	if a.TokenFile != "" {
		t, err := v.readCredential(a.TokenFile)
		if err != nil {
			return nil, v.loginFailed("read the token (--vault-token-file): %s", err)
		}
		token = t
	} else {
		token = strings.TrimSpace(os.Getenv(a.TokenEnv))
		if token == "" {
			return nil, v.loginFailed("no token: give --vault-token-file or set $%s", a.TokenEnv)
		}
		v.remember(token)
	}
	v.lc.SetToken(token)
	defer v.lc.ClearToken()
	s, err := v.lc.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, v.loginRequestFailed(ctx, err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return nil, v.loginFailed("lookup-self: %s", v.scrub(describe(err)))
	}
	renewable, _ := s.TokenIsRenewable()
	return &vault.SecretAuth{ClientToken: token, LeaseDuration: int(ttl / time.Second), Renewable: renewable}, nil
}

// readCredential reads a credential file; the value is remembered for scrubbing.
func (v *Vault) readCredential(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s", describe(err)) // the path, never the contents
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	v.remember(s)
	return s, nil
}

func (v *Vault) loginPath() string { return "auth/" + v.cfg.Auth.Mount + "/login" }

// where names the auth method and its mount, for messages.
func (v *Vault) where() string {
	if v.cfg.Auth.Method == AuthToken {
		return "token (lookup-self)"
	}
	return fmt.Sprintf("%s at %s", v.cfg.Auth.Method, v.loginPath())
}

func (v *Vault) loginFailed(format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = v.scrub(err.Error())
		}
	}
	return v.fail(fmt.Sprintf("vault login with %s failed: %s", v.where(), fmt.Sprintf(format, args...)), ErrLoginFailed, ErrUnavailable)
}

func (v *Vault) loginRequestFailed(ctx context.Context, err error) error {
	switch classify(ctx, err) {
	case failContext:
		return v.fail(fmt.Sprintf("vault login with %s: %s", v.where(), ctx.Err()), ErrUnavailable, ctx.Err())
	case failUnreachable:
		return v.fail(fmt.Sprintf("vault at %s unreachable: %s (logging in with %s)", v.cfg.Address, v.unreachable(err), v.where()), ErrUnavailable)
	default:
		return v.fail(fmt.Sprintf("vault login with %s refused: %s", v.where(), v.scrub(describe(err))), ErrLoginFailed, ErrUnavailable)
	}
}

// unreachable describes a request that got no usable answer.
func (v *Vault) unreachable(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s (--vault-timeout)", v.cfg.Timeout)
	}
	return v.scrub(describe(err))
}

func (v *Vault) fail(msg string, kinds ...error) error {
	return &vaultError{msg: v.scrub(msg), kinds: kinds}
}

// remember keeps a credential value so that no error text can carry it.
func (v *Vault) remember(value string) {
	if len(value) < 4 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.remembered {
		if r == value {
			return
		}
	}
	v.remembered = append(v.remembered, value)
	if len(v.remembered) > rememberedValues {
		v.remembered = v.remembered[len(v.remembered)-rememberedValues:]
	}
}

// scrub replaces every remembered credential in s.
func (v *Vault) scrub(s string) string {
	v.mu.Lock()
	values := slices.Clone(v.remembered)
	v.mu.Unlock()
	for _, r := range values {
		s = strings.ReplaceAll(s, r, redacted)
	}
	return s
}
