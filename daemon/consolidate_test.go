package daemon_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// TestConsolidate: spend consolidate merges the smallest coins of the
// oldest height into one change output under an intent with the
// consolidate flag and no payees; refused: one coin, payees with it, a
// negative bound, and limits that leave fewer than two coins.
func TestConsolidate(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	MustFundCoins(t, td, w, 900_000, 50_000, 700_000, 60_000, 40_000, 3_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))

	for _, tt := range []struct {
		name string
		req  *custosv1.ProposeSpendRequest
		code codes.Code
		msg  string
	}{
		{name: "one coin", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 2, Consolidate: &custosv1.Consolidation{MaxInputs: 1}},
			code: codes.InvalidArgument, msg: "max_inputs"},
		{name: "with a payee", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 2, Consolidate: &custosv1.Consolidation{},
			Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 10_000}}}, code: codes.InvalidArgument, msg: "pays no payee"},
		{name: "negative age", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 2, Consolidate: &custosv1.Consolidation{MinAgeBlocks: -1}},
			code: codes.InvalidArgument, msg: "min_age_blocks"},
		{name: "too young", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 2, Consolidate: &custosv1.Consolidation{MinAgeBlocks: 1000}},
			code: codes.FailedPrecondition, msg: "0 spendable coins"},
		{name: "only one small enough", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 2, Consolidate: &custosv1.Consolidation{MaxAmountSat: 45_000}},
			code: codes.FailedPrecondition, msg: "1 spendable coins"},
		// At 500 sat/vB a 2-of-3 input costs more than 50,000 sat: the two
		// small coins would be spent for less than nothing.
		{name: "coins worth less than their input's fee", req: &custosv1.ProposeSpendRequest{FeeRateSatVb: 500, Consolidate: &custosv1.Consolidation{MaxAmountSat: 55_000}},
			code: codes.FailedPrecondition, msg: "0 spendable coins meet the consolidation's limits (min age 0 blocks, max amount 55000 sat, worth more than the"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spend.ProposeSpend(callCtx(t), tt.req)
			requireCode(t, err, tt.code, tt.msg)
		})
	}

	resp, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{FeeRateSatVb: 2,
		Consolidate: &custosv1.Consolidation{MaxInputs: 3, MaxAmountSat: 1_000_000}})
	require.NoError(t, err)
	p := resp.GetProposal()
	require.Empty(t, p.GetPayees())
	var amounts []int64
	for _, in := range p.GetInputs() {
		amounts = append(amounts, in.GetAmountSat())
	}
	require.ElementsMatch(t, []int64{40_000, 50_000, 60_000}, amounts, "the three smallest coins")
	in, err := reserve.DecodeIntent(p.GetIntent())
	require.NoError(t, err)
	require.True(t, in.Consolidate)
	require.Empty(t, in.Payees)
	require.Empty(t, in.Supersedes)
	require.LessOrEqual(t, p.GetFeeSat(), in.FeeCapSat)
}
