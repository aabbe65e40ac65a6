package daemon_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// TestConcurrentAddressesAndProposals: many officers at once each get a
// distinct address, and each proposal whose coins exist is made — none is
// refused because another caller was selecting at the same moment.
func TestConcurrentAddressesAndProposals(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	const n = 24 // 48 calls: within the default rate limit burst of one identity
	amounts := make([]int64, n)
	for i := range amounts {
		amounts[i] = 10_000_000
	}
	MustFundCoins(t, td, w, amounts...)
	conn := MustDialAs(t, td, daemon.RoleOfficer)
	treasury, spend := custosv1.NewTreasuryServiceClient(conn), custosv1.NewSpendServiceClient(conn)

	var wg sync.WaitGroup
	addrs := make([]string, n)
	ids := make([]string, n)
	errs := make([]error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r, err := treasury.NewAddress(callCtx(t), &custosv1.NewAddressRequest{Label: "deposit"})
			if errs[i] = err; err == nil {
				addrs[i] = r.Address.Address
			}
		}()
		go func() {
			defer wg.Done()
			r, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
				Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 5_000_000 + int64(i)}}, FeeRateSatVb: 1})
			if errs[n+i] = err; err == nil {
				ids[i] = r.Proposal.Id
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "call %d", i)
	}
	seen := map[string]bool{}
	for _, a := range append(addrs, ids...) {
		require.False(t, seen[a], "%s handed out twice", a)
		seen[a] = true
	}
}
