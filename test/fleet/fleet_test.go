package fleet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The hub runs with a 1 s cluster lease (Unknown after 5 s of silence) and 40 s certificates
// (renewed over the stream at about 27 s), so that every behaviour shows within the test.
var hubArgs = []string{"--cluster-lease-duration=1s", "--cluster-cert-ttl=40s"}

const agentNamespace, agentSecret = "kubedevaiops-system", "kubedevaiops-agent-hub"

// Three clusters register with a three-member hub — one accepted by hand, two by an
// auto-accepting token — become Available, and stream inventories that match the clusters;
// the inventory follows changes, survives the loss of the hub leader, and a stopped agent
// turns its cluster Unknown and tainted until it comes back without registering again.
func TestRegisterStreamFailover(t *testing.T) {
	var clusters []*testbed.Cluster
	var hub *testbed.Hub
	var wg sync.WaitGroup
	wg.Go(func() { clusters = testbed.StartClusters(t, 3, testbed.ClusterOptions{Name: "fleet", Nodes: 2}) })
	hub = testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: hubArgs})
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin := hub.Client(0)

	manual, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Description: "by hand", UsageLimit: 1, Ttl: durationpb.New(time.Hour)})
	require.NoError(t, err)
	auto, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Description: "auto", UsageLimit: 2, AutoAccept: true,
		ClusterSet: "prod", ClusterLabels: map[string]string{"env": "test"}})
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprint(manual.GetToken()), strings.Split(manual.GetSecret(), ".")[1], "the token record never carries the secret")

	for _, c := range clusters {
		deployWeb(ctx, t, c, 2)
	}

	agents := make([]*testbed.Agent, 3)
	agents[0] = testbed.StartAgent(t, clusters[0], testbed.AgentOptions{Hub: hub.GRPCAddrs(), Token: manual.GetSecret(), CAHash: hub.CAHash()})

	t.Run("a cluster waits for an admin", func(t *testing.T) {
		eventually(t, time.Minute, "cluster 0 registered", func() error {
			mc, err := getCluster(ctx, admin, clusters[0].Name)
			if err != nil {
				return err
			}
			if mc.Spec.HubAcceptsClient {
				return fmt.Errorf("cluster 0 was accepted without an admin")
			}
			return nil
		})
		pending, err := admin.ListClusters(ctx, &fleetv1.ListClustersRequest{PendingOnly: true})
		require.NoError(t, err)
		require.Len(t, pending.GetClusters(), 1)
		time.Sleep(2 * time.Second)
		mc, err := getCluster(ctx, admin, clusters[0].Name)
		require.NoError(t, err)
		assert.False(t, mc.Spec.HubAcceptsClient, "still pending")
		_, err = admin.AcceptCluster(ctx, &fleetv1.AcceptClusterRequest{Name: clusters[0].Name, Comment: "known cluster"})
		require.NoError(t, err)
	})

	for i := 1; i < 3; i++ {
		agents[i] = testbed.StartAgent(t, clusters[i], testbed.AgentOptions{Hub: hub.GRPCAddrs(), Token: auto.GetSecret(), CAHash: hub.CAHash()})
	}

	t.Run("all clusters become available", func(t *testing.T) {
		for i, c := range clusters {
			eventually(t, 2*time.Minute, c.Name+" available", func() error {
				mc, err := getCluster(ctx, admin, c.Name)
				if err != nil {
					return fmt.Errorf("%w (agent log: %s)", err, agents[i].Log(5))
				}
				for _, cond := range []string{clusterv1.ManagedClusterConditionHubAccepted, clusterv1.ManagedClusterConditionJoined, clusterv1.ManagedClusterConditionAvailable} {
					if err := conditionIs(mc, cond, "True", ""); err != nil {
						return err
					}
				}
				if hasTaint(mc, clusterv1.ManagedClusterTaintUnreachable) {
					return fmt.Errorf("%s is still tainted unreachable", c.Name)
				}
				return nil
			})
		}
		mc, err := getCluster(ctx, admin, clusters[1].Name)
		require.NoError(t, err)
		assert.Equal(t, "prod", mc.Labels[clusterv1beta2.ClusterSetLabel], "the token's cluster set")
		assert.Equal(t, "test", mc.Labels["env"], "the token's labels")
		claims := map[string]string{}
		for _, c := range mc.Status.ClusterClaims {
			claims[c.Name] = c.Value
		}
		assert.NotEmpty(t, claims["id.k8s.io"])
		assert.Equal(t, "2", claims["nodes.kubedevaiops.io"])
		assert.True(t, strings.HasPrefix(claims["kubeversion.open-cluster-management.io"], "v1."), "claims: %v", claims)

		set, err := admin.ListClusters(ctx, &fleetv1.ListClustersRequest{ClusterSet: "prod"})
		require.NoError(t, err)
		assert.Len(t, set.GetClusters(), 2)
		toks, err := admin.ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: true})
		require.NoError(t, err)
		uses := map[string]uint32{}
		for _, tok := range toks.GetTokens() {
			uses[tok.GetId()] = tok.GetUsageCount()
		}
		assert.Equal(t, uint32(1), uses[manual.GetToken().GetId()])
		assert.Equal(t, uint32(2), uses[auto.GetToken().GetId()])
	})

	t.Run("a placement selects the set's available clusters", func(t *testing.T) {
		set := []byte(`{"apiVersion":"cluster.open-cluster-management.io/v1beta2","kind":"ManagedClusterSet","metadata":{"name":"prod"},"spec":{}}`)
		_, err := admin.ApplyClusterSet(ctx, &fleetv1.ApplyClusterSetRequest{ClusterSet: &fleetv1.Resource{ObjectJson: set}})
		require.NoError(t, err)
		p := []byte(`{"apiVersion":"cluster.open-cluster-management.io/v1beta1","kind":"Placement","metadata":{"name":"web","namespace":"default"},
			"spec":{"clusterSets":["prod"],"predicates":[{"requiredClusterSelector":{"labelSelector":{"matchLabels":{"env":"test"}}}}],
			"decisionStrategy":{"groupStrategy":{"clustersPerDecisionGroup":1}}}}`)
		_, err = admin.ApplyPlacement(ctx, &fleetv1.ApplyPlacementRequest{Placement: &fleetv1.Resource{ObjectJson: p}})
		require.NoError(t, err)
		eventually(t, 30*time.Second, "decisions", func() error {
			return decided(ctx, admin, "web", clusters[1].Name, clusters[2].Name)
		})
	})

	t.Run("kubectl aiops", func(t *testing.T) { testCLI(t, hub, clusters) })

	t.Run("inventory at the hub matches each cluster", func(t *testing.T) {
		for _, c := range clusters {
			eventually(t, time.Minute, c.Name+" inventory", func() error { return inventoryMatches(ctx, admin, c) })
		}
		// Deltas: scaling up shows in the hub's inventory.
		scaleWeb(ctx, t, clusters[0], 4)
		eventually(t, time.Minute, "scaled inventory", func() error { return inventoryMatches(ctx, admin, clusters[0]) })
	})

	t.Run("the leader dies; streams move and nothing is lost", func(t *testing.T) {
		leader, err := hub.Leader(ctx)
		require.NoError(t, err)
		hub.Kill(leader)
		other := hub.Client((leader + 1) % 3)
		// No cluster turns Unknown while the streams move: watch for 12 s.
		deadline := time.Now().Add(12 * time.Second)
		for time.Now().Before(deadline) {
			for _, c := range clusters {
				mc, err := getCluster(ctx, other, c.Name)
				if err != nil {
					continue // the hub is electing
				}
				require.NoError(t, conditionIs(mc, clusterv1.ManagedClusterConditionAvailable, "True", ""), "cluster stays available")
			}
			time.Sleep(300 * time.Millisecond)
		}
		scaleWeb(ctx, t, clusters[1], 3)
		for _, c := range clusters {
			eventually(t, time.Minute, c.Name+" inventory after failover", func() error { return inventoryMatches(ctx, other, c) })
		}
		require.NoError(t, hub.Start(leader))
	})

	t.Run("a stopped agent turns its cluster Unknown; it comes back without registering", func(t *testing.T) {
		agents[2].Stop()
		name := clusters[2].Name
		eventually(t, 30*time.Second, name+" unknown", func() error {
			mc, err := getCluster(ctx, admin, name)
			if err != nil {
				return err
			}
			if err := conditionIs(mc, clusterv1.ManagedClusterConditionAvailable, "Unknown", "ManagedClusterLeaseUpdateStopped"); err != nil {
				return err
			}
			if !hasTaint(mc, clusterv1.ManagedClusterTaintUnreachable) {
				return fmt.Errorf("no unreachable taint: %v", mc.Spec.Taints)
			}
			return nil
		})
		eventually(t, 30*time.Second, "the placement drops "+name, func() error { return decided(ctx, admin, "web", clusters[1].Name) })
		before := registrations(ctx, t, admin)
		require.NoError(t, agents[2].Start())
		eventually(t, time.Minute, name+" back", func() error {
			mc, err := getCluster(ctx, admin, name)
			if err != nil {
				return err
			}
			if hasTaint(mc, clusterv1.ManagedClusterTaintUnreachable) {
				return fmt.Errorf("still tainted")
			}
			return conditionIs(mc, clusterv1.ManagedClusterConditionAvailable, "True", "")
		})
		assert.Equal(t, before, registrations(ctx, t, admin), "no new registration request")
		eventually(t, 30*time.Second, "the placement takes "+name+" back", func() error {
			return decided(ctx, admin, "web", clusters[1].Name, clusters[2].Name)
		})
		assert.NotContains(t, agents[2].Log(200), "registered with the hub", "the restarted agent used its stored certificate")
	})

	t.Run("certificates rotate over the stream", func(t *testing.T) {
		// Renewal at 2/3 of the 40 s lifetime; when the old certificate expires the hub closes its
		// stream and the agent comes back with the new one.
		eventually(t, 90*time.Second, "a renewal, then a stream on the new certificate", func() error {
			log := agents[0].Log(1000)
			renewed := strings.Index(log, "client certificate renewed")
			if renewed < 0 {
				return fmt.Errorf("no renewal yet")
			}
			expired := strings.Index(log[renewed:], "the client certificate expired")
			if expired < 0 {
				return fmt.Errorf("renewed; the old certificate has not expired yet")
			}
			if !strings.Contains(log[renewed+expired:], "stream open") {
				return fmt.Errorf("not reconnected yet")
			}
			return nil
		})
		mc, err := getCluster(ctx, admin, clusters[0].Name)
		require.NoError(t, err)
		require.NoError(t, conditionIs(mc, clusterv1.ManagedClusterConditionAvailable, "True", ""))
		eventually(t, 30*time.Second, "inventory after the reconnect", func() error { return inventoryMatches(ctx, admin, clusters[0]) })
	})

	t.Run("refusals", func(t *testing.T) { testRefusals(ctx, t, hub, clusters, agents) })

	records, err := admin.ListAudit(ctx, &fleetv1.ListAuditRequest{})
	require.NoError(t, err)
	var actions []string
	for _, r := range records.GetRecords() {
		actions = append(actions, r.GetAction())
	}
	for _, want := range []string{"token.create", "cluster.register", "cluster.accept", "cluster.certificate.renew", "cluster.revoke"} {
		assert.Contains(t, actions, want)
	}
	for _, r := range records.GetRecords() {
		for _, tok := range []string{manual.GetSecret(), auto.GetSecret()} {
			assert.NotContains(t, string(r.GetEntryJson())+r.GetSubject(), tok, "no token secret in the audit log")
		}
	}
}

// decided checks that a placement in namespace default selected exactly these clusters, one
// decision group each, and says so in its status.
func decided(ctx context.Context, admin fleetv1.FleetClient, placement string, want ...string) error {
	out, err := admin.ListPlacementDecisions(ctx, &fleetv1.ListPlacementDecisionsRequest{Namespace: "default", Placement: placement})
	if err != nil {
		return err
	}
	var got []string
	for _, r := range out.GetDecisions() {
		var d clusterv1beta1.PlacementDecision
		if err := json.Unmarshal(r.GetObjectJson(), &d); err != nil {
			return err
		}
		for _, c := range d.Status.Decisions {
			got = append(got, c.ClusterName)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("placement %s decided %v, want %v", placement, got, want)
	}
	pr, err := admin.GetPlacement(ctx, &fleetv1.GetPlacementRequest{Namespace: "default", Name: placement})
	if err != nil {
		return err
	}
	var p clusterv1beta1.Placement
	if err := json.Unmarshal(pr.GetPlacement().GetObjectJson(), &p); err != nil {
		return err
	}
	if int(p.Status.NumberOfSelectedClusters) != len(want) || len(p.Status.DecisionGroups) != len(want) {
		return fmt.Errorf("placement status: %d selected in %d groups, want %d", p.Status.NumberOfSelectedClusters, len(p.Status.DecisionGroups), len(want))
	}
	return nil
}

func deployWeb(ctx context.Context, t *testing.T, c *testbed.Cluster, replicas int32) {
	t.Helper()
	cs, err := c.Clientset()
	require.NoError(t, err)
	labels := map[string]string{"app": "web"}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.0"}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func scaleWeb(ctx context.Context, t *testing.T, c *testbed.Cluster, replicas int32) {
	t.Helper()
	cs, err := c.Clientset()
	require.NoError(t, err)
	s, err := cs.AppsV1().Deployments("shop").GetScale(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	s.Spec.Replicas = replicas
	_, err = cs.AppsV1().Deployments("shop").UpdateScale(ctx, "web", s, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// inventoryMatches compares the hub's inventory of a cluster with the cluster itself: the same
// deployments, pods and nodes, at the same resource versions.
func inventoryMatches(ctx context.Context, admin fleetv1.FleetClient, c *testbed.Cluster) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	inv, err := admin.GetClusterInventory(ctx, &fleetv1.GetClusterInventoryRequest{Name: c.Name, Kinds: []string{"Deployment", "Pod", "Node"}})
	if err != nil {
		return err
	}
	var got []string
	for _, o := range inv.GetObjects() {
		r := o.GetRef()
		got = append(got, r.GetKind()+"/"+r.GetNamespace()+"/"+r.GetName()+"@"+r.GetResourceVersion())
	}
	var want []string
	deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		want = append(want, "Deployment/"+d.Namespace+"/"+d.Name+"@"+d.ResourceVersion)
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		want = append(want, "Pod/"+p.Namespace+"/"+p.Name+"@"+p.ResourceVersion)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		want = append(want, "Node//"+n.Name+"@"+n.ResourceVersion)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("hub inventory (member %s, seq %d)\n  %v\ncluster\n  %v", inv.GetMemberId(), inv.GetSequence(), got, want)
	}
	return nil
}

func registrations(ctx context.Context, t *testing.T, admin fleetv1.FleetClient) int {
	t.Helper()
	out, err := admin.ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: true})
	require.NoError(t, err)
	n := 0
	for _, tok := range out.GetTokens() {
		n += int(tok.GetUsageCount())
	}
	return n
}

// agentCert reads the certificate and key an agent keeps in its cluster.
func agentCert(ctx context.Context, t *testing.T, c *testbed.Cluster) tls.Certificate {
	t.Helper()
	cs, err := c.Clientset()
	require.NoError(t, err)
	sec, err := cs.CoreV1().Secrets(agentNamespace).Get(ctx, agentSecret, metav1.GetOptions{})
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	require.NoError(t, err)
	return cert
}
