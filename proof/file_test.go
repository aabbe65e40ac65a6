package proof

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// validProof is a signed proof over three coins at height 2 of the
// fixture chain, and its file as JSON fields.
func validProof(t *testing.T) (chainFixture, *File, map[string]any) {
	fx := newChainFixture(t)
	w := mustWallet(t)
	f := w.mustProofFile(t, fx.c, 2, "Reserve audit 2025-06-30: challenge 7f3a", fx.a[:3])
	b, err := Marshal(f)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return fx, f, m
}

func TestParse(t *testing.T) {
	_, _, base := validProof(t)
	with := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
	}
	// derivation replaces derivations[i] in a copy of the list.
	derivation := func(i int, v any) func(map[string]any) {
		return func(m map[string]any) {
			ds := append([]any(nil), m["derivations"].([]any)...)
			ds[i] = v
			m["derivations"] = ds
		}
	}
	tests := []struct {
		name   string
		edit   func(map[string]any)
		raw    func([]byte) []byte
		field  string
		substr string
	}{
		{name: "valid", edit: func(map[string]any) {}},
		{name: "unknown field", edit: with("extra", 1), field: "proof", substr: `unknown field "extra"`},
		{name: "duplicate field", raw: func(b []byte) []byte { return []byte(strings.Replace(string(b), `"coins"`, `"coins": 3, "coins"`, 1)) }, field: "coins", substr: "appears twice"},
		{name: "trailing data", raw: func(b []byte) []byte { return append(b, []byte("{}")...) }, field: "proof", substr: "data after"},
		{name: "not JSON", raw: func([]byte) []byte { return []byte("psbt") }, field: "proof", substr: "not a proof file"},
		{name: "too large", raw: func([]byte) []byte { return make([]byte, MaxFileBytes+1) }, field: "proof", substr: "more than"},
		{name: "format missing", edit: with("format", nil), field: "format", substr: "missing"},
		{name: "format v2", edit: with("format", "custos-proof-of-reserves/v2"), field: "format", substr: "not a format"},
		{name: "network alias", edit: with("network", "main"), field: "network", substr: "not mainnet"},
		{name: "network unknown", edit: with("network", "simnet"), field: "network", substr: "not mainnet"},
		{name: "message empty", edit: with("message", ""), field: "message", substr: "empty"},
		{name: "message control character", edit: with("message", "a\x1b[2Jb"), field: "message", substr: "unprintable character"},
		{name: "message too long", edit: with("message", strings.Repeat("a", MaxMessageBytes+1)), field: "message", substr: "more than the 4096 allowed"},
		{name: "message differs from the PSBT's", edit: with("message", "Reserve audit 2025-07-01"), field: "message", substr: "global[0x09]"},
		{name: "challenge address of mainnet", edit: with("challenge_address", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), field: "challenge_address", substr: "not a regtest address"},
		{name: "height negative", edit: with("height", -1), field: "height", substr: "not a block height"},
		{name: "height too large", edit: with("height", 1<<31), field: "height", substr: "not a block height"},
		{name: "height as string", edit: with("height", "2"), field: "proof", substr: "cannot unmarshal"},
		{name: "block hash uppercase", edit: func(m map[string]any) { m["block_hash"] = strings.ToUpper(m["block_hash"].(string)) }, field: "block_hash", substr: "lowercase hex"},
		{name: "block hash short", edit: with("block_hash", "00ff"), field: "block_hash", substr: "64 lowercase"},
		{name: "total as number", edit: with("total_sat", 600000000), field: "proof", substr: "cannot unmarshal"},
		{name: "total negative", edit: with("total_sat", "-1"), field: "total_sat", substr: "not a decimal amount"},
		{name: "total leading zero", edit: with("total_sat", "0600000000"), field: "total_sat", substr: "not a decimal amount"},
		{name: "total over int64", edit: with("total_sat", "9223372036854775808"), field: "total_sat", substr: "int64"},
		{name: "coins zero", edit: with("coins", 0), field: "coins", substr: "not in 1.."},
		{name: "coins too many", edit: with("coins", MaxCoins+1), field: "coins", substr: "not in 1.."},
		{name: "coins disagree with tx", edit: func(m map[string]any) { m["coins"] = 2; delete(m, "descriptor"); delete(m, "derivations") }, field: "coins", substr: "the transaction proves 3"},
		{name: "valid without descriptor and derivations", edit: func(m map[string]any) { delete(m, "descriptor"); delete(m, "derivations") }},
		{name: "descriptor without derivations", edit: with("derivations", nil), field: "derivations", substr: "missing: a proof that publishes its descriptor"},
		{name: "derivations without descriptor", edit: with("descriptor", nil), field: "derivations", substr: "present without the descriptor"},
		{name: "derivations one short", edit: func(m map[string]any) { m["derivations"] = m["derivations"].([]any)[1:] }, field: "derivations", substr: "2, one per coin wanted (3)"},
		{name: "derivation branch 2", edit: derivation(1, map[string]any{"branch": 2, "index": 1}), field: "derivations[1]", substr: "2/1 is not a receive (0) or change (1)"},
		{name: "derivation index hardened", edit: derivation(2, map[string]any{"branch": 0, "index": uint32(1 << 31)}), field: "derivations[2]", substr: "below 2^31"},
		{name: "derivation unknown field", edit: derivation(0, map[string]any{"branch": 0, "index": 1, "path": "m/0/1"}), field: "proof", substr: "unknown field"},
		{name: "signers empty", edit: with("signers", []any{}), field: "signers", substr: "0 signers"},
		{name: "signer fingerprint short", edit: with("signers", []any{map[string]any{"fingerprint": "abc"}}), field: "signers[0].fingerprint", substr: "8 lowercase hex"},
		{name: "signer twice", edit: with("signers", []any{map[string]any{"fingerprint": "0000000a"}, map[string]any{"fingerprint": "0000000a"}}), field: "signers[1].fingerprint", substr: "twice"},
		{name: "signer unknown field", edit: with("signers", []any{map[string]any{"fingerprint": "0000000a", "key": "x"}}), field: "proof", substr: "unknown field"},
		{name: "descriptor empty", edit: with("descriptor", ""), field: "descriptor", substr: "omit it"},
		{name: "tx not hex", edit: with("tx", "zz"), field: "tx", substr: "not lowercase hex"},
		{name: "tx trailing bytes", edit: func(m map[string]any) { m["tx"] = m["tx"].(string) + "00" }, field: "tx", substr: "after the transaction"},
		{name: "psbt not base64", edit: with("psbt", "!!"), field: "psbt", substr: "not base64"},
		{name: "psbt null", edit: with("psbt", nil), field: "psbt", substr: "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range base {
				m[k] = v
			}
			if tc.edit != nil {
				tc.edit(m)
			}
			b, err := json.Marshal(m)
			require.NoError(t, err)
			if tc.raw != nil {
				b = tc.raw(b)
			}
			_, err = Parse(b)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			requireInvalid(t, err, tc.field, tc.substr)
		})
	}
}

// TestParseTxNotThePSBTs refuses a file whose tx is another transaction
// than its PSBT's final one.
func TestParseTxNotThePSBTs(t *testing.T) {
	_, f, _ := validProof(t)
	f.Tx.LockTime = 1
	b, err := Marshal(f)
	require.NoError(t, err)
	_, err = Parse(b)
	requireInvalid(t, err, "tx", "not the PSBT's final transaction")
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	t.Run("valid", func(t *testing.T) {
		fx, f, _ := validProof(t)
		r, err := Verify(ctx, f, fx.c, Options{})
		require.NoError(t, err)
		require.Equal(t, int64(6e8), r.TotalSat)
		require.Equal(t, 3, r.Coins)
		require.Equal(t, 1, r.UnspentNow, "a[1] and a[2] were spent after height 2")
	})
	t.Run("total overstated", func(t *testing.T) {
		fx, f, _ := validProof(t)
		f.TotalSat++
		_, err := Verify(ctx, f, fx.c, Options{})
		requireInvalid(t, err, "total_sat", "the proof states 600000001 sat, its coins hold 600000000 sat")
	})
	t.Run("message changed after signing", func(t *testing.T) {
		fx, f, _ := validProof(t)
		f.Message = "Reserve audit 2025-07-01"
		_, err := Verify(ctx, f, fx.c, Options{})
		requireInvalid(t, err, "input[0]", "not output 0 of the BIP-322 to_spend")
	})
	t.Run("signer not of the descriptor", func(t *testing.T) {
		fx, f, _ := validProof(t)
		f.Signers = append(f.Signers, Signer{Fingerprint: "0badf00d"})
		_, err := Verify(ctx, f, fx.c, Options{})
		requireInvalid(t, err, "signers", "the file lists 0badf00d, ")
	})
	t.Run("a coin spent before the height", func(t *testing.T) {
		fx, f, _ := validProof(t)
		f.Height, f.BlockHash = 4, fx.c.blocks[4].BlockHash()
		_, err := Verify(ctx, f, fx.c, Options{})
		requireInvalid(t, err, "input[2]", "was spent at height 3, before the proof's height 4")
	})
}
