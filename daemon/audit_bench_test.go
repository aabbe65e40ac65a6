package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// BenchmarkAuditAppendVsPropose measures issue 11's rule "audit append may
// not cost more than 20% of a proposal's RPC time" in one run:
//   - propose: ProposeSpend over mTLS on loopback, one payee, each on a
//     fresh coin (the RPC appends its leaf inside its store transaction);
//   - append: AppendEvent, a transaction of its own holding only a leaf
//     and its tree hashes, fsync included: an upper bound on what the
//     leaf adds to a change, which shares the change's transaction.
//
// scripts/bench-audit.sh prints append/propose.
func BenchmarkAuditAppendVsPropose(b *testing.B) {
	td := MustStartDaemon(b)
	w := MustCreateWallet(b, td)
	MustSetPolicy(b, td, testPolicy(b))
	spend := custosv1.NewSpendServiceClient(MustDialAs(b, td, daemon.RoleOfficer))
	pay := []*custosv1.Payment{{Address: listedAddr(b), AmountSat: 10_000}}
	// One coin per proposal, funded once: run with -benchtime of at most
	// 150x (the sub-benchmark runs with 1 first).
	amounts := make([]int64, 160)
	for i := range amounts {
		amounts[i] = 100_000 + int64(i)
	}
	MustFundCoins(b, td, w, amounts...)

	b.Run("propose", func(b *testing.B) {
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := spend.ProposeSpend(ctx, &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2, Repeat: true})
			cancel()
			require.NoError(b, err)
		}
	})
	b.Run("append", func(b *testing.B) {
		ctx := context.Background()
		for range b.N {
			require.NoError(b, td.db.AppendEvent(ctx, "bench.event", map[string]string{"proposal": "P000001"}, "payees=1 total_sat=10000 fee_sat=282"))
		}
	})
}
