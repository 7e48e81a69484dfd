package capi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	capiv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// Raft is what the importer needs of the member's Raft node: linearizable reads and writes.
type Raft interface {
	Apply(ctx context.Context, cmd []byte) (any, uint64, error)
	ReadBarrier(ctx context.Context) error
}

// Records reads the hub's replicated state.
type Records interface {
	Get(kind, namespace, name string) (*store.Resource, error)
}

// Config wires an Importer.
type Config struct {
	// Management reaches the Cluster API management cluster.
	Management *rest.Config
	Raft       Raft
	Store      Records
	// HubEndpoints are the gRPC addresses the agents register with, asked for at each import.
	HubEndpoints func() []string
	// CAHash pins the hub CA for the agents.
	CAHash string
	// AgentImage is the agent's container image.
	AgentImage string
	// LeaseDuration is written into the ManagedClusters; registration.DefaultLeaseDuration when zero.
	LeaseDuration time.Duration
	// TokenTTL is how long an import's bootstrap token is valid; registration.DefaultTokenTTL when zero.
	TokenTTL time.Duration
	// RetryBase and RetryMax bound the per-Cluster retry backoff; 1 s and 5 min when zero.
	RetryBase, RetryMax time.Duration
	Logger              *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Importer imports Cluster API clusters into the fleet. Run it on the leader only.
type Importer struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns an Importer.
func New(cfg Config) (*Importer, error) {
	if cfg.Management == nil || cfg.Raft == nil || cfg.Store == nil || cfg.HubEndpoints == nil {
		return nil, errors.New("capi: Management, Raft, Store and HubEndpoints are required")
	}
	if cfg.AgentImage == "" {
		return nil, errors.New("capi: no agent image")
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = registration.DefaultLeaseDuration
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = registration.DefaultTokenTTL
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Importer{cfg: cfg, log: log.With("loop", "capi-import")}, nil
}

// Run watches the management cluster until ctx ends, starting over (with backoff) when the
// watch fails, e.g. while the management cluster is unreachable or does not serve Cluster API.
func (im *Importer) Run(ctx context.Context) {
	host := im.cfg.Management.Host
	im.log.Info("Cluster API import started", "management", host)
	delay := im.cfg.RetryBase
	for {
		started := time.Now()
		err := im.watch(ctx)
		if ctx.Err() != nil {
			im.log.Info("Cluster API import stopped", "management", host)
			return
		}
		if time.Since(started) > time.Minute {
			delay = im.cfg.RetryBase // it ran a while: a new failure, not the same one again
		}
		im.log.Error("Cluster API import: watching the management cluster failed; retrying",
			"management", host, "err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, im.cfg.RetryMax)
	}
}

// managementScheme knows the kinds the importer reads in the management cluster.
func managementScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := capiv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// checkServed fails clearly when the management cluster has no v1beta2 Cluster API, which the
// informer would otherwise only report as a cache that never syncs.
func checkServed(cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	gv := capiv1.GroupVersion.String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the management cluster does not serve %s: install Cluster API (v1.11 or later) there, or point --capi-kubeconfig at its management cluster", gv)
		}
		return fmt.Errorf("discover %s in the management cluster: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Name == "clusters" {
			return nil
		}
	}
	return fmt.Errorf("the management cluster serves %s but not its clusters resource", gv)
}

// watch runs one controller over the management cluster until ctx ends or it fails.
func (im *Importer) watch(ctx context.Context) error {
	if err := checkServed(im.cfg.Management); err != nil {
		return err
	}
	scheme, err := managementScheme()
	if err != nil {
		return err
	}
	// Only Secrets Cluster API labels as a cluster's are cached (not every Secret of the
	// management cluster); they wake a Cluster whose kubeconfig was missing at once.
	capiSecrets, err := labels.NewRequirement(ClusterNameLabel, selection.Exists, nil)
	if err != nil {
		return err
	}
	mgr, err := manager.New(im.cfg.Management, manager.Options{
		Scheme:                 scheme,
		Logger:                 logr.FromSlogHandler(im.log.Handler()),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false, // the hub's Raft leadership decides who imports
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: labels.NewSelector().Add(*capiSecrets)}}},
		// Each leadership term builds the controller anew under the same name.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("connect to the management cluster: %w", err)
	}
	t := &term{im: im, kube: mgr.GetClient(), secrets: mgr.GetAPIReader(), clusters: map[types.NamespacedName]*clusterState{}}
	err = builder.ControllerManagedBy(mgr).
		Named("capi-import").
		For(&capiv1.Cluster{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(kubeconfigOwner)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(t)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// kubeconfigOwner maps a "<cluster>-kubeconfig" Secret to its Cluster.
func kubeconfigOwner(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := strings.CutSuffix(o.GetName(), KubeconfigSecretSuffix)
	if !ok || name == "" || o.GetLabels()[ClusterNameLabel] != name {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// clusterState is what one leadership term remembers of a Cluster.
type clusterState struct {
	imported types.UID // the Cluster (by uid) whose import finished in this term
	failures int
	waiting  string // the last reason logged for not importing yet
}

// term is the importer during one leadership term. A new term starts with no memory, so it
// re-applies the agent of every imported Cluster once: that finishes imports an earlier leader
// left half done, and never issues a second token (the ManagedCluster's annotation says the
// import happened).
type term struct {
	im       *Importer
	kube     client.Client
	secrets  client.Reader
	mu       sync.Mutex
	clusters map[types.NamespacedName]*clusterState
}

func (t *term) state(key types.NamespacedName) *clusterState {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.clusters[key]
	if s == nil {
		s = &clusterState{}
		t.clusters[key] = s
	}
	return s
}

// Reconcile imports one Cluster if it is ready and not imported in this term yet.
func (t *term) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.NamespacedName
	log := t.im.log.With("capi_cluster", key.String())
	var c capiv1.Cluster
	if err := t.kube.Get(ctx, key, &c); err != nil {
		if apierrors.IsNotFound(err) {
			t.mu.Lock()
			_, known := t.clusters[key]
			delete(t.clusters, key)
			t.mu.Unlock()
			if known {
				// Deleting a Cluster deletes nothing in the fleet: the cluster may live on, and
				// an admin decides whether its ManagedCluster goes.
				log.Info("Cluster API cluster removed; its ManagedCluster, if imported, stays until an admin removes it")
			}
			return reconcile.Result{}, nil
		}
		return t.retry(log, key, fmt.Errorf("read the Cluster: %w", err))
	}
	s := t.state(key)
	if ok, why := Importable(&c); !ok {
		t.mu.Lock()
		changed := s.waiting != why
		s.waiting = why
		t.mu.Unlock()
		if changed {
			log.Info("Cluster API cluster not imported yet", "reason", why)
		}
		return reconcile.Result{}, nil // the Cluster's next change brings it back
	}
	t.mu.Lock()
	done := s.imported == c.UID
	t.mu.Unlock()
	if done {
		return reconcile.Result{}, nil
	}
	if err := t.im.importCluster(ctx, log, &c, t.secrets); err != nil {
		var perm permanentError
		if errors.As(err, &perm) {
			log.Error("Cluster API cluster cannot be imported", "err", err)
			t.mu.Lock()
			s.imported, s.failures = c.UID, 0 // not retried: only a new Cluster changes this
			t.mu.Unlock()
			return reconcile.Result{}, nil
		}
		return t.retry(log, key, err)
	}
	t.mu.Lock()
	s.imported, s.failures, s.waiting = c.UID, 0, ""
	t.mu.Unlock()
	return reconcile.Result{}, nil
}

// retry logs a failed attempt and schedules the next with exponential backoff per Cluster.
func (t *term) retry(log *slog.Logger, key types.NamespacedName, err error) (reconcile.Result, error) {
	s := t.state(key)
	t.mu.Lock()
	s.failures++
	n := s.failures
	t.mu.Unlock()
	delay := t.im.cfg.RetryBase
	for i := 1; i < n && delay < t.im.cfg.RetryMax; i++ {
		delay *= 2
	}
	delay = min(delay, t.im.cfg.RetryMax)
	var missing missingKubeconfigError
	if errors.As(err, &missing) {
		log.Warn("Cluster API cluster is Provisioned but its kubeconfig Secret is not there yet; retrying",
			"secret", missing.secret, "reason", missing.reason, "attempt", n, "retry_in", delay.String())
	} else {
		log.Error("Cluster API import failed; retrying", "err", err, "attempt", n, "retry_in", delay.String())
	}
	return reconcile.Result{RequeueAfter: delay}, nil
}

// permanentError is a reason to import a Cluster that no retry changes.
type permanentError struct{ error }

// missingKubeconfigError says the workload cluster's kubeconfig Secret is missing or incomplete.
type missingKubeconfigError struct{ secret, reason string }

func (e missingKubeconfigError) Error() string {
	return fmt.Sprintf("kubeconfig Secret %s: %s", e.secret, e.reason)
}

// importCluster imports one Provisioned Cluster, or finishes an earlier import of it.
//
// The order makes every step safe to repeat. Nothing is recorded at the hub until the workload
// cluster is reachable and holds the new token's Secret; the token, the ManagedCluster and the
// audit record are then committed together; the agent is applied last. A retry after the commit
// finds the annotated ManagedCluster and only applies the agent again: the Deployment takes the
// token from the Secret, so no token is issued twice.
func (im *Importer) importCluster(ctx context.Context, log *slog.Logger, c *capiv1.Cluster, secrets client.Reader) error {
	name, origin := c.Name, Origin(c)
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return permanentError{fmt.Errorf("its name %q cannot name a ManagedCluster (%s)", name, strings.Join(errs, "; "))}
	}
	if err := im.cfg.Raft.ReadBarrier(ctx); err != nil {
		return fmt.Errorf("read the hub's state: %w", err)
	}
	mc, err := im.managedCluster(name)
	if err != nil {
		return err
	}
	if mc != nil && mc.Annotations[AnnotationCAPICluster] != origin {
		from := "registered without Cluster API"
		if o := mc.Annotations[AnnotationCAPICluster]; o != "" {
			from = "imported from Cluster API cluster " + o
		}
		return fmt.Errorf("a ManagedCluster named %s already exists (%s); rename the Cluster or remove that ManagedCluster", name, from)
	}
	params := AgentParams{ClusterName: name, Image: im.cfg.AgentImage, HubEndpoints: im.cfg.HubEndpoints(), CAHash: im.cfg.CAHash}
	objs, err := AgentObjects(params)
	if err != nil {
		return fmt.Errorf("agent manifests: %w", err)
	}
	wc, err := im.workloadClient(ctx, secrets, c)
	if err != nil {
		return err
	}
	if err := apply(ctx, wc, agentNamespace()); err != nil {
		return fmt.Errorf("reach the workload cluster: %w", err)
	}
	if mc == nil {
		if err := im.record(ctx, log, wc, c); err != nil {
			return err
		}
	} else {
		im.checkBootstrapSecret(ctx, log, wc, mc)
	}
	for _, o := range objs {
		if err := apply(ctx, wc, o); err != nil {
			return fmt.Errorf("install the agent: %w", err)
		}
	}
	log.Info("agent installed in the workload cluster", "cluster", name, "image", params.Image, "hub", strings.Join(params.HubEndpoints, ","))
	return nil
}

// record writes a new token's Secret into the workload cluster, then commits the token, the
// ManagedCluster and the audit record in one transaction.
func (im *Importer) record(ctx context.Context, log *slog.Logger, wc client.Client, c *capiv1.Cluster) error {
	now := im.cfg.Now()
	tok, secret := newToken(c, im.cfg.TokenTTL, now)
	sec, err := BootstrapSecret(secret)
	if err != nil {
		return err
	}
	if err := apply(ctx, wc, sec); err != nil {
		return fmt.Errorf("write the bootstrap token into the workload cluster: %w", err)
	}
	mc := newManagedCluster(c, tok.Name, im.cfg.LeaseDuration, now)
	tokCmd, err := store.EncodeCreate(store.KindBootstrapToken, tok)
	if err != nil {
		return err
	}
	details, err := json.Marshal(map[string]any{
		"capiCluster": Origin(c), "capiClusterUID": string(c.UID), "token": tok.Name, "labels": mc.Labels, "agentImage": im.cfg.AgentImage,
	})
	if err != nil {
		return err
	}
	mcCmd, err := store.EncodeCreate(store.KindManagedCluster, mc)
	if err == nil {
		mcCmd, err = store.WithAudit(mcCmd, store.AuditEntry{
			Actor: Actor, Action: "cluster.import", Target: "ManagedCluster/" + mc.Name, Cluster: mc.Name, Details: details,
		})
	}
	if err != nil {
		return err
	}
	txn, err := store.EncodeTransaction([][]byte{tokCmd, mcCmd})
	if err != nil {
		return err
	}
	resp, _, err := im.cfg.Raft.Apply(ctx, txn)
	if err != nil {
		return fmt.Errorf("record the import at the hub: %w", err)
	}
	if res, ok := resp.(*store.Result); !ok || res == nil {
		return fmt.Errorf("record the import at the hub: unexpected result %T", resp)
	} else if res.Err != nil {
		return fmt.Errorf("record the import at the hub: %w", res.Err)
	}
	log.Info("Cluster API cluster imported", "cluster", mc.Name, "token", tok.Name, "labels", mc.Labels)
	return nil
}

// checkBootstrapSecret warns when an imported cluster that has not registered yet holds a
// different token than its import issued (two leaders importing at once can leave that).
func (im *Importer) checkBootstrapSecret(ctx context.Context, log *slog.Logger, wc client.Client, mc *clusterv1.ManagedCluster) {
	if mc.Annotations[hubv1alpha1.AnnotationClusterID] != "" {
		return // registered: the token has done its job
	}
	want := mc.Annotations[AnnotationImportToken]
	var sec corev1.Secret
	err := wc.Get(ctx, client.ObjectKey{Namespace: AgentNamespace, Name: BootstrapSecretName}, &sec)
	id, _, _ := strings.Cut(string(sec.Data[BootstrapSecretKey]), ".")
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		log.Warn("cannot read the bootstrap Secret of an imported cluster", "cluster", mc.Name, "err", err)
	case err != nil || id != want:
		log.Error("imported cluster has not registered and its bootstrap Secret does not hold the token its import issued; "+
			"remove the ManagedCluster to import the cluster again", "cluster", mc.Name, "token", want,
			"secret", AgentNamespace+"/"+BootstrapSecretName)
	}
}

func (im *Importer) managedCluster(name string) (*clusterv1.ManagedCluster, error) {
	res, err := im.cfg.Store.Get(store.KindManagedCluster, "", name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ManagedCluster %s: %w", name, err)
	}
	var mc clusterv1.ManagedCluster
	if err := res.Decode(&mc); err != nil {
		return nil, fmt.Errorf("stored ManagedCluster %s: %w", name, err)
	}
	return &mc, nil
}

// workloadClient connects to the workload cluster with the kubeconfig Cluster API wrote for it.
func (im *Importer) workloadClient(ctx context.Context, secrets client.Reader, c *capiv1.Cluster) (client.Client, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Name + KubeconfigSecretSuffix}
	var sec corev1.Secret
	if err := secrets.Get(ctx, key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, missingKubeconfigError{secret: key.String(), reason: "not found"}
		}
		return nil, fmt.Errorf("read kubeconfig Secret %s: %w", key, err)
	}
	data := sec.Data[KubeconfigSecretKey]
	if len(data) == 0 {
		return nil, missingKubeconfigError{secret: key.String(), reason: "no key " + KubeconfigSecretKey}
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig Secret %s: %w", key, err)
	}
	cfg.Timeout = 30 * time.Second
	cfg.UserAgent = FieldOwner + "/capi-import"
	scheme, err := workloadScheme()
	if err != nil {
		return nil, err
	}
	wc, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("workload cluster of %s: %w", Origin(c), err)
	}
	return wc, nil
}

// apply server-side-applies obj as the hub, taking over fields others changed: the hub's
// manifests are the agent's desired state.
func apply(ctx context.Context, c client.Client, obj client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	// Zero values a typed object cannot omit; applying them would claim fields for nothing.
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	gvk := obj.GetObjectKind().GroupVersionKind()
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	if err := c.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}
