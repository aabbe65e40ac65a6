package signer_test

import (
	"bytes"
	"math/bits"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// mnemonicLegal is the third ministry's fixed mnemonic (a BIP-39 test
// vector, entropy 7f7f…7f).
const mnemonicLegal = "legal winner thank year wave sausage worth useful legal winner thank yellow"

// Amounts of the fixture spend: three wallet coins of 1.25 BTC in all, one
// payee of 0.7 BTC, the rest minus the fee back to change index 3.
const (
	coinA       int64 = 60_000_000 // receive/0
	coinB       int64 = 40_000_000 // receive/5
	coinC       int64 = 25_000_000 // change/2
	payeeSat    int64 = 70_000_000
	changeIndex       = uint32(3)
	normalFee   int64 = 20_000
)

// ministry is one signer made by this package: its data dir and key, and
// the rules it signs by (the pinned policy, its ledger, the test clock).
type ministry struct {
	dir    string
	key    *signer.Key
	rec    reserve.Cosigner
	pinned *signer.Pinned
	rules  signer.Rules
}

// walletFixture is a 2-of-3 wallet of three signers restored from fixed
// mnemonics with cheap KDF parameters, each with the wallet registered
// and the test policy pinned (signertest.PolicyYAML: officers alice, bob
// and carol, the fixture's payee allowlisted, so its 0.7 BTC needs two
// approvals). m[0] ("abandon … art") is the signer under test.
type walletFixture struct {
	m      [3]*ministry
	desc   *multisig.Descriptor
	policy *reserve.Policy
}

func newWalletFixture(tb testing.TB) *walletFixture {
	tb.Helper()
	f := &walletFixture{}
	for i, mn := range []string{mnemonicArt, mnemonicAbout, mnemonicLegal} {
		dir := tb.TempDir()
		rec, err := signer.Restore(dir, testConfig(), mn, testPassphrase)
		require.NoError(tb, err)
		key, err := signer.Unlock(dir, testPassphrase)
		require.NoError(tb, err)
		tb.Cleanup(key.Zero)
		f.m[i] = &ministry{dir: dir, key: key, rec: rec}
	}
	text := MustDescriptor(tb, reserve.Regtest, 2, f.m[0].rec, f.m[1].rec, f.m[2].rec)
	policy := signertest.PolicyYAML(signertest.Officers(), payeeAddress(tb))
	for _, m := range f.m {
		reg, err := signer.Register(m.dir, m.key, text, false)
		require.NoError(tb, err)
		m.pinned, err = signer.LoadPinned(m.dir, m.key)
		require.NoError(tb, err)
		f.desc = reg.Descriptor
		pin, err := signer.PinPolicy(m.dir, m.key, policy, nil)
		require.NoError(tb, err)
		f.policy = pin.Policy
		m.rules, err = signer.LoadRules(m.dir, signer.Limits{}, signertest.Now)
		require.NoError(tb, err)
	}
	return f
}

// us is the signer under test.
func (f *walletFixture) us() *ministry { return f.m[0] }

// approve sets alice's and bob's approvals of p's payment on p, and
// returns the intent.
func (f *walletFixture) approve(tb testing.TB, p *psbt.Packet) *reserve.Intent {
	tb.Helper()
	return signertest.MustApprove(tb, p, f.desc, f.policy.Hash(), signertest.Alice(), signertest.Bob())
}

// approved is the fixture spend with fee feeSat, approved by alice and
// bob.
func (f *walletFixture) approved(tb testing.TB, s *spend, feeSat int64) *psbt.Packet {
	tb.Helper()
	p := s.create(tb, feeSat)
	f.approve(tb, p)
	return p
}

// withLimits is r with the fee ceilings lim.
func withLimits(r signer.Rules, lim signer.Limits) signer.Rules {
	r.Limits = lim
	return r
}

// spend is a set of coins of one wallet and the previous transactions that
// made them.
type spend struct {
	d      *multisig.Descriptor
	prevs  map[chainhash.Hash]*wire.MsgTx
	inputs []reserve.Input
}

// newSpend makes two previous transactions paying d's receive/0, receive/5
// (plus an output to someone else) and change/2.
func newSpend(tb testing.TB, d *multisig.Descriptor) *spend {
	tb.Helper()
	s := &spend{d: d, prevs: map[chainhash.Hash]*wire.MsgTx{}}
	tx1 := prevTx(1,
		wire.NewTxOut(coinA, MustDerive(tb, d, reserve.BranchReceive, 0).PkScript),
		wire.NewTxOut(5_000, payeeScript(tb)),
		wire.NewTxOut(coinB, MustDerive(tb, d, reserve.BranchReceive, 5).PkScript))
	tx2 := prevTx(2, wire.NewTxOut(coinC, MustDerive(tb, d, reserve.BranchChange, 2).PkScript))
	s.prevs[tx1.TxHash()], s.prevs[tx2.TxHash()] = tx1, tx2
	s.inputs = []reserve.Input{
		{OutPoint: wire.OutPoint{Hash: tx1.TxHash(), Index: 0}, AmountSat: coinA, Branch: reserve.BranchReceive, Index: 0},
		{OutPoint: wire.OutPoint{Hash: tx1.TxHash(), Index: 2}, AmountSat: coinB, Branch: reserve.BranchReceive, Index: 5},
		{OutPoint: wire.OutPoint{Hash: tx2.TxHash(), Index: 0}, AmountSat: coinC, Branch: reserve.BranchChange, Index: 2},
	}
	return s
}

// create builds the PSBT spending s.inputs, paying payeeSat to
// payeeScript and the rest less feeSat to change index 3, as the
// coordinator would.
func (s *spend) create(tb testing.TB, feeSat int64) *psbt.Packet {
	tb.Helper()
	change := -payeeSat - feeSat
	for _, in := range s.inputs {
		change += in.AmountSat
	}
	idx := changeIndex
	p, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: s.d,
		Inputs:     s.inputs,
		PrevTxs:    s.prevs,
		Outputs: []multisig.Output{
			{Script: payeeScript(tb), AmountSat: payeeSat},
			{Script: MustDerive(tb, s.d, reserve.BranchChange, changeIndex).PkScript, AmountSat: change, ChangeIndex: &idx},
		},
	})
	require.NoError(tb, err)
	return p
}

func prevTx(seed byte, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{seed}, Index: 7}, nil, nil))
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	return tx
}

// payeeScript is an external P2WPKH output of a fixed key.
func payeeScript(tb testing.TB) []byte {
	tb.Helper()
	_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(tb, err)
	script, err := txscript.PayToAddrScript(addr)
	require.NoError(tb, err)
	return script
}

func payeeAddress(tb testing.TB) string {
	tb.Helper()
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(payeeScript(tb), &chaincfg.RegressionNetParams)
	require.NoError(tb, err)
	return addrs[0].EncodeAddress()
}

func MustDerive(tb testing.TB, d *multisig.Descriptor, b reserve.Branch, i uint32) multisig.Derived {
	tb.Helper()
	der, err := d.Derive(b, i)
	require.NoError(tb, err)
	return der
}

func MustSerialize(tb testing.TB, p *psbt.Packet) []byte {
	tb.Helper()
	b, err := multisig.SerializePSBT(p)
	require.NoError(tb, err)
	return b
}

// MustClone copies p through its serialization.
func MustClone(tb testing.TB, p *psbt.Packet) *psbt.Packet {
	tb.Helper()
	c, err := multisig.ParsePSBT(MustSerialize(tb, p))
	require.NoError(tb, err)
	return c
}

// globalXPub is c as a PSBT_GLOBAL_XPUB entry.
func globalXPub(tb testing.TB, c reserve.Cosigner) psbt.XPub {
	tb.Helper()
	k, err := hdkeychain.NewKeyFromString(c.XPub)
	require.NoError(tb, err)
	// btcutil/psbt writes MasterKeyFingerprint little-endian; BIP-174
	// wants the key record's bytes in order.
	return psbt.XPub{ExtendedKey: psbt.EncodeExtendedKey(k), MasterKeyFingerprint: bits.ReverseBytes32(c.Fingerprint), Bip32Path: c.Path}
}
