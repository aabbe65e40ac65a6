package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// Hashes of the recorded responses' tips.
const (
	regtestGenesis = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	mainnetGenesis = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
	bitcoindTip657 = "4ac25f98ee9ed9b5de2bc7308a7ef1c2e90963708d0b6deb6decf46720fd1fb1"
)

func mustHash(tb testing.TB, s string) chainhash.Hash {
	tb.Helper()
	h, err := chainhash.NewHashFromStr(s)
	require.NoError(tb, err)
	return *h
}

func TestParseChainInfo(t *testing.T) {
	btcd := MustRPCResult(t, "btcd_getblockchaininfo.json")
	v28 := json.RawMessage(MustReadTestdata(t, "bitcoind_v28_regtest_getblockchaininfo.json"))
	mainnet := json.RawMessage(MustReadTestdata(t, "bitcoind_main_getblockchaininfo.json"))
	set := func(raw json.RawMessage, key string, v any) json.RawMessage {
		return MustEdit(t, raw, func(m map[string]any) { m[key] = v })
	}
	drop := func(raw json.RawMessage, key string) json.RawMessage {
		return MustEdit(t, raw, func(m map[string]any) { delete(m, key) })
	}

	tests := []struct {
		name string
		raw  json.RawMessage
		want ChainInfo
		// err, when set, is a substring the refusal must contain.
		err string
	}{
		{name: "btcd regtest, warnings null", raw: btcd,
			want: ChainInfo{Network: reserve.Regtest, Chain: "regtest", Blocks: 0, BestHash: mustHash(t, regtestGenesis)}},
		{name: "bitcoind v28 regtest, warnings an array", raw: v28,
			want: ChainInfo{Network: reserve.Regtest, Chain: "regtest", Blocks: 657, BestHash: mustHash(t, bitcoindTip657)}},
		{name: "bitcoind mainnet, warnings a string", raw: mainnet,
			want: ChainInfo{Network: reserve.Mainnet, Chain: "main", Blocks: 0, BestHash: mustHash(t, mainnetGenesis)}},
		{name: "bitcoind testnet3", raw: set(v28, "chain", "test"),
			want: ChainInfo{Network: reserve.Testnet, Chain: "test", Blocks: 657, BestHash: mustHash(t, bitcoindTip657)}},
		{name: "bitcoind signet", raw: set(v28, "chain", "signet"),
			want: ChainInfo{Network: reserve.Signet, Chain: "signet", Blocks: 657, BestHash: mustHash(t, bitcoindTip657)}},
		{name: "btcd testnet3", raw: set(btcd, "chain", "testnet3"),
			want: ChainInfo{Network: reserve.Testnet, Chain: "testnet3", Blocks: 0, BestHash: mustHash(t, regtestGenesis)}},
		{name: "warnings with two entries", raw: set(v28, "warnings", []string{"a", "b"}),
			want: ChainInfo{Network: reserve.Regtest, Chain: "regtest", Blocks: 657, BestHash: mustHash(t, bitcoindTip657)}},

		{name: "bitcoind testnet4 is not supported", raw: set(v28, "chain", "testnet4"), err: `chain "testnet4"`},
		{name: "btcd simnet is not supported", raw: set(btcd, "chain", "simnet"), err: `chain "simnet"`},
		{name: "empty chain name", raw: set(v28, "chain", ""), err: `chain ""`},
		{name: "missing chain", raw: drop(v28, "chain"), err: "lacks chain, blocks or bestblockhash"},
		{name: "missing blocks", raw: drop(btcd, "blocks"), err: "lacks chain, blocks or bestblockhash"},
		{name: "missing bestblockhash", raw: drop(mainnet, "bestblockhash"), err: "lacks chain, blocks or bestblockhash"},
		{name: "null chain", raw: set(v28, "chain", nil), err: "lacks chain, blocks or bestblockhash"},
		{name: "empty object", raw: json.RawMessage(`{}`), err: "lacks chain, blocks or bestblockhash"},
		{name: "JSON null", raw: json.RawMessage(`null`), err: "lacks chain, blocks or bestblockhash"},
		{name: "truncated JSON", raw: v28[:len(v28)/2], err: "unable to decode getblockchaininfo"},
		{name: "empty input", raw: json.RawMessage(``), err: "unable to decode getblockchaininfo"},
		{name: "an array", raw: json.RawMessage(`[]`), err: "unable to decode getblockchaininfo"},
		{name: "the whole envelope instead of the result", raw: MustReadTestdata(t, "btcd_getblockchaininfo.json"), err: "lacks chain, blocks or bestblockhash"},
		{name: "blocks as a string", raw: set(v28, "blocks", "657"), err: "unable to decode getblockchaininfo"},
		{name: "blocks beyond int32", raw: set(v28, "blocks", int64(1)<<31), err: "unable to decode getblockchaininfo"},
		{name: "chain as a number", raw: set(v28, "chain", 4), err: "unable to decode getblockchaininfo"},
		{name: "bestblockhash not hex", raw: set(v28, "bestblockhash", strings.Repeat("zz", 32)), err: "bestblockhash"},
		{name: "bestblockhash too long", raw: set(v28, "bestblockhash", bitcoindTip657+"00"), err: "bestblockhash"},
		{name: "bestblockhash as a number", raw: set(v28, "bestblockhash", 7), err: "unable to decode getblockchaininfo"},
		// chainhash.NewHashFromStr zero-pads a short string, so these
		// are accepted as other hashes unless the length is checked.
		{name: "bestblockhash empty", raw: set(v28, "bestblockhash", ""), err: "bestblockhash"},
		{name: "bestblockhash truncated", raw: set(v28, "bestblockhash", bitcoindTip657[:62]), err: "bestblockhash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChainInfo(tt.raw)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Equal(t, ChainInfo{}, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNetworkOfChain(t *testing.T) {
	tests := []struct {
		chain string
		want  reserve.Network
		err   bool
	}{
		{chain: "main", want: reserve.Mainnet},
		{chain: "mainnet", want: reserve.Mainnet},
		{chain: "test", want: reserve.Testnet},
		{chain: "testnet3", want: reserve.Testnet},
		{chain: "signet", want: reserve.Signet},
		{chain: "regtest", want: reserve.Regtest},

		{chain: "testnet4", err: true},
		{chain: "simnet", err: true},
		{chain: "testnet", err: true},
		{chain: "bitcoin", err: true},
		{chain: "Main", err: true},
		{chain: "regtest ", err: true},
		{chain: "", err: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.chain), func(t *testing.T) {
			got, err := networkOfChain(tt.chain)
			if tt.err {
				require.ErrorContains(t, err, fmt.Sprintf("chain %q", tt.chain))
				require.ErrorContains(t, err, "does not support")
				require.Equal(t, reserve.NetworkUnspecified, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeRawTx(t *testing.T) {
	txHex := strings.TrimSpace(string(MustReadTestdata(t, "tx_testnet3_926485_1.hex")))
	quote := func(s string) json.RawMessage {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		return b
	}

	t.Run("recorded testnet3 transaction round trip", func(t *testing.T) {
		tx, err := DecodeRawTx(quote(txHex))
		require.NoError(t, err)
		require.Equal(t, "d06d86bacf88f1f316d4470080b7869f1c298b850e7b219124ae131c0475abb0", tx.TxHash().String())
		require.True(t, tx.HasWitness())
		require.Len(t, tx.TxIn, 1)
		require.Len(t, tx.TxIn[0].Witness, 4, "empty dummy, two signatures, the 2-of-3 witness script")
		require.Len(t, tx.TxOut, 1)
		require.Equal(t, int64(20_000_000), tx.TxOut[0].Value)

		var buf bytes.Buffer
		require.NoError(t, tx.Serialize(&buf))
		require.Equal(t, txHex, hex.EncodeToString(buf.Bytes()))
	})

	tests := []struct {
		name string
		raw  json.RawMessage
		err  string
	}{
		{name: "not hex", raw: quote("zz" + txHex[2:]), err: "raw transaction is not hex"},
		{name: "odd number of hex digits", raw: quote(txHex[:len(txHex)-1]), err: "raw transaction is not hex"},
		{name: "truncated", raw: quote(txHex[:len(txHex)-10]), err: "unable to deserialize transaction"},
		{name: "only the version", raw: quote(txHex[:8]), err: "unable to deserialize transaction"},
		{name: "empty string", raw: quote(""), err: "unable to deserialize transaction"},
		{name: "a number", raw: json.RawMessage(`42`), err: "unable to decode raw transaction result"},
		{name: "a verbose object", raw: json.RawMessage(`{"hex":"` + txHex + `"}`), err: "unable to decode raw transaction result"},
		{name: "an array", raw: json.RawMessage(`["` + txHex + `"]`), err: "unable to decode raw transaction result"},
		{name: "unquoted hex", raw: json.RawMessage(txHex), err: "unable to decode raw transaction result"},
		{name: "JSON null", raw: json.RawMessage(`null`), err: "unable to deserialize transaction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := DecodeRawTx(tt.raw)
			require.ErrorContains(t, err, tt.err)
			require.Nil(t, tx)
		})
	}
}

func TestIsNoSuchTx(t *testing.T) {
	noSuchTx := &btcjson.RPCError{Code: btcjson.ErrRPCInvalidAddressOrKey, Message: "No such mempool or blockchain transaction"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "bitcoind: no such transaction (-5)", err: noSuchTx, want: true},
		{name: "btcd: no transaction information (-5)", err: &btcjson.RPCError{Code: btcjson.ErrRPCNoTxInfo, Message: "No information available about transaction"}, want: true},
		{name: "wrapped with %w", err: fmt.Errorf("getrawtransaction abc: %w", noSuchTx), want: true},

		{name: "nil", err: nil, want: false},
		{name: "invalid parameter (-8)", err: &btcjson.RPCError{Code: btcjson.ErrRPCInvalidParameter}, want: false},
		{name: "misc error (-1)", err: &btcjson.RPCError{Code: btcjson.ErrRPCMisc}, want: false},
		{name: "wrapped with %v", err: fmt.Errorf("getrawtransaction abc: %v", noSuchTx), want: false},
		{name: "plain error with the same text", err: errors.New("-5: No such mempool or blockchain transaction"), want: false},
		{name: "RPCError by value", err: *noSuchTx, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, isNoSuchTx(tt.err))
		})
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want Kind
		err  bool
	}{
		{in: "btcd", want: KindBtcd},
		{in: "bitcoind", want: KindBitcoind},
		{in: "", err: true},
		{in: "core", err: true},
		{in: "BTCD", err: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := ParseKind(tt.in)
			if tt.err {
				require.ErrorContains(t, err, "unknown node kind")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
