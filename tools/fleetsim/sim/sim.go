// Package sim simulates a fleet of spokes in one process: each simulated cluster has its own
// key, registers with a bootstrap token for its own certificate, and holds its own mutually
// authenticated stream to the hub, over which it sends an inventory snapshot, heartbeats and
// deltas at configurable rates. It measures the hub from the outside, as real spokes see it.
package sim

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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Config shapes a simulated fleet.
type Config struct {
	// Hub lists the members' gRPC addresses; spokes spread over them.
	Hub []string
	// CAHash pins the hub CA for registration.
	CAHash string
	// Tokens are bootstrap tokens, used round robin: one per spoke, or one shared.
	Tokens []string
	// Prefix names the clusters <prefix>-<i>.
	Prefix string
	// Spokes is how many clusters to simulate.
	Spokes int
	// Parallel bounds the registrations and connects in flight.
	Parallel int
	// Objects is the size of each spoke's inventory snapshot.
	Objects int
	// Until StartLoad, spokes heartbeat at the hub's interval and send no deltas, as a fleet
	// that just connected does. After it, HeartbeatEvery (when set) and DeltaEvery (a delta of
	// DeltaChanges changes per spoke at that interval; 0: none) apply.
	HeartbeatEvery time.Duration
	DeltaEvery     time.Duration
	DeltaChanges   int
}

// Counters are what the simulated spokes saw.
type Counters struct {
	Registered, Connected, Failed atomic.Int64
	Heartbeats, Deltas, Acks      atomic.Int64
}

// Phases are how long the steps of opening a stream took, one sample per spoke.
type Phases struct {
	mu                      sync.Mutex
	Open, Welcome, Snapshot []time.Duration
}

func (p *Phases) add(open, welcome, snapshot time.Duration) {
	p.mu.Lock()
	p.Open, p.Welcome, p.Snapshot = append(p.Open, open), append(p.Welcome, welcome), append(p.Snapshot, snapshot)
	p.mu.Unlock()
}

// Summary gives the median and 99th percentile of each phase.
func (p *Phases) Summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := func(d []time.Duration) string {
		if len(d) == 0 {
			return "-"
		}
		s := slices.Clone(d)
		slices.Sort(s)
		return fmt.Sprintf("p50 %s p99 %s", s[len(s)/2].Round(time.Millisecond), s[len(s)*99/100].Round(time.Millisecond))
	}
	return fmt.Sprintf("open stream %s; hello->welcome %s; snapshot->ack %s", q(p.Open), q(p.Welcome), q(p.Snapshot))
}

// Spoke is one simulated cluster.
type Spoke struct {
	Name string
	cert tls.Certificate
	ca   *x509.CertPool
}

// Fleet is a running simulation.
type Fleet struct {
	cfg    Config
	Spokes []*Spoke
	Count  Counters
	Phases Phases
	errMu  sync.Mutex
	errs   []error
	wg     sync.WaitGroup
	regs   []*grpc.ClientConn
	load   chan struct{} // closed by StartLoad
	once   sync.Once
}

// StartLoad switches every spoke to the configured heartbeat and delta rates.
func (f *Fleet) StartLoad() { f.once.Do(func() { close(f.load) }) }

// New prepares a fleet; Register and Connect run it.
func New(cfg Config) (*Fleet, error) {
	if len(cfg.Hub) == 0 || len(cfg.Tokens) == 0 || cfg.Spokes <= 0 {
		return nil, errors.New("fleetsim: give hub addresses, at least one token and a number of spokes")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sim"
	}
	pin, err := fleetauth.ParseCAHash(cfg.CAHash)
	if err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, load: make(chan struct{})}
	for _, addr := range cfg.Hub {
		tc := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, //nolint:gosec // pinned below
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				_, err := fleetauth.VerifyPinnedChain(raw, pin)
				return err
			}}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			return nil, err
		}
		f.regs = append(f.regs, conn)
	}
	return f, nil
}

func (f *Fleet) fail(err error) {
	f.Count.Failed.Add(1)
	f.errMu.Lock()
	if len(f.errs) < 10 {
		f.errs = append(f.errs, err)
	}
	f.errMu.Unlock()
}

// Err reports the first failures, if any.
func (f *Fleet) Err() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return errors.Join(f.errs...)
}

// Register registers every spoke (key, CSR, token, signed certificate), Parallel at a time.
func (f *Fleet) Register(ctx context.Context) error {
	f.Spokes = make([]*Spoke, f.cfg.Spokes)
	sem := make(chan struct{}, f.cfg.Parallel)
	var wg sync.WaitGroup
	for i := range f.cfg.Spokes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := f.registerOne(ctx, i)
			if err != nil {
				f.fail(err)
				return
			}
			f.Spokes[i] = s
			f.Count.Registered.Add(1)
		})
	}
	wg.Wait()
	if f.Count.Registered.Load() != int64(f.cfg.Spokes) {
		return fmt.Errorf("%d of %d spokes registered: %w", f.Count.Registered.Load(), f.cfg.Spokes, f.Err())
	}
	return nil
}

func (f *Fleet) registerOne(ctx context.Context, i int) (*Spoke, error) {
	name := fmt.Sprintf("%s-%d", f.cfg.Prefix, i)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, err
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	rc := fleetv1.NewRegistrationClient(f.regs[i%len(f.regs)])
	resp, err := rc.Register(ctx, &fleetv1.RegisterRequest{
		BootstrapToken: f.cfg.Tokens[i%len(f.cfg.Tokens)], CsrPem: csr,
		Claims: &fleetv1.ClusterClaims{ClusterName: name, ClusterId: "sim-" + name, KubernetesVersion: "v1.37.2", Platform: "fleetsim", NodeCount: 3},
	})
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	st := resp.GetStatus()
	if st.GetState() != fleetv1.RegistrationState_REGISTRATION_STATE_ACCEPTED {
		return nil, fmt.Errorf("register %s: %s (%s); the simulator needs auto-accepting tokens", name, st.GetState(), st.GetReason())
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(st.GetCredentials().GetCertificateChainPem(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, fmt.Errorf("%s: certificate: %w", name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(st.GetCredentials().GetCaBundlePem()) {
		return nil, fmt.Errorf("%s: no CA bundle in the credentials", name)
	}
	return &Spoke{Name: name, cert: cert, ca: pool}, nil
}

// Connect opens every registered spoke's stream and returns once all sent their snapshot and
// got it acknowledged. The streams run until ctx ends; Wait waits for them.
func (f *Fleet) Connect(ctx context.Context) error {
	sem := make(chan struct{}, f.cfg.Parallel)
	ready := make(chan error, len(f.Spokes))
	launched := 0
	for i, s := range f.Spokes {
		if s == nil {
			continue
		}
		launched++
		sem <- struct{}{}
		f.wg.Go(func() {
			f.run(ctx, s, f.cfg.Hub[i%len(f.cfg.Hub)], func(err error) { <-sem; ready <- err })
		})
	}
	var errs []error
	for range launched {
		if err := <-ready; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d streams did not come up; first: %w", len(errs), launched, errs[0])
	}
	return nil
}

// Wait waits for every stream to end.
func (f *Fleet) Wait() {
	f.wg.Wait()
	for _, c := range f.regs {
		_ = c.Close()
	}
}

// run holds one spoke's stream; up reports once, when the snapshot is acknowledged or the
// stream failed before that.
func (f *Fleet) run(ctx context.Context, s *Spoke, addr string, up func(error)) {
	var once sync.Once
	report := func(err error) { once.Do(func() { up(err) }) }
	err := f.stream(ctx, s, addr, func() { report(nil) })
	if err != nil && ctx.Err() == nil {
		f.fail(fmt.Errorf("%s: %w", s.Name, err))
	}
	report(fmt.Errorf("%s: stream ended: %w", s.Name, err))
}

func (f *Fleet) stream(ctx context.Context, s *Spoke, addr string, up func()) error {
	t0 := time.Now()
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{s.cert}, InsecureSkipVerify: true, //nolint:gosec // checked below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { return fleetauth.VerifyHubChain(raw, s.ca) }}
	// Small buffers: ten thousand connections in one process must not cost gigabytes.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithReadBufferSize(4<<10), grpc.WithWriteBufferSize(4<<10), grpc.WithSharedWriteBuffer(true))
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := fleetv1.NewSpokeClient(conn).Connect(ctx)
	if err != nil {
		return err
	}
	send := func(m *fleetv1.SpokeMessage) error { return st.Send(m) }
	t1 := time.Now()
	if err := send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Hello{Hello: &fleetv1.Hello{AgentVersion: "fleetsim", Time: timestamppb.Now()}}}); err != nil {
		return err
	}
	m, err := st.Recv()
	if err != nil {
		return err
	}
	w := m.GetWelcome()
	if w == nil {
		return fmt.Errorf("no Welcome: %v", m)
	}
	t2 := time.Now()
	seq := uint64(1)
	objs := make([]*fleetv1.InventoryObject, f.cfg.Objects)
	for i := range objs {
		objs[i] = pod(s.Name, i, 1)
	}
	if err := send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_InventorySnapshot{InventorySnapshot: &fleetv1.InventorySnapshot{
		Sequence: seq, ChunkTotal: 1, Objects: objs, ObservedAt: timestamppb.Now()}}}); err != nil {
		return err
	}
	if m, err = st.Recv(); err != nil {
		return err
	}
	if m.GetAck().GetUpToSequence() != seq {
		return fmt.Errorf("snapshot not acknowledged: %v", m)
	}
	f.Phases.add(t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	f.Count.Connected.Add(1)
	defer f.Count.Connected.Add(-1)
	up()

	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if m.GetAck() != nil {
				f.Count.Acks.Add(1)
			}
		}
	}()
	hb := time.NewTicker(jitter(w.GetHeartbeatInterval().AsDuration()))
	defer hb.Stop()
	var deltas <-chan time.Time
	load := f.load
	var renewal uint64
	gen := int64(1)
	for {
		select {
		case <-ctx.Done():
			_ = st.CloseSend()
			return nil
		case <-load:
			load = nil
			if f.cfg.HeartbeatEvery > 0 {
				hb.Reset(jitter(f.cfg.HeartbeatEvery))
			}
			if f.cfg.DeltaEvery > 0 {
				t := time.NewTicker(jitter(f.cfg.DeltaEvery))
				defer t.Stop()
				deltas = t.C
			}
		case <-hb.C:
			renewal++
			if err := send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Heartbeat{Heartbeat: &fleetv1.Heartbeat{Time: timestamppb.Now(), Renewal: renewal}}}); err != nil {
				return err
			}
			f.Count.Heartbeats.Add(1)
		case <-deltas:
			seq++
			gen++
			changes := make([]*fleetv1.InventoryChange, max(f.cfg.DeltaChanges, 1))
			for i := range changes {
				changes[i] = &fleetv1.InventoryChange{Type: fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_UPSERT, Object: pod(s.Name, (int(seq)+i)%max(f.cfg.Objects, 1), gen)}
			}
			if err := send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_InventoryDelta{InventoryDelta: &fleetv1.InventoryDelta{
				Sequence: seq, Changes: changes, ObservedAt: timestamppb.Now()}}}); err != nil {
				return err
			}
			f.Count.Deltas.Add(1)
		}
	}
}

// jitter spreads the spokes' timers so they do not tick in lockstep.
func jitter(d time.Duration) time.Duration {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return d*3/4 + time.Duration(int64(b[0])<<8|int64(b[1]))*d/2/65536
}

func pod(cluster string, i int, gen int64) *fleetv1.InventoryObject {
	name := fmt.Sprintf("app-%d", i)
	return &fleetv1.InventoryObject{
		Ref:    &fleetv1.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "default", Name: name, Uid: cluster + "-" + name, ResourceVersion: fmt.Sprint(gen)},
		Labels: map[string]string{"app": "app"},
		Status: &fleetv1.StatusSummary{Phase: "Running", Ready: true, Counters: map[string]int64{"restarts": gen - 1}},
	}
}
