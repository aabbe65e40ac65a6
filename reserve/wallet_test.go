package reserve_test

import (
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestUTXOMatureAndConfirmations(t *testing.T) {
	tests := []struct {
		name       string
		coinbase   bool
		height     int32
		tip        int32
		wantMature bool
		wantConf   int32
	}{
		{name: "payment confirmed at the tip", height: 100, tip: 100, wantMature: true, wantConf: 1},
		{name: "payment confirmed long ago", height: 1, tip: 1000, wantMature: true, wantConf: 1000},
		{name: "unconfirmed payment is spendable", height: 0, tip: 500, wantMature: true, wantConf: 0},
		{name: "payment above the tip", height: 200, tip: 150, wantMature: true, wantConf: 0},

		{name: "coinbase at the tip", coinbase: true, height: 100, tip: 100, wantMature: false, wantConf: 1},
		{name: "coinbase with 99 confirmations", coinbase: true, height: 1, tip: 99, wantMature: false, wantConf: 99},
		{name: "coinbase with 100 confirmations", coinbase: true, height: 1, tip: 100, wantMature: true, wantConf: 100},
		{name: "coinbase with 101 confirmations", coinbase: true, height: 1, tip: 101, wantMature: true, wantConf: 101},
		{name: "later coinbase with 99 confirmations", coinbase: true, height: 500, tip: 598, wantMature: false, wantConf: 99},
		{name: "later coinbase with 100 confirmations", coinbase: true, height: 500, tip: 599, wantMature: true, wantConf: 100},
		{name: "unconfirmed coinbase", coinbase: true, height: 0, tip: 1000, wantMature: false, wantConf: 0},
		{name: "coinbase above the tip", coinbase: true, height: 200, tip: 150, wantMature: false, wantConf: 0},
		{name: "coinbase far above the tip", coinbase: true, height: 1000, tip: 1, wantMature: false, wantConf: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := reserve.UTXO{AmountSat: 5000, Height: tt.height, Coinbase: tt.coinbase}
			require.Equal(t, tt.wantMature, u.Mature(tt.tip))
			require.Equal(t, tt.wantConf, u.Confirmations(tt.tip))
		})
	}
}

func TestBalanceOf(t *testing.T) {
	spender := chainhash.Hash{0xee}
	utxo := func(amount int64, height int32, coinbase bool) reserve.UTXO {
		return reserve.UTXO{
			OutPoint:  wire.OutPoint{Hash: chainhash.Hash{byte(amount)}, Index: uint32(height)},
			AmountSat: amount, Height: height, Coinbase: coinbase,
		}
	}
	spent := func(u reserve.UTXO, height int32) reserve.UTXO {
		u.Spent, u.SpentBy, u.SpentHeight = true, spender, height
		return u
	}
	const tip = 300
	tests := []struct {
		name  string
		utxos []reserve.UTXO
		want  reserve.Balance
	}{
		{name: "no outputs", want: reserve.Balance{}},
		{name: "confirmed payment", utxos: []reserve.UTXO{utxo(1000, 250, false)}, want: reserve.Balance{ConfirmedSat: 1000}},
		{name: "payment confirmed at the tip", utxos: []reserve.UTXO{utxo(1000, tip, false)}, want: reserve.Balance{ConfirmedSat: 1000}},
		{name: "unconfirmed payment", utxos: []reserve.UTXO{utxo(2000, 0, false)}, want: reserve.Balance{UnconfirmedSat: 2000}},
		{name: "immature coinbase (99 confirmations)", utxos: []reserve.UTXO{utxo(3000, tip-98, true)}, want: reserve.Balance{ImmatureSat: 3000}},
		{name: "mature coinbase (100 confirmations)", utxos: []reserve.UTXO{utxo(3000, tip-99, true)}, want: reserve.Balance{ConfirmedSat: 3000}},
		{name: "spent in a block", utxos: []reserve.UTXO{spent(utxo(1000, 250, false), 260)}, want: reserve.Balance{}},
		{name: "spent in the mempool", utxos: []reserve.UTXO{spent(utxo(1000, 250, false), 0)}, want: reserve.Balance{}},
		{name: "unconfirmed and spent in the mempool", utxos: []reserve.UTXO{spent(utxo(2000, 0, false), 0)}, want: reserve.Balance{}},
		{name: "immature coinbase spent", utxos: []reserve.UTXO{spent(utxo(3000, tip-5, true), 0)}, want: reserve.Balance{}},
		{
			name: "everything at once",
			utxos: []reserve.UTXO{
				utxo(1, 10, false),                  // confirmed
				utxo(2, 0, false),                   // unconfirmed
				utxo(4, tip-98, true),               // immature
				utxo(8, tip-99, true),               // mature coinbase
				spent(utxo(16, 20, false), 0),       // spent in mempool
				spent(utxo(32, 30, false), 31),      // spent in a block
				spent(utxo(64, 0, false), 0),        // unconfirmed, spent
				spent(utxo(128, tip-10, true), tip), // immature, spent
				utxo(256, 40, false),                // confirmed
				utxo(reserve.MaxSat-511, 50, false), // large
			},
			want: reserve.Balance{ConfirmedSat: 1 + 8 + 256 + reserve.MaxSat - 511, UnconfirmedSat: 2, ImmatureSat: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reserve.BalanceOf(tt.utxos, tip))
		})
	}
}
