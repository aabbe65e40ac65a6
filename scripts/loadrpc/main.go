// Command loadrpc holds the measurements of scripts/bench-rpc.sh (issue
// 11, "Speed"): RPCs per second and latency of a real custosd over mutual
// TLS on loopback, with many concurrent clients.
//
//	loadrpc -datadir D [-clients 50] [-duration 5s] [-proposal ID] [-pay ADDR] [-phases A,B]
//
// It dials the daemon of data dir D with the admin identity custosd made
// there, as custosctl --datadir does; every client has its own connection
// (its own TLS session). For each phase, all clients call one RPC in a
// loop for the duration, and it prints the calls per second, p50 and p99,
// and their ratio to the baseline, an empty gRPC health check measured
// the same way in the same run: the ratios are what to compare between
// runs and machines. Read phases: GetStatus, GetBalance, ListUtxos,
// ListProposals and, with -proposal, GetProposal. State-changing phases:
// NewAddress and, with -pay, ProposeSpend then CancelProposal of what it
// proposed (one pair counted as one call).
//
// It changes nothing but what those RPCs change: addresses issued and
// proposals made and cancelled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "loadrpc: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	dataDir  string
	clients  int
	duration time.Duration
	proposal string
	pay      string
	phases   string
	tsv      string
}

// call is one unit of work of a phase, made by client c on conn.
type call func(ctx context.Context, conn *grpc.ClientConn, c, i int) error

type phase struct {
	name   string
	writes bool
	call   call
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadrpc", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "datadir", "", "custosd data dir (its tls/ holds the CA and the admin identity)")
	fs.IntVar(&o.clients, "clients", 50, "concurrent clients, each with its own connection")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each phase runs")
	fs.StringVar(&o.proposal, "proposal", "", "a proposal id for GetProposal")
	fs.StringVar(&o.pay, "pay", "", "an address to propose small payments to, each cancelled at once")
	fs.StringVar(&o.tsv, "tsv", "", "also append each phase as a tab-separated line to this file: phase calls errors calls/s p50_ms p99_ms")
	fs.StringVar(&o.phases, "phases", "", "comma-separated phase names to run after the baseline (empty: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dataDir == "" || o.clients < 1 || o.duration <= 0 {
		return errors.New("need -datadir, -clients of 1 or more and a positive -duration")
	}
	conns, err := dialAll(o)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	phases := []phase{
		{name: "Health/Check (baseline)", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}},
		{name: "GetStatus", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := custosv1.NewTreasuryServiceClient(conn).GetStatus(ctx, &custosv1.GetStatusRequest{})
			return err
		}},
		{name: "GetBalance", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := custosv1.NewTreasuryServiceClient(conn).GetBalance(ctx, &custosv1.GetBalanceRequest{})
			return err
		}},
		{name: "ListUtxos", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := custosv1.NewTreasuryServiceClient(conn).ListUtxos(ctx, &custosv1.ListUtxosRequest{})
			return err
		}},
		{name: "ListProposals", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := custosv1.NewSpendServiceClient(conn).ListProposals(ctx, &custosv1.ListProposalsRequest{})
			return err
		}},
	}
	if o.proposal != "" {
		phases = append(phases, phase{name: "GetProposal", call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
			_, err := custosv1.NewSpendServiceClient(conn).GetProposal(ctx, &custosv1.GetProposalRequest{Id: o.proposal})
			return err
		}})
	}
	phases = append(phases, phase{name: "NewAddress", writes: true, call: func(ctx context.Context, conn *grpc.ClientConn, _, _ int) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).NewAddress(ctx, &custosv1.NewAddressRequest{Label: "loadrpc"})
		return err
	}})
	if o.pay != "" {
		phases = append(phases, phase{name: "ProposeSpend+CancelProposal", writes: true, call: proposeCancel(o.pay)})
	}

	if o.phases != "" {
		want, baseline := strings.Split(o.phases, ","), phases[0].name
		phases = slices.DeleteFunc(phases, func(p phase) bool {
			return p.name != baseline && !slices.Contains(want, p.name)
		})
	}
	fmt.Fprintf(stdout, "%d clients over mTLS on loopback, %s per phase\n\n", o.clients, o.duration)
	fmt.Fprintf(stdout, "%-28s %9s %7s %10s %9s %9s %9s %9s %9s\n", "phase", "calls", "errors", "calls/s", "p50", "p99", "/s ratio", "p50 ratio", "p99 ratio")
	var tsv io.Writer = io.Discard
	if o.tsv != "" {
		f, err := os.OpenFile(o.tsv, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		tsv = f
	}
	var base result
	for i, p := range phases {
		r := measure(ctx, conns, o.duration, p.call)
		if i == 0 {
			base = r
		}
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		fmt.Fprintf(tsv, "%s\t%d\t%d\t%.1f\t%.3f\t%.3f\n", p.name, r.calls, r.errors, r.perSecond(), ms(r.p50()), ms(r.p99()))
		fmt.Fprintf(stdout, "%-28s %9d %7d %10.0f %9s %9s %9.2f %9.2f %9.2f\n", p.name, r.calls, r.errors, r.perSecond(),
			r.p50().Round(time.Microsecond), r.p99().Round(time.Microsecond),
			r.perSecond()/base.perSecond(), ratio(r.p50(), base.p50()), ratio(r.p99(), base.p99()))
		if r.firstErr != nil {
			fmt.Fprintf(stdout, "    first error: %v\n", r.firstErr)
		}
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// dialAll makes one connection per client with the data dir's admin
// identity and checks each with a health check.
func dialAll(o options) ([]*grpc.ClientConn, error) {
	dir := daemon.TLSDir(o.dataDir)
	var pem [3][]byte
	for i, name := range []string{daemon.CACertFile, daemon.AdminCertFile, daemon.AdminKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("unable to read the admin identity: %w", err)
		}
		pem[i] = b
	}
	addr, err := os.ReadFile(filepath.Join(o.dataDir, daemon.AddrFile))
	if err != nil {
		return nil, fmt.Errorf("unable to read the daemon's address: %w", err)
	}
	var conns []*grpc.ClientConn
	for range o.clients {
		cfg, err := daemon.ClientTLS(pem[0], pem[1], pem[2])
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(string(trimNewline(addr)), grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
			grpc.WithDefaultCallOptions(daemon.CallOptions()...))
		if err != nil {
			return nil, err
		}
		conns = append(conns, conn)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("unable to reach custosd at %s: %w", addr, err)
		}
	}
	return conns, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// proposeCancel proposes a payment of a few thousand satoshis to pay,
// each amount different so that no two are the same payment, and cancels
// it at once, releasing its coins for the next.
func proposeCancel(pay string) call {
	return func(ctx context.Context, conn *grpc.ClientConn, c, i int) error {
		spend := custosv1.NewSpendServiceClient(conn)
		r, err := spend.ProposeSpend(ctx, &custosv1.ProposeSpendRequest{
			Payees:       []*custosv1.Payment{{Address: pay, AmountSat: 100_000 + int64(c)*1_000_000 + int64(i)}},
			FeeRateSatVb: 2,
			Memo:         "loadrpc",
			Repeat:       true,
		})
		if err != nil {
			return fmt.Errorf("propose: %w", err)
		}
		_, err = spend.CancelProposal(ctx, &custosv1.CancelProposalRequest{Id: r.Proposal.Id, Reason: "loadrpc"})
		if err != nil {
			return fmt.Errorf("cancel %s: %w", r.Proposal.Id, err)
		}
		return nil
	}
}

// result is what one phase measured.
type result struct {
	calls, errors int
	elapsed       time.Duration
	latencies     []time.Duration // sorted
	firstErr      error
}

func (r result) perSecond() float64 { return float64(r.calls) / r.elapsed.Seconds() }
func (r result) p50() time.Duration { return r.quantile(0.50) }
func (r result) p99() time.Duration { return r.quantile(0.99) }

func (r result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(q*float64(len(r.latencies)-1))]
}

// measure runs call on every connection in a loop for d and gathers the
// latencies of the calls that succeeded.
func measure(ctx context.Context, conns []*grpc.ClientConn, d time.Duration, fn call) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errs     atomic.Int64
		firstErr error
	)
	start := time.Now()
	for c, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := fn(ctx, conn, c, i)
				if ctx.Err() != nil {
					break // cut off by the end of the phase: not counted
				}
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	return result{calls: len(all), errors: int(errs.Load()), elapsed: elapsed, latencies: all, firstErr: firstErr}
}
