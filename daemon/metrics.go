package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/reserve"
)

// MetricsPath is where the metrics listener serves the Prometheus text
// exposition.
const MetricsPath = "/metrics"

// DefaultMetricsListen is the address custosd --help suggests for the
// metrics listener, which is off unless configured.
const DefaultMetricsListen = "127.0.0.1:9464"

// metricsScrapeTimeout bounds the store reads of one scrape.
const metricsScrapeTimeout = 5 * time.Second

// CheckMetricsListen refuses a metrics listen address that is not on
// loopback unless allowRemote says the operator wants it there: the
// metrics name proposal states, officers and cosigner fingerprints, which
// are not for the whole network. Empty (metrics off) is accepted.
func CheckMetricsListen(addr string, allowRemote bool) error {
	if addr == "" || allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return reserve.Invalid("metrics.listen", "%q is not host:port: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return reserve.Invalid("metrics.listen", "%q is not a loopback address; serving metrics beyond this host needs --metrics.allow-remote", addr)
}

// metrics are the daemon's Prometheus metrics, in a registry of their
// own (never the process-wide default one). Counters and histograms are
// kept as things happen; every gauge read from the store or the follower
// is computed when scraped (stateCollector), so nothing walks the history
// unless someone looks.
type metrics struct {
	reg *prometheus.Registry
	// rpcs and rpcSeconds count and time every call by full method name
	// and gRPC code, refusals by the interceptors included.
	rpcs       *prometheus.CounterVec
	rpcSeconds *prometheus.HistogramVec
	// broadcasts counts the node's answers to the daemon's attempts to
	// send a transaction: accepted, refused, or no answer (error).
	broadcasts *prometheus.CounterVec
}

// Results of custos_broadcasts_total.
const (
	broadcastAccepted = "accepted"
	broadcastRefused  = "refused"
	broadcastError    = "error"
)

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custos_rpc_requests_total",
			Help: "gRPC calls served, by full method name and status code (refusals by authentication and limits included).",
		}, []string{"method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "custos_rpc_duration_seconds",
			Help:    "Time to serve a gRPC call (a stream: until it ends), by full method name and status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1 ms to about 65 s
		}, []string{"method", "code"}),
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custos_broadcasts_total",
			Help: "Attempts to put a transaction on the network (first sends and rebroadcasts), by the node's answer: accepted, refused (testmempoolaccept or sendrawtransaction said no), error (no answer).",
		}, []string{"result"}),
	}
	for _, r := range []string{broadcastAccepted, broadcastRefused, broadcastError} {
		m.broadcasts.WithLabelValues(r)
	}
	m.reg.MustRegister(m.rpcs, m.rpcSeconds, m.broadcasts, &stateCollector{d: d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry at MetricsPath. A store read that fails
// leaves its metrics out of the scrape (and says so in the log), the
// others are served.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 2,
		Timeout:             2 * metricsScrapeTimeout,
	}))
	return mux
}

// slogPrinter adapts the daemon's logger to promhttp.Logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics scrape incomplete", "err", fmt.Sprint(v...))
}

// serveMetrics serves lis until ctx ends.
func (d *Daemon) serveMetrics(ctx context.Context, lis net.Listener) {
	srv := &http.Server{
		Handler:           d.metrics.handler(d.log.With("component", "metrics")),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      3 * metricsScrapeTimeout,
		IdleTimeout:       time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			d.log.Warn("metrics listener stopped", "err", err)
		}
	}()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-done
}

// MetricsAddr is where the metrics listener listens, nil when metrics are
// off (Config.MetricsListen empty).
func (d *Daemon) MetricsAddr() net.Addr {
	if d.metricsLis == nil {
		return nil
	}
	return d.metricsLis.Addr()
}

// rpcMethod is the method label of a call: only methods the daemon serves
// (methodRoles) are named, so label values stay a fixed, small set.
func rpcMethod(full string) string {
	if _, ok := methodRoles[full]; ok {
		return full
	}
	return "other"
}

// observe records one call. m may be nil (a daemon built by a test).
func (m *metrics) observe(method string, start time.Time, err error) {
	if m == nil {
		return
	}
	method, code := rpcMethod(method), statusCode(err)
	m.rpcs.WithLabelValues(method, code).Inc()
	m.rpcSeconds.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
}

// unary and stream are the outermost interceptors: they see every call,
// refused ones too, with the code the client gets.
func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}

func statusCode(err error) string { return status.Code(err).String() }

// countingNode counts the node's answers to broadcasts; every other call
// goes to the node as it is.
type countingNode struct {
	nodeClient
	m *metrics
}

func (n countingNode) TestMempoolAccept(ctx context.Context, tx *wire.MsgTx) (chain.Acceptance, error) {
	acc, err := n.nodeClient.TestMempoolAccept(ctx, tx)
	switch {
	case err != nil:
		n.m.broadcasts.WithLabelValues(broadcastError).Inc()
	case !acc.Allowed:
		n.m.broadcasts.WithLabelValues(broadcastRefused).Inc()
	}
	// An allowed transaction is counted when it is sent.
	return acc, err
}

func (n countingNode) SendRawTransaction(ctx context.Context, tx *wire.MsgTx) error {
	err := n.nodeClient.SendRawTransaction(ctx, tx)
	var rpcErr *btcjson.RPCError
	switch {
	case err == nil:
		n.m.broadcasts.WithLabelValues(broadcastAccepted).Inc()
	case errors.As(err, &rpcErr):
		n.m.broadcasts.WithLabelValues(broadcastRefused).Inc()
	default:
		n.m.broadcasts.WithLabelValues(broadcastError).Inc()
	}
	return err
}

// stateCollector computes at scrape time the gauges read from the
// follower and the store.
//
// Cost: the follower's status, the wallet, the governance, the
// reservations (one key per reserved coin), the audit tree's size, the
// balance and the proposal counts by state are maintained records, read
// as they are; the pending gauges read only the proposals waiting
// (PENDING_APPROVAL, SIGNING) through the state index. Nothing grows with
// the history.
type stateCollector struct{ d *Daemon }

var (
	descSyncHeight = prometheus.NewDesc("custos_sync_height",
		"Height of the last block the wallet has processed (-1 before the first).", nil, nil)
	descNodeHeight = prometheus.NewDesc("custos_node_height",
		"Height of the node's best block as last seen.", nil, nil)
	descSyncLag = prometheus.NewDesc("custos_sync_lag_blocks",
		"Blocks between the node's best block as last seen and the wallet's last processed block.", nil, nil)
	descNodeReachable = prometheus.NewDesc("custos_node_reachable",
		"1 when the node answered the follower's last request for its tip, 0 otherwise.", nil, nil)
	descSynced = prometheus.NewDesc("custos_wallet_synced",
		"1 when the wallet is synced to the node's best block as last seen.", nil, nil)
	descProposals = prometheus.NewDesc("custos_proposals",
		"Proposals by state (every proposal ever made is in exactly one).", []string{"state"}, nil)
	descApprovalsPending = prometheus.NewDesc("custos_approvals_pending",
		"Proposals waiting for approval under the policy in force on which this officer has not decided.", []string{"officer"}, nil)
	descSignaturesPending = prometheus.NewDesc("custos_signatures_pending",
		"Proposals waiting for signatures (SIGNING) that this cosigner has not signed.", []string{"cosigner"}, nil)
	descReservations = prometheus.NewDesc("custos_reservations",
		"Wallet outputs reserved by proposals.", nil, nil)
	descAuditSize = prometheus.NewDesc("custos_audit_log_size",
		"Leaves in the audit log.", nil, nil)
	descBalance = prometheus.NewDesc("custos_balance_sat",
		"The wallet's unspent outputs at the synced height, in satoshis, by kind (confirmed, unconfirmed, immature).", []string{"kind"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSyncHeight, descNodeHeight, descSyncLag, descNodeReachable, descSynced,
		descProposals, descApprovalsPending, descSignaturesPending, descReservations, descAuditSize, descBalance} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metricsScrapeTimeout)
	defer cancel()
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}

	// The follower's view, as last published: no request to the node.
	st := d.follower.Status()
	gauge(descSyncHeight, float64(st.SyncedHeight))
	gauge(descNodeReachable, b2f(st.NodeReachable))
	gauge(descSynced, b2f(st.Synced))
	if st.NodeHeight > 0 || st.NodeReachable {
		gauge(descNodeHeight, float64(st.NodeHeight))
		gauge(descSyncLag, float64(max(st.NodeHeight-st.SyncedHeight, 0)))
	}

	if res, err := d.cfg.Store.Reservations(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descReservations, err)
	} else {
		gauge(descReservations, float64(len(res)))
	}
	if size, _, err := d.audit.AuditTree(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descAuditSize, err)
	} else {
		gauge(descAuditSize, float64(size))
	}
	if b, _, err := d.cfg.Store.Balance(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descBalance, err)
	} else {
		gauge(descBalance, float64(b.ConfirmedSat), "confirmed")
		gauge(descBalance, float64(b.UnconfirmedSat), "unconfirmed")
		gauge(descBalance, float64(b.ImmatureSat), "immature")
	}
	c.collectProposals(ctx, gauge, ch)
}

// proposalsIn reads every proposal in state through the store's state
// index, a page at a time: its cost is the proposals in that state, not
// every proposal ever made.
func (d *Daemon) proposalsIn(ctx context.Context, state reserve.State) ([]reserve.Proposal, error) {
	var (
		out   []reserve.Proposal
		after []byte
	)
	for {
		page, next, err := d.cfg.Store.ProposalPage(ctx, state, after, reserve.MaxPageSize)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == nil {
			return out, nil
		}
		after = next
	}
}

// collectProposals reads the counts by state and the proposals waiting
// for someone, and derives the proposal gauges.
func (c *stateCollector) collectProposals(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string), ch chan<- prometheus.Metric) {
	d := c.d
	byState, err := d.cfg.Store.ProposalCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descProposals, err)
		return
	}
	for s := reserve.StatePendingApproval; s <= reserve.StateReplaced; s++ {
		gauge(descProposals, float64(byState[s]), s.String())
	}

	w, err := d.cfg.Store.Wallet(ctx)
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return // no wallet, nothing waits for anyone
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descSignaturesPending, err)
		return
	}
	signing, err := d.proposalsIn(ctx, reserve.StateSigning)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descSignaturesPending, err)
		return
	}
	for i, cs := range w.Cosigners {
		n := 0
		for _, p := range signing {
			if p.State == reserve.StateSigning && !p.Signed(i) {
				n++
			}
		}
		gauge(descSignaturesPending, float64(n), fmt.Sprintf("%08x", cs.Fingerprint))
	}

	g, err := d.cfg.Store.Governance(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descApprovalsPending, err)
		return
	}
	pol, err := d.policies.parse(g.Policy)
	if err != nil || pol == nil {
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descApprovalsPending, err)
		}
		return
	}
	pending, err := d.proposalsIn(ctx, reserve.StatePendingApproval)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descApprovalsPending, err)
		return
	}
	for _, o := range pol.Officers {
		n := 0
		for _, p := range pending {
			if p.Intent == nil || p.Intent.PolicyHash != g.Policy.Hash {
				continue
			}
			if _, decided := p.Decided(o.Key); !decided {
				n++
			}
		}
		gauge(descApprovalsPending, float64(n), o.ID)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
