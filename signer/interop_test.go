package signer_test

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// coreTestdata is where the multisig package keeps what Bitcoin Core and
// Electrum wrote for the known 2-of-3 (multisig/testdata/core/README.md).
const coreTestdata = "../multisig/testdata/"

// coreWalletText is the known 2-of-3 as a descriptor with both branches,
// from the key records of Core's getdescriptorinfo.
func coreWalletText(t *testing.T) string {
	t.Helper()
	info, err := os.ReadFile(coreTestdata + "core/descriptor-info.json")
	require.NoError(t, err)
	var keys []reserve.Cosigner
	for _, rec := range regexp.MustCompile(`\[[0-9a-f]{8}(/[0-9]+')+\]tpub[1-9A-HJ-NP-Za-km-z]+`).FindAllString(string(info), 3) {
		c, err := multisig.ParseKeyRecord(rec, reserve.Regtest)
		require.NoError(t, err)
		keys = append(keys, c)
	}
	require.Len(t, keys, 3)
	return MustDescriptor(t, reserve.Regtest, 2, keys...)
}

// readPSBTFile parses a base64 PSBT of the multisig testdata.
func readPSBTFile(t *testing.T, name string) *psbt.Packet {
	t.Helper()
	text, err := os.ReadFile(coreTestdata + name)
	require.NoError(t, err)
	p, err := multisig.ParsePSBT(text)
	require.NoError(t, err)
	return p
}

// TestSignPSBTOfAnotherTool: custos-signer signs a PSBT whose records
// Bitcoin Core wrote (createpsbt + walletprocesspsbt on a watch-only
// descriptor wallet of the same 2-of-3), once the officers' approvals are
// added: its own key is found through Core's derivation records, the
// signature verifies, and Core's records come out as they went in.
func TestSignPSBTOfAnotherTool(t *testing.T) {
	dir := t.TempDir()
	rec, err := signer.Restore(dir, testConfig(), mnemonicAbout, testPassphrase)
	require.NoError(t, err)
	require.Equal(t, uint32(0x73c5da0a), rec.Fingerprint)
	key := MustUnlock(t, dir)
	defer key.Zero()
	reg, err := signer.Register(dir, key, coreWalletText(t), false)
	require.NoError(t, err)
	pinned, err := signer.LoadPinned(dir, key)
	require.NoError(t, err)
	// Core's payee, allowlisted: two approvals.
	pin, err := signer.PinPolicy(dir, key, signertest.PolicyYAML(signertest.Officers(), "bcrt1qpjva5cc4ycxlve0tlf6jptpry3l7urtvtpj6qt"), nil)
	require.NoError(t, err)
	rules, err := signer.LoadRules(dir, signer.Limits{}, signertest.Now)
	require.NoError(t, err)

	core := readPSBTFile(t, "core/core-made.psbt.b64")
	p := readPSBTFile(t, "core/core-made.psbt.b64")
	signertest.MustApprove(t, p, reg.Descriptor, pin.Policy.Hash(), signertest.Alice(), signertest.Bob())
	s, n, err := signer.Sign(p, pinned, key, rules)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, s.Change, 1, "Core's change output is the wallet's change")
	require.Len(t, s.Payees, 1)

	// The signature is good: the coordinator's combiner takes it into
	// Core's own PSBT, from this signer's key.
	refs, err := multisig.CombinePSBT(core, p, reg.Descriptor, 0)
	require.NoError(t, err)
	require.Equal(t, []multisig.SigRef{{Input: 0, Cosigner: pinned.Position}}, refs)
	// Core's records are untouched.
	again := readPSBTFile(t, "core/core-made.psbt.b64")
	require.Equal(t, derivationBytes(again.Inputs[0].Bip32Derivation), derivationBytes(p.Inputs[0].Bip32Derivation))
	require.Equal(t, derivationBytes(again.Outputs[0].Bip32Derivation), derivationBytes(p.Outputs[0].Bip32Derivation))
	require.Equal(t, again.Inputs[0].WitnessScript, p.Inputs[0].WitnessScript)
}

// derivationBytes flattens derivation records for comparison.
func derivationBytes(ds []*psbt.Bip32Derivation) [][]byte {
	var out [][]byte
	for _, d := range ds {
		var b bytes.Buffer
		b.Write(d.PubKey)
		for _, v := range append([]uint32{d.MasterKeyFingerprint}, d.Bip32Path...) {
			b.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
		}
		out = append(out, b.Bytes())
	}
	return out
}
