package multisig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// fuzzNetwork maps any byte to one of the four networks.
func fuzzNetwork(b byte) reserve.Network { return reserve.Network(b%4 + 1) }

// fuzzRecords are key records from the vectors and the fixed test seeds.
func fuzzRecords(tb testing.TB) []string {
	tb.Helper()
	var b129 bip129File
	MustReadJSON(tb, "bip129_vectors.json", &b129)
	var known knownWallets
	MustReadJSON(tb, "known_wallets.json", &known)
	var out []string
	for _, w := range b129.Wallets {
		out = append(out, w.Keys...)
	}
	for _, k := range b129.RefusedKeys {
		out = append(out, k.Key)
	}
	for _, a := range known.Accounts {
		out = append(out, a.Record)
	}
	for _, c := range MustCosigners(tb, reserve.Regtest, 3) {
		out = append(out, FormatKeyRecord(c))
	}
	return out
}

// FuzzParseKeyRecord checks that ParseKeyRecord never panics and that
// whatever it accepts formats and parses back to the same cosigner.
func FuzzParseKeyRecord(f *testing.F) {
	for _, rec := range fuzzRecords(f) {
		for net := range byte(4) {
			f.Add(rec, net)
		}
		f.Add(strings.Replace(rec, "'", "h", 2), byte(0))
		f.Add(rec+"/<0;1>/*", byte(3))
	}
	f.Add("[d34db33f]", byte(0))
	f.Add("", byte(0))
	f.Fuzz(func(t *testing.T, s string, netByte byte) {
		net := fuzzNetwork(netByte)
		c, err := ParseKeyRecord(s, net)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "error %q", err)
			return
		}
		text := FormatKeyRecord(c)
		back, err := ParseKeyRecord(text, net)
		require.NoError(t, err, "re-parsing %q (from %q)", text, s)
		require.Equal(t, c, back)
		require.Equal(t, text, FormatKeyRecord(back))
	})
}

// FuzzParseDescriptor checks that ParseDescriptor never panics and that
// whatever it accepts prints and parses back to the same descriptor.
func FuzzParseDescriptor(f *testing.F) {
	var b129 bip129File
	MustReadJSON(f, "bip129_vectors.json", &b129)
	for _, w := range b129.Wallets {
		f.Add(strings.ReplaceAll(w.BSMSDescriptor, "/**", multipathTail), byte(0))
		f.Add(w.BSMSDescriptor, byte(0))
	}
	var known knownWallets
	MustReadJSON(f, "known_wallets.json", &known)
	for _, w := range known.Wallets {
		f.Add(w.ReceiveDescriptor, byte(1))
	}
	d := MustDescriptor(f, reserve.Regtest, 2, 3)
	f.Add(d.String(), byte(3))
	f.Add(strings.Split(d.String(), "#")[0], byte(3))
	f.Add(d.BranchString(reserve.BranchChange), byte(3))
	f.Add(MustDescriptor(f, reserve.Regtest, 1, 1).String(), byte(3))
	f.Add("wsh(sortedmulti(1))", byte(3))
	f.Fuzz(func(t *testing.T, s string, netByte byte) {
		net := fuzzNetwork(netByte)
		d, err := ParseDescriptor(s, net)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "error %q", err)
			return
		}
		back, err := ParseDescriptor(d.String(), net)
		require.NoError(t, err, "re-parsing %q (from %q)", d.String(), s)
		require.Equal(t, d.String(), back.String())
		require.Equal(t, d.Cosigners(), back.Cosigners())
		require.Equal(t, d.Threshold(), back.Threshold())
		require.Equal(t, d.WalletID(), back.WalletID())
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			_, err := splitChecksum(d.BranchString(b))
			require.NoError(t, err)
		}
		got, err := d.Derive(reserve.BranchReceive, 0)
		require.NoError(t, err)
		want, err := back.Derive(reserve.BranchReceive, 0)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}
