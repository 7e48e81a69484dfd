package capi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	capiv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/capi"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

const (
	capiNamespace = "fleet-a"
	clusterName   = "work"
	agentImage    = "registry.example.test/kubedevaiops-agent:test"
)

// A Cluster API Cluster is imported once it is Provisioned and its kubeconfig Secret exists:
// the hub records an accepted ManagedCluster and a one-use token and installs the agent; the
// agent, run as the Deployment's pod would run, registers with that token and the cluster turns
// Available. A new leadership term re-applies the agent without a second token, and deleting
// the Cluster deletes nothing.
func TestImportProvisionedCluster(t *testing.T) {
	ctrllog.SetLogger(logr.Discard()) // the test's own clients have nothing to say
	var mgmt, work *testbed.Cluster
	var errs [2]error
	var wg sync.WaitGroup
	for i, name := range []string{"management", "workload"} {
		wg.Go(func() {
			c, err := testbed.NewCluster(context.Background(), t.TempDir(), testbed.ClusterOptions{Name: name, Nodes: 1})
			errs[i] = err
			if err != nil {
				return
			}
			t.Cleanup(c.Stop)
			if i == 0 {
				mgmt = c
			} else {
				work = c
			}
		})
	}
	var agentBin string
	var binErr error
	wg.Go(func() { agentBin, binErr = testbed.AgentBinary() })
	wg.Wait()
	require.NoError(t, errs[0], "management cluster")
	require.NoError(t, errs[1], "workload cluster")
	require.NoError(t, binErr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mc := managementClient(t, mgmt)
	installClusterCRD(ctx, t, mgmt)
	require.NoError(t, mc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: capiNamespace}}))

	hub := testbed.StartHub(t, testbed.HubOptions{Members: 1, Args: []string{
		"--cluster-lease-duration=1s", "--capi-kubeconfig=" + mgmt.Kubeconfig, "--agent-image=" + agentImage,
	}})
	admin := hub.Client(0)
	hubLog := func() string { return hub.Members[0].LogPath() }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the hub's log:\n%s", lastLines(hubLog(), 40))
		}
	})
	origin := capiNamespace + "/" + clusterName

	cluster := &capiv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: capiNamespace, Name: clusterName, Labels: map[string]string{
			"env": "test", "team.example.com/owner": "payments", capi.ClusterNameLabel: clusterName,
		}},
		Spec: capiv1.ClusterSpec{ControlPlaneEndpoint: capiv1.APIEndpoint{Host: "127.0.0.1", Port: 6443}},
	}
	require.NoError(t, mc.Create(ctx, cluster))
	setPhase(ctx, t, mc, cluster, capiv1.ClusterPhaseProvisioning)

	t.Run("a management cluster without Cluster API is reported", func(t *testing.T) {
		// The workload cluster serves no Cluster API: a hub pointed at it says so and retries.
		other := testbed.StartHub(t, testbed.HubOptions{Members: 1, Args: []string{"--capi-kubeconfig=" + work.Kubeconfig}})
		awaitLog(t, func() string { return other.Members[0].LogPath() }, "watching the management cluster failed", "", "does not serve cluster.x-k8s.io/v1beta2")
	})

	t.Run("a Cluster not yet Provisioned is not imported", func(t *testing.T) {
		awaitLog(t, hubLog, "Cluster API cluster not imported yet", origin, "phase Provisioning")
		assertNotImported(ctx, t, admin)
	})

	t.Run("a Provisioned Cluster without its kubeconfig Secret waits for it", func(t *testing.T) {
		setPhase(ctx, t, mc, cluster, capiv1.ClusterPhaseProvisioned)
		awaitLog(t, hubLog, "kubeconfig Secret is not there yet", origin, capiNamespace+"/"+clusterName+"-kubeconfig")
		assertNotImported(ctx, t, admin)
	})

	t.Run("the Secret appears and the Cluster is imported", func(t *testing.T) {
		require.NoError(t, mc.Create(ctx, kubeconfigSecret(t, work)))
		var got *clusterv1.ManagedCluster
		eventually(t, time.Minute, "ManagedCluster "+clusterName, func() error {
			var err error
			got, err = getCluster(ctx, admin, clusterName)
			return err
		})
		assert.True(t, got.Spec.HubAcceptsClient)
		assert.Equal(t, map[string]string{"env": "test", "team.example.com/owner": "payments"}, got.Labels, "the Cluster's labels, without Cluster API's own")
		assert.Equal(t, origin, got.Annotations[capi.AnnotationCAPICluster])

		toks := tokens(ctx, t, admin)
		require.Len(t, toks, 1)
		assert.Equal(t, uint32(1), toks[0].GetUsageLimit())
		assert.True(t, toks[0].GetAutoAccept())
		assert.Equal(t, uint32(0), toks[0].GetUsageCount())
		assert.Equal(t, got.Annotations[capi.AnnotationImportToken], toks[0].GetId())

		imports := importRecords(ctx, t, admin)
		require.Len(t, imports, 1)
		assert.Equal(t, capi.Actor, imports[0].GetActor())
		assert.Equal(t, "ManagedCluster/"+clusterName, imports[0].GetSubject())
		assert.Contains(t, string(imports[0].GetEntryJson()), origin)
	})

	wc := workloadClient(t, work)
	var dep appsv1.Deployment
	t.Run("the agent is installed in the workload cluster", func(t *testing.T) {
		eventually(t, time.Minute, "agent Deployment", func() error {
			return wc.Get(ctx, client.ObjectKey{Namespace: capi.AgentNamespace, Name: capi.AgentName}, &dep)
		})
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: capi.AgentNamespace}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: capi.AgentNamespace, Name: capi.AgentName}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: capi.AgentName}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: capi.AgentName}},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: capi.AgentNamespace, Name: capi.AgentName}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: capi.AgentNamespace, Name: capi.AgentName}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: capi.AgentNamespace, Name: capi.BootstrapSecretName}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: capi.AgentNamespace, Name: capi.AgentName}},
		} {
			require.NoError(t, wc.Get(ctx, client.ObjectKeyFromObject(o), o), "%T %s", o, o.GetName())
			assert.True(t, appliedBy(o, capi.FieldOwner), "%T %s is server-side applied by the hub: %v", o, o.GetName(), o.GetManagedFields())
		}
		var sec corev1.Secret
		require.NoError(t, wc.Get(ctx, client.ObjectKey{Namespace: capi.AgentNamespace, Name: capi.BootstrapSecretName}, &sec))
		_, secret, ok := strings.Cut(string(sec.Data[capi.BootstrapSecretKey]), ".")
		require.True(t, ok, "the Secret holds <id>.<secret>")
		log, err := os.ReadFile(hubLog())
		require.NoError(t, err)
		assert.NotContains(t, string(log), secret, "the token's secret is never logged")
		for _, r := range importRecords(ctx, t, admin) {
			assert.NotContains(t, string(r.GetEntryJson()), secret, "nor audited")
		}

		c := dep.Spec.Template.Spec.Containers[0]
		assert.Equal(t, agentImage, c.Image)
		assert.Equal(t, []string{"--cluster-name=" + clusterName, "--hub=" + strings.Join(hub.GRPCAddrs(), ","), "--hub-ca-hash=" + hub.CAHash()}, c.Args,
			"the hub's members as its records name them, and the CA pin")
	})

	var agent *testbed.Container
	whole := t // the agent outlives the subtest that starts it
	t.Run("the agent registers with the one-use token and the cluster becomes Available", func(t *testing.T) {
		var err error
		agent, err = testbed.RunContainer(whole, work, testbed.ContainerOptions{
			Namespace: capi.AgentNamespace, Pod: dep.Spec.Template.Spec, Binary: agentBin, KubeconfigFlag: "--kubeconfig",
		})
		require.NoError(t, err)
		assert.True(t, slices.ContainsFunc(agent.Env, func(e string) bool { return strings.HasPrefix(e, capi.TokenEnv+"=") }),
			"the token reaches the agent from the Secret")
		eventually(t, time.Minute, clusterName+" available", func() error {
			got, err := getCluster(ctx, admin, clusterName)
			if err != nil {
				return err
			}
			for _, cond := range []string{clusterv1.ManagedClusterConditionHubAccepted, clusterv1.ManagedClusterConditionJoined, clusterv1.ManagedClusterConditionAvailable} {
				if c := meta.FindStatusCondition(got.Status.Conditions, cond); c == nil || c.Status != metav1.ConditionTrue {
					return fmt.Errorf("%s is %v (agent running %v, log:\n%s)", cond, c, agent.Running(), agent.Log(10))
				}
			}
			return nil
		})
		got, err := getCluster(ctx, admin, clusterName)
		require.NoError(t, err)
		assert.NotEmpty(t, got.Annotations[hubv1alpha1.AnnotationClusterID], "the registration supplied the cluster id")
		toks := tokens(ctx, t, admin)
		require.Len(t, toks, 1)
		assert.Equal(t, uint32(1), toks[0].GetUsageCount(), "1 of 1 uses")
		assert.Equal(t, uint32(1), toks[0].GetUsageLimit())
	})

	t.Run("a new leadership term re-applies the agent without a second token", func(t *testing.T) {
		hub.StopMember(0)
		require.NoError(t, hub.Start(0))
		awaitLog(t, hubLog, "agent installed in the workload cluster", origin, "")
		assert.Len(t, tokens(ctx, t, admin), 1, "no second token")
		assert.Len(t, importRecords(ctx, t, admin), 1, "one import")
		eventually(t, time.Minute, clusterName+" available again", func() error {
			got, err := getCluster(ctx, admin, clusterName)
			if err != nil {
				return err
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("Available is %v", c)
			}
			return nil
		})
	})

	t.Run("deleting the Cluster deletes nothing", func(t *testing.T) {
		require.NoError(t, mc.Delete(ctx, cluster))
		awaitLog(t, hubLog, "Cluster API cluster removed", origin, "")
		_, err := getCluster(ctx, admin, clusterName)
		require.NoError(t, err, "the ManagedCluster stays")
		require.NoError(t, wc.Get(ctx, client.ObjectKeyFromObject(&dep), &appsv1.Deployment{}), "the agent stays")
		assert.Len(t, tokens(ctx, t, admin), 1)
		assert.True(t, agent.Running(), "agent log:\n%s", agent.Log(30))
	})
}

func managementClient(t *testing.T, c *testbed.Cluster) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, capiv1.AddToScheme(s))
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	cl, err := client.New(c.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	return cl
}

func workloadClient(t *testing.T, c *testbed.Cluster) client.Client {
	t.Helper()
	cl, err := client.New(c.Config, client.Options{Scheme: clientgoscheme.Scheme})
	require.NoError(t, err)
	return cl
}

// installClusterCRD installs the Cluster CRD that `make generate` makes from the pinned
// Cluster API Go types, and waits until it is served.
func installClusterCRD(ctx context.Context, t *testing.T, c *testbed.Cluster) {
	t.Helper()
	data, err := os.ReadFile("testdata/cluster.x-k8s.io_clusters.yaml")
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(data, crd))
	cl := managementClient(t, c)
	require.NoError(t, cl.Create(ctx, crd))
	eventually(t, 30*time.Second, "Cluster CRD established", func() error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
			return err
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return cl.List(ctx, &capiv1.ClusterList{})
			}
		}
		return fmt.Errorf("not established: %v", crd.Status.Conditions)
	})
}

// setPhase sets status.phase through the status subresource, as Cluster API's controller does.
func setPhase(ctx context.Context, t *testing.T, cl client.Client, c *capiv1.Cluster, phase capiv1.ClusterPhase) {
	t.Helper()
	require.NoError(t, cl.Get(ctx, client.ObjectKeyFromObject(c), c))
	c.Status.Phase = string(phase)
	require.NoError(t, cl.Status().Update(ctx, c))
}

// kubeconfigSecret is the Secret Cluster API writes for a workload cluster: its admin
// kubeconfig with everything inline, under key "value".
func kubeconfigSecret(t *testing.T, work *testbed.Cluster) *corev1.Secret {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(work.Kubeconfig)
	require.NoError(t, err)
	require.NoError(t, clientcmdapi.FlattenConfig(raw))
	data, err := clientcmd.Write(*raw)
	require.NoError(t, err)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: capiNamespace, Name: clusterName + capi.KubeconfigSecretSuffix,
			Labels: map[string]string{capi.ClusterNameLabel: clusterName}},
		Type: "cluster.x-k8s.io/secret",
		Data: map[string][]byte{capi.KubeconfigSecretKey: data},
	}
}

func assertNotImported(ctx context.Context, t *testing.T, admin fleetv1.FleetClient) {
	t.Helper()
	_, err := getCluster(ctx, admin, clusterName)
	require.Error(t, err, "no ManagedCluster yet")
	assert.Empty(t, tokens(ctx, t, admin), "no token yet")
	assert.Empty(t, importRecords(ctx, t, admin))
}

func getCluster(ctx context.Context, c fleetv1.FleetClient, name string) (*clusterv1.ManagedCluster, error) {
	out, err := c.GetCluster(ctx, &fleetv1.GetClusterRequest{Name: name})
	if err != nil {
		return nil, err
	}
	var mc clusterv1.ManagedCluster
	if err := json.Unmarshal(out.GetCluster().GetObjectJson(), &mc); err != nil {
		return nil, err
	}
	return &mc, nil
}

func tokens(ctx context.Context, t *testing.T, c fleetv1.FleetClient) []*fleetv1.BootstrapToken {
	t.Helper()
	out, err := c.ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: true})
	require.NoError(t, err)
	return out.GetTokens()
}

func importRecords(ctx context.Context, t *testing.T, c fleetv1.FleetClient) []*fleetv1.AuditRecord {
	t.Helper()
	out, err := c.ListAudit(ctx, &fleetv1.ListAuditRequest{Cluster: clusterName})
	require.NoError(t, err)
	var recs []*fleetv1.AuditRecord
	for _, r := range out.GetRecords() {
		if r.GetAction() == "cluster.import" {
			recs = append(recs, r)
		}
	}
	return recs
}

func appliedBy(o client.Object, manager string) bool {
	for _, f := range o.GetManagedFields() {
		if f.Manager == manager && f.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// awaitLog waits for a line of the hub's JSON log whose message contains msg, about Cluster API
// cluster origin (none when empty), whose text also contains extra.
func awaitLog(t *testing.T, path func() string, msg, origin, extra string) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("hub logs %q for %s", msg, origin), func() error {
		f, err := os.Open(path())
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			m, _ := line["msg"].(string)
			about, _ := line["capi_cluster"].(string)
			if strings.Contains(m, msg) && about == origin && strings.Contains(sc.Text(), extra) {
				return nil
			}
		}
		return fmt.Errorf("not logged yet")
	})
}

func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// eventually polls check every 200 ms until it returns nil, failing the test with the last error
// after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
