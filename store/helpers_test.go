package store_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// fixedNow is the clock every test store uses, so records compare exactly.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// MustOpen opens a fresh store in a temporary directory with a fixed clock
// and closes it when the test ends.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "custos.db"))
}

// MustOpenPath opens the store at path and closes it when the test ends.
func MustOpenPath(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.Open(path, store.Options{Now: func() time.Time { return fixedNow }})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	return db
}

// testScript is a P2WSH-shaped script unique to a branch and index.
func testScript(branch reserve.Branch, index uint32) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "custos test script %d/%d", branch, index))
	return append([]byte{0x00, 0x20}, h[:]...)
}

func testAddress(branch reserve.Branch, index uint32) reserve.Address {
	return reserve.Address{
		Branch:    branch,
		Index:     index,
		Address:   fmt.Sprintf("bcrt1qtest%d%04d", branch, index),
		Script:    testScript(branch, index),
		CreatedAt: fixedNow,
	}
}

// testLookahead is n receive and n change addresses from index 0.
func testLookahead(n uint32) []reserve.Address {
	var out []reserve.Address
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		for i := uint32(0); i < n; i++ {
			out = append(out, testAddress(b, i))
		}
	}
	return out
}

func testWallet() reserve.Wallet {
	return reserve.Wallet{
		ID:        "custos-test-wallet",
		Name:      "Test reserve",
		Network:   reserve.Regtest,
		Threshold: 2,
		Cosigners: []reserve.Cosigner{
			{Fingerprint: 0x11111111, Path: []uint32{48 | 1<<31, 1 | 1<<31, 0 | 1<<31, 2 | 1<<31}, XPub: "tpubministryone"},
			{Fingerprint: 0x22222222, Path: []uint32{48 | 1<<31, 1 | 1<<31, 0 | 1<<31, 2 | 1<<31}, XPub: "tpubministrytwo"},
			{Fingerprint: 0x33333333, Path: []uint32{48 | 1<<31, 1 | 1<<31, 0 | 1<<31, 2 | 1<<31}, XPub: "tpubministrythree"},
		},
		Descriptor:     "wsh(sortedmulti(2,[11111111/48'/1'/0'/2']tpubministryone/<0;1>/*,...))#testtest",
		GapLimit:       reserve.DefaultGapLimit,
		BirthdayHeight: 1,
		CreatedAt:      fixedNow,
	}
}

// MustWallet opens a fresh store holding the test wallet with 5 receive
// and 5 change addresses.
func MustWallet(tb testing.TB) *store.DB {
	tb.Helper()
	db := MustOpen(tb)
	require.NoError(tb, db.CreateWallet(context.Background(), testWallet(), testLookahead(5)))
	return db
}

// testTx is a transaction paying the given amounts to the given scripts;
// seed makes its txid unique.
func testTx(seed uint32, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	prev := chainhash.HashH(binary.BigEndian.AppendUint32(nil, seed))
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, [][]byte{{0x01}, {0x02}}))
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	tx.LockTime = seed
	return tx
}

// wireOut is an output paying amount to script.
func wireOut(amount int64, script []byte) *wire.TxOut { return wire.NewTxOut(amount, script) }

// credit is the UTXO for output vout of tx, paying address branch/index.
func credit(tx *wire.MsgTx, vout uint32, branch reserve.Branch, index uint32) reserve.UTXO {
	return reserve.UTXO{
		OutPoint:  wire.OutPoint{Hash: tx.TxHash(), Index: vout},
		AmountSat: tx.TxOut[vout].Value,
		Script:    tx.TxOut[vout].PkScript,
		Branch:    branch,
		Index:     index,
	}
}

// blockHash is a made-up block hash for a height and a fork tag.
func blockHash(height int32, fork string) chainhash.Hash {
	return chainhash.HashH(fmt.Appendf(nil, "block %d %s", height, fork))
}

// requireCode checks that err is a *reserve.Error with the given code.
func requireCode(tb testing.TB, err error, code reserve.Code) {
	tb.Helper()
	require.Error(tb, err)
	var re *reserve.Error
	require.ErrorAs(tb, err, &re, "want a *reserve.Error, got %T: %v", err, err)
	require.Equal(tb, code, re.Code, "error: %v", err)
}

// mustBalance returns the balance at the store's tip.
func mustBalance(tb testing.TB, db *store.DB) reserve.Balance {
	tb.Helper()
	ctx := context.Background()
	utxos, err := db.UTXOs(ctx, true)
	require.NoError(tb, err)
	tip, _, _, err := db.SyncTip(ctx)
	require.NoError(tb, err)
	return reserve.BalanceOf(utxos, tip)
}

// testOfficerIDs are the officers of testPolicy, in order; officer i holds
// testOfficerKey(i).
var testOfficerIDs = []string{"alice", "bob", "carol"}

// testOfficerKey is officer i's Ed25519 key, from the fixed seed of 32
// bytes of i+1 (the seeds reserve's policy tests use).
func testOfficerKey(i int) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
}

// testPolicy is a valid policy document (docs/policy.md) of the officers
// testOfficerIDs. expiry is its proposal_expiry, so policies of different
// expiries have different hashes; entries lists that many allowlist
// entries, to make a large document.
func testPolicy(expiry string, entries int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nofficers:\n")
	for i, id := range testOfficerIDs {
		fmt.Fprintf(&b, "  - id: %s\n    name: Officer %s\n    key: ed25519:%x\n", id, id, testOfficerKey(i).Public())
	}
	b.WriteString("tiers:\n  - up_to: \"1\"\n    approvals: 2\n    cool_off: 0s\n")
	b.WriteString("  - up_to: unlimited\n    approvals: all\n    cool_off: 24h\n")
	b.WriteString("allowlist:\n  unlisted: extra_approval\n  add_delay: 48h\n")
	if entries > 0 {
		b.WriteString("  entries:\n")
	}
	for i := range entries {
		fmt.Fprintf(&b, "    - address: bcrt1qallowlisted%08d\n      label: Payee number %d\n      added: 2026-01-01T00:00:00Z\n", i, i)
	}
	b.WriteString("fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\n")
	fmt.Fprintf(&b, "proposal_expiry: %s\nunfreeze_approvals: 2\n", expiry)
	return []byte(b.String())
}

// mustPolicyHash is the hash of the policy text.
func mustPolicyHash(tb testing.TB, text []byte) [32]byte {
	tb.Helper()
	p, err := reserve.ParsePolicy(text)
	require.NoError(tb, err)
	return p.Hash()
}

// testIntent is the intent of testProposal's payment under policy 168h,
// for the test wallet; CreateProposal fills its proposal id.
func testIntent(tb testing.TB) *reserve.Intent {
	tb.Helper()
	return &reserve.Intent{
		Network:    reserve.Regtest,
		WalletID:   testWallet().ID,
		PolicyHash: mustPolicyHash(tb, testPolicy("168h", 0)),
		Payees:     []reserve.IntentPayee{{Script: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x77}, 20)...), AmountSat: btc / 2}},
		FeeCapSat:  50_000,
		ExpiresAt:  time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC),
	}
}

// mustDecide is officer i's signed decision on in, made at fixedNow.
func mustDecide(tb testing.TB, in *reserve.Intent, i int, d reserve.Decision) reserve.OfficerDecision {
	tb.Helper()
	a, err := reserve.SignIntent(in, d, testOfficerKey(i))
	require.NoError(tb, err)
	require.NoError(tb, reserve.VerifyApproval(in, d, a))
	return reserve.OfficerDecision{Officer: testOfficerIDs[i], Decision: d, Approval: a, At: fixedNow}
}
