// Package agent is the spoke: it registers its cluster with the hub, keeps the cluster's
// credentials in a Secret, and streams the cluster's inventory to the hub over one outbound,
// mutually authenticated gRPC stream.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/inventory"
)

// Options configure the agent.
type Options struct {
	// Hub lists hub member addresses (host:port) for registration; after it, the hub's own
	// list, kept in the Secret, is used.
	Hub []string
	// BootstrapToken admits the first registration; HubCAHash pins the hub CA for it.
	BootstrapToken, HubCAHash string
	// ClusterName is the ManagedCluster name to register as; ClusterID its stable id
	// (default: the kube-system namespace's uid); Platform its platform (default: guessed).
	ClusterName, ClusterID, Platform string
	// Namespace and SecretName locate the agent's Secret.
	Namespace, SecretName string
	// InstallCRDs applies the project's CRDs before watching them.
	InstallCRDs bool
	// Version is reported to the hub.
	Version string
	Logger  *slog.Logger
	// AnalyzeInterval is how often the analyzers run; 30s when zero.
	AnalyzeInterval time.Duration
	// PinnedDirectiveKeys, when set, are the only directive-key ids the agent trusts, whatever
	// keys the hub announces.
	PinnedDirectiveKeys []string
}

// Validate checks the options that do not need the cluster.
func (o *Options) Validate() error {
	if errs := validation.IsDNS1123Label(o.ClusterName); len(errs) > 0 {
		return fmt.Errorf("--cluster-name %q: %s", o.ClusterName, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("--namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(o.SecretName); len(errs) > 0 {
		return fmt.Errorf("--secret-name %q: %s", o.SecretName, strings.Join(errs, "; "))
	}
	return nil
}

// Agent is one running spoke.
type Agent struct {
	opts      Options
	log       *slog.Logger
	secrets   *secretStore
	creds     *hubCredentials
	tracker   *inventory.Tracker
	reader    client.Reader
	claims    *fleetv1.ClusterClaims
	connected atomic.Bool
	incidents *incidents
}

// Scheme is what the agent reads: the built-in kinds and the project's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, aiopsv1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run registers the cluster if it has no credentials yet and then streams to the hub until
// ctx ends. It returns an error wrapping ErrRefused when the hub will not take the cluster.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	kube, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connect to the cluster: %w", err)
	}
	if opts.InstallCRDs {
		if err := installCRDs(ctx, kube); err != nil {
			return err
		}
	}
	a := &Agent{opts: opts, log: log.With("cluster", opts.ClusterName), secrets: &secretStore{client: kube, namespace: opts.Namespace, name: opts.SecretName}, reader: kube}

	creds, err := a.secrets.load(ctx)
	if err != nil {
		return err
	}
	if creds == nil {
		creds = &hubCredentials{Cluster: opts.ClusterName}
	}
	if creds.Cluster != "" && creds.Cluster != opts.ClusterName {
		return fmt.Errorf("Secret %s/%s holds the credentials of cluster %q, not %q: remove it or use --cluster-name %s",
			opts.Namespace, opts.SecretName, creds.Cluster, opts.ClusterName, creds.Cluster)
	}
	creds.Cluster = opts.ClusterName
	a.creds = creds

	static, err := a.staticClaims(ctx, cfg, kube)
	if err != nil {
		return err
	}
	var nodes corev1.NodeList
	if err := kube.List(ctx, &nodes); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	a.claims = static
	if !creds.registered() {
		if err := a.register(ctx, creds, withNodeClaims(static, nodes.Items)); err != nil {
			return err
		}
	} else {
		a.log.Info("using stored hub credentials; no registration needed")
	}

	mgr, err := manager.New(cfg, manager.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0", LeaderElection: false,
	})
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	a.tracker = inventory.NewTracker(mgr.GetCache(), inventory.Kinds())
	a.incidents = newIncidents()
	a.incidents.up = a.connected.Load
	if err := a.tracker.Start(ctx); err != nil {
		return err
	}
	a.reader = mgr.GetCache()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(ctx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, 2*time.Minute)
	synced := mgr.GetCache().WaitForCacheSync(syncCtx)
	syncCancel()
	if !synced {
		cancel()
		return errors.Join(errors.New("the informer caches did not sync within 2 minutes"), <-mgrErr)
	}
	stopLoop, err := a.startIncidentLoop(ctx, cfg, kube, mgr.GetCache())
	if err != nil {
		cancel()
		return errors.Join(err, <-mgrErr)
	}
	err = a.runStreams(ctx)
	cancel()
	stopLoop()
	if mErr := <-mgrErr; mErr != nil && err == nil {
		err = mErr
	}
	return err
}

// currentClaims are the claims as they are now, node figures from the cache.
func (a *Agent) currentClaims(ctx context.Context) *fleetv1.ClusterClaims {
	var nodes corev1.NodeList
	if err := a.reader.List(ctx, &nodes); err != nil {
		return nil
	}
	return withNodeClaims(a.claims, nodes.Items)
}

// installCRDs applies the project's CRDs with server-side apply, as their owner.
func installCRDs(ctx context.Context, c client.Client) error {
	objs, err := crds.Objects()
	if err != nil {
		return err
	}
	for _, crd := range objs {
		crd = crd.DeepCopy()
		crd.APIVersion, crd.Kind = apiextensionsv1.SchemeGroupVersion.String(), "CustomResourceDefinition"
		crd.ResourceVersion = ""
		if err := c.Patch(ctx, crd, client.Apply, client.FieldOwner("kubedevaiops-agent"), client.ForceOwnership); err != nil {
			return fmt.Errorf("install CRD %s: %w", crd.Name, err)
		}
	}
	// The cache watches these kinds next; wait until the apiserver serves them.
	deadline := time.Now().Add(time.Minute)
	for _, crd := range objs {
		for {
			var cur apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); err == nil && established(&cur) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established within a minute", crd.Name)
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
