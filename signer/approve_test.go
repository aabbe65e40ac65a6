package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
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

// freshRules are f's policy with a new, empty ledger (in a copy of the
// signer under test's data directory) and the test clock.
func freshRules(t *testing.T, f *walletFixture) signer.Rules {
	t.Helper()
	l, err := signer.OpenLedger(MustStateDir(t, f.us().dir, nil))
	require.NoError(t, err)
	return signer.Rules{Policy: f.policy, Ledger: l, Now: signertest.Now}
}

// ledgerBytes is the ledger file as it is on disk; nil when there is none.
func ledgerBytes(t *testing.T, l *signer.Ledger) []byte {
	t.Helper()
	data, err := os.ReadFile(l.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	return data
}

func MustEntries(t *testing.T, l *signer.Ledger) []signer.LedgerEntry {
	t.Helper()
	entries, err := l.Entries()
	require.NoError(t, err)
	return entries
}

// MustDigest is in's approve digest.
func MustDigest(t *testing.T, in *reserve.Intent) [32]byte {
	t.Helper()
	d, err := in.Digest(reserve.DecisionApprove)
	require.NoError(t, err)
	return d
}

// otherScript is a P2WPKH output script of the fixed key seed × 32, and
// its address.
func otherScript(t *testing.T, seed byte) ([]byte, string) {
	t.Helper()
	_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	script, err := txscript.PayToAddrScript(addr)
	require.NoError(t, err)
	return script, addr.EncodeAddress()
}

// approvalField is the Custos approval field of officer o in p.
func approvalField(t *testing.T, p *psbt.Packet, o signertest.Officer) *psbt.Unknown {
	t.Helper()
	k := o.PublicKey()
	key := append([]byte{0xfc, byte(len(multisig.ProprietaryID))}, multisig.ProprietaryID...)
	key = append(append(key, multisig.PropApproval), k[:]...)
	for _, u := range p.Unknowns {
		if bytes.Equal(u.Key, key) {
			return u
		}
	}
	t.Fatalf("no approval by %s in the PSBT", o.ID)
	return nil
}

// entryFor is a ledger entry for the intent of digest, signed at, spending
// ins.
func entryFor(digest [32]byte, txSeed byte, amount int64, at time.Time, ins ...wire.OutPoint) signer.LedgerEntry {
	return signer.LedgerEntry{
		IntentDigest: digest,
		ProposalID:   "P000000",
		PolicyHash:   [32]byte{0xaa},
		TxID:         chainhash.Hash{txSeed},
		Inputs:       ins,
		AmountSat:    amount,
		SignedAt:     at,
	}
}

// TestSignApprovalRefusals: one tampered or unapproved PSBT, or one
// ledger state, per row. Each must be refused with a message naming the
// problem, with no signature added, the PSBT as it was and the ledger
// unchanged.
func TestSignApprovalRefusals(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	alice, bob, dave := signertest.Alice(), signertest.Bob(), signertest.Dave()
	now := signertest.Now()
	strangerScript, strangerAddr := otherScript(t, 0x43)
	// A policy of another reserve, where dave is an officer.
	otherPolicy := signertest.MustParsePolicy(t, signertest.PolicyYAML([]signertest.Officer{alice, dave}, payeeAddress(t)))
	// An outpoint of no transaction this wallet made.
	elsewhere := wire.OutPoint{Hash: chainhash.Hash{0x99}, Index: 1}
	otherIntent := [32]byte{0x11}

	tests := []struct {
		name string
		fee  int64
		// prepare approves (or not) and tampers with the fixture's
		// unapproved spend; it returns the approved intent, if any.
		prepare func(t *testing.T, p *psbt.Packet) *reserve.Intent
		// ledger plants entries before signing; in is prepare's intent.
		ledger func(in *reserve.Intent, p *psbt.Packet) []signer.LedgerEntry
		now    time.Time
		want   []string
		is     error
		code   reserve.Code
	}{
		{
			name:    "no approvals",
			prepare: func(*testing.T, *psbt.Packet) *reserve.Intent { return nil },
			want:    []string{"this PSBT carries no officer approvals (no custos intent)"},
			is:      signer.ErrNotApproved,
			code:    reserve.CodeFailedPrecondition,
		},
		{
			name: "one short of quorum",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice)
			},
			want: []string{"1 of 2 approvals needed for proposal P000001 under the pinned policy: approved by alice"},
			is:   signer.ErrNotApproved,
			code: reserve.CodeFailedPrecondition,
		},
		{
			name: "intent without any approval",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash())
			},
			want: []string{"0 of 2 approvals needed for proposal P000001 under the pinned policy: approved by nobody"},
			is:   signer.ErrNotApproved,
			code: reserve.CodeFailedPrecondition,
		},
		{
			name: "unlisted payee needs a third approval",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				p.UnsignedTx.TxOut[0].PkScript = strangerScript
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			want: []string{"2 of 3 approvals needed for proposal P000001", "approved by alice, bob"},
			is:   signer.ErrNotApproved,
			code: reserve.CodeFailedPrecondition,
		},
		{
			name: "forged signature",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
				approvalField(t, p, alice).Value[10] ^= 0x01
				return in
			},
			want: []string{"approvals[1]: officer alice: approval signature does not verify"},
			is:   reserve.ErrBadApprovalSignature,
			code: reserve.CodeInvalid,
		},
		{
			name: "an officer of another policy",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, dave)
			},
			want: []string{"under the pinned policy ", "key " + hex.EncodeToString(dave.Key.Public().(ed25519.PublicKey)) + " is not an officer of policy"},
			code: reserve.CodeInvalid,
		},
		{
			name: "approved under another policy",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, otherPolicy.Hash(), alice, dave)
			},
			want: []string{"intent.policy_hash: approvals are under policy " + hex.EncodeToString(hashOf(otherPolicy)) +
				", this policy is " + hex.EncodeToString(hashOf(f.policy))},
			code: reserve.CodeInvalid,
		},
		{
			name: "one officer counted twice",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustApprove(t, p, f.desc, f.policy.Hash(), bob)
				twice := *approvalField(t, p, bob)
				p.Unknowns = append(p.Unknowns, &twice)
				return in
			},
			want: []string{"psbt.custos: field fc06637573746f7301" + hex.EncodeToString(bob.Key.Public().(ed25519.PublicKey)) + " appears twice"},
			code: reserve.CodeInvalid,
		},
		{
			name: "approvals for another proposal",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustIntent(t, p, f.desc, f.policy.Hash())
				other := *in
				other.ProposalID = "P000002"
				signertest.MustSetApprovals(t, p, &other, alice, bob)
				// The same signatures, now beside proposal P000001.
				_, approvals, err := multisig.ReadApprovals(p)
				require.NoError(t, err)
				require.NoError(t, multisig.SetApprovals(p, in, approvals))
				return in
			},
			want: []string{"approvals[0]: officer bob: approval signature does not verify"},
			is:   reserve.ErrBadApprovalSignature,
			code: reserve.CodeInvalid,
		},
		{
			name: "approvals for another wallet",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustIntent(t, p, f.desc, f.policy.Hash())
				in.WalletID = "0123456789abcdef"
				signertest.MustSetApprovals(t, p, in, alice, bob)
				return in
			},
			want: []string{"intent: the approvals are for wallet 0123456789abcdef on regtest, this signer's wallet is " + f.desc.WalletID()},
			code: reserve.CodeInvalid,
		},
		{
			name: "payee amount changed after approval",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
				p.UnsignedTx.TxOut[0].Value -= 1_000_000
				p.UnsignedTx.TxOut[1].Value += 1_000_000
				return in
			},
			want: []string{"the transaction is not the payment the officers approved for proposal P000001: output[0]: pays 0.69000000 BTC to " +
				payeeAddress(t) + ", which the approved intent does not"},
			code: reserve.CodeInvalid,
		},
		{
			name: "payee address changed after approval",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
				p.UnsignedTx.TxOut[0].PkScript = strangerScript
				return in
			},
			want: []string{"output[0]: pays 0.70000000 BTC to " + strangerAddr + ", which the approved intent does not"},
			code: reserve.CodeInvalid,
		},
		{
			name: "an extra payee",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
				p.UnsignedTx.TxOut[1].Value -= 1_000_000
				p.UnsignedTx.AddTxOut(wire.NewTxOut(1_000_000, strangerScript))
				p.Outputs = append(p.Outputs, psbt.POutput{})
				return in
			},
			want: []string{"output[2]: pays 0.01000000 BTC to " + strangerAddr + ", which the approved intent does not"},
			code: reserve.CodeInvalid,
		},
		{
			name: "fee over the approved cap",
			fee:  signertest.FeeCapSat + 10_000,
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			want: []string{"fee: fee 0.00060000 BTC is over the approved cap of 0.00050000 BTC"},
			code: reserve.CodeInvalid,
		},
		{
			name: "expired intent",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			now:  now.Add(7 * 24 * time.Hour),
			want: []string{"intent.expires_at: the intent expired at 2026-12-08T12:00:00Z"},
			code: reserve.CodeInvalid,
		},
		{
			name: "intent dated to expire a year from now",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustIntent(t, p, f.desc, f.policy.Hash())
				in.ExpiresAt = now.AddDate(1, 0, 0)
				signertest.MustSetApprovals(t, p, in, alice, bob)
				return in
			},
			want: []string{"intent.expires_at: the intent expires at 2027-12-01T12:00:00Z, later than the policy's proposal expiry of 168h0m0s from now"},
			code: reserve.CodeInvalid,
		},
		{
			name: "intent for another network",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				in := signertest.MustIntent(t, p, f.desc, f.policy.Hash())
				in.Network = reserve.Testnet
				signertest.MustSetApprovals(t, p, in, alice, bob)
				return in
			},
			want: []string{"intent: the approvals are for wallet " + f.desc.WalletID() + " on testnet, this signer's wallet is " + f.desc.WalletID() + " on regtest"},
			code: reserve.CodeInvalid,
		},
		{
			name: "a second transaction for a signed intent, spending other coins",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			ledger: func(in *reserve.Intent, _ *psbt.Packet) []signer.LedgerEntry {
				return []signer.LedgerEntry{entryFor(MustDigest(t, in), 0x01, payeeSat, now.Add(-time.Hour), elsewhere)}
			},
			want: []string{"already signed transaction " + chainhash.Hash{0x01}.String() +
				" for this intent (proposal P000000) at 2026-12-01T11:00:00Z; a second one spending other coins could pay twice"},
			is:   signer.ErrSignedOther,
			code: reserve.CodeConflict,
		},
		{
			name: "a third transaction conflicting with only one of two signed",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			ledger: func(in *reserve.Intent, p *psbt.Packet) []signer.LedgerEntry {
				d := MustDigest(t, in)
				return []signer.LedgerEntry{
					entryFor(d, 0x01, payeeSat, now.Add(-2*time.Hour), p.UnsignedTx.TxIn[0].PreviousOutPoint),
					entryFor(d, 0x02, payeeSat, now.Add(-time.Hour), elsewhere),
				}
			},
			want: []string{"already signed transaction " + chainhash.Hash{0x02}.String() + " for this intent"},
			is:   signer.ErrSignedOther,
			code: reserve.CodeConflict,
		},
		{
			name: "velocity: a day's cap exceeded",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			ledger: func(*reserve.Intent, *psbt.Packet) []signer.LedgerEntry {
				// 1 BTC (signed twice: a fee bump, counted once) and
				// 0.5 BTC today, 0.7 BTC now: 2.2 BTC over a 2 BTC cap.
				return []signer.LedgerEntry{
					entryFor(otherIntent, 0x01, 100_000_000, now.Add(-3*time.Hour), elsewhere),
					entryFor(otherIntent, 0x02, 100_000_000, now.Add(-2*time.Hour), elsewhere),
					entryFor([32]byte{0x22}, 0x03, 50_000_000, now.Add(-23*time.Hour), elsewhere),
				}
			},
			want: []string{"velocity.per_24h: velocity cap exceeded: 1.50000000 BTC already paid in 24 hours + 0.70000000 BTC in this proposal = 2.20000000 BTC, more than the cap of 2.00000000 BTC",
				"counted from this signer's own ledger"},
			is:   reserve.ErrVelocityExceeded,
			code: reserve.CodeDenied,
		},
		{
			name: "velocity: 30 days' cap exceeded by entries older than a day",
			prepare: func(t *testing.T, p *psbt.Packet) *reserve.Intent {
				return signertest.MustApprove(t, p, f.desc, f.policy.Hash(), alice, bob)
			},
			ledger: func(*reserve.Intent, *psbt.Packet) []signer.LedgerEntry {
				return []signer.LedgerEntry{
					entryFor(otherIntent, 0x01, 450_000_000, now.Add(-29*24*time.Hour), elsewhere),
					// Older than 30 days: not counted.
					entryFor([32]byte{0x22}, 0x02, 450_000_000, now.Add(-31*24*time.Hour), elsewhere),
				}
			},
			want: []string{"velocity.per_30d: velocity cap exceeded: 4.50000000 BTC already paid in 30 days + 0.70000000 BTC in this proposal = 5.20000000 BTC"},
			is:   reserve.ErrVelocityExceeded,
			code: reserve.CodeDenied,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fee := tt.fee
			if fee == 0 {
				fee = normalFee
			}
			p := sp.create(t, fee)
			in := tt.prepare(t, p)
			rules := freshRules(t, f)
			if !tt.now.IsZero() {
				rules.Now = func() time.Time { return tt.now }
			}
			if tt.ledger != nil {
				for _, e := range tt.ledger(in, p) {
					require.NoError(t, rules.Ledger.Append(f.us().key, e))
				}
			}
			before, ledgerBefore := MustSerialize(t, p), ledgerBytes(t, rules.Ledger)

			_, err := signer.Check(p, f.desc, rules)
			require.Error(t, err)
			s, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, tt.code, reserve.CodeOf(err), "%v", err)
			require.Zero(t, n)
			require.Zero(t, s.TxID)
			require.Equal(t, before, MustSerialize(t, p), "a refused PSBT is left as it was")
			for i, in := range p.Inputs {
				require.Empty(t, in.PartialSigs, "input %d", i)
			}
			require.Equal(t, ledgerBefore, ledgerBytes(t, rules.Ledger), "a refusal records nothing")
		})
	}
}

func hashOf(p *reserve.Policy) []byte {
	h := p.Hash()
	return h[:]
}

// TestSignApprovedRecordsInLedger: an approved PSBT signs, its summary
// says who approved, and the ledger gets one line for it; signing it
// again, signed or not, is idempotent and records nothing more.
func TestSignApprovedRecordsInLedger(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	rules := freshRules(t, f)
	p := sp.create(t, normalFee)
	in := f.approve(t, p)
	unsigned := MustClone(t, p)

	s, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, f.policy.Hash(), s.Approved.PolicyHash)
	require.Equal(t, "P000001", s.Approved.Intent.ProposalID)
	require.Equal(t, signertest.FeeCapSat, s.Approved.Intent.FeeCapSat)
	require.Equal(t, signertest.Now().Add(7*24*time.Hour), s.Approved.Intent.ExpiresAt)
	require.Equal(t, []reserve.Officer{f.policy.Officers[0], f.policy.Officers[1]}, s.Approved.Officers)
	require.Equal(t, "alice", s.Approved.Officers[0].ID)
	require.Equal(t, 2, s.Approved.Needed)
	require.Empty(t, s.Approved.Replaces)
	require.Equal(t, MustDigest(t, in), s.Approved.Digest)

	entries := MustEntries(t, rules.Ledger)
	require.Equal(t, []signer.LedgerEntry{{
		IntentDigest: MustDigest(t, in),
		ProposalID:   "P000001",
		PolicyHash:   f.policy.Hash(),
		TxID:         unsigned.UnsignedTx.TxHash(),
		Inputs:       []wire.OutPoint{sp.inputs[0].OutPoint, sp.inputs[1].OutPoint, sp.inputs[2].OutPoint},
		AmountSat:    payeeSat,
		Payees:       []reserve.IntentPayee{{Script: payeeScript(t), AmountSat: payeeSat}},
		SignedAt:     signertest.Now(),
	}}, entries)
	line := ledgerBytes(t, rules.Ledger)
	require.Equal(t, byte('\n'), line[len(line)-1])
	require.Equal(t, 1, bytes.Count(line, []byte("\n")))
	for _, field := range []string{`"intent_digest":"` + hex.EncodeToString(entries[0].IntentDigest[:]) + `"`,
		`"txid":"` + entries[0].TxID.String() + `"`, `"inputs":["` + sp.inputs[0].OutPoint.String() + `",`,
		`"amount_sat":70000000,"payees":[{"script":"` + hex.EncodeToString(payeeScript(t)) + `","amount_sat":70000000}],"signed_at":"2026-12-01T12:00:00Z"`, `"proposal_id":"P000001"`} {
		require.Contains(t, string(line), field)
	}

	// The signed PSBT again, and the unsigned one again: both sign, and
	// the ledger keeps its one line.
	later := rules
	later.Now = func() time.Time { return signertest.Now().Add(time.Hour) }
	_, n, err = signer.Sign(p, f.us().pinned, f.us().key, later)
	require.NoError(t, err)
	require.Zero(t, n)
	_, n, err = signer.Sign(unsigned, f.us().pinned, f.us().key, later)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, line, ledgerBytes(t, rules.Ledger))
}

// TestSignFeeBump: a second transaction for the same intent, spending an
// input of the first with a higher fee within the approved cap, signs and
// is recorded beside the first; the intent's amount counts once toward
// the velocity caps.
func TestSignFeeBump(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	rules := freshRules(t, f)
	first := sp.create(t, normalFee)
	in := f.approve(t, first)
	_, _, err := signer.Sign(first, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)

	// Two of the three coins, a higher fee, the same approvals.
	bumpSpend := *sp
	bumpSpend.inputs = sp.inputs[:2]
	bump := bumpSpend.create(t, signertest.FeeCapSat)
	signertest.MustSetApprovals(t, bump, in, signertest.Alice(), signertest.Bob())
	require.NotEqual(t, first.UnsignedTx.TxHash(), bump.UnsignedTx.TxHash())

	// 1.3 BTC of another intent today: 1.3 + 0.7 is exactly the 2 BTC
	// cap, allowed only if the first signature of this intent is not
	// counted as well.
	require.NoError(t, rules.Ledger.Append(f.us().key, entryFor([32]byte{0x33}, 0x07, 130_000_000, signertest.Now().Add(-time.Minute),
		wire.OutPoint{Hash: chainhash.Hash{0x99}})))

	s, n, err := signer.Sign(bump, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []chainhash.Hash{first.UnsignedTx.TxHash()}, s.Approved.Replaces)
	require.Equal(t, signertest.FeeCapSat, s.FeeSat)
	entries := MustEntries(t, rules.Ledger)
	require.Len(t, entries, 3)
	require.Equal(t, bump.UnsignedTx.TxHash(), entries[2].TxID)
	require.Equal(t, entries[0].IntentDigest, entries[2].IntentDigest)
}

// TestSignVelocityWindow: what was signed more than 24 hours ago does not
// count toward the 24-hour cap (it still counts toward the 30-day one),
// and an entry dated after the signer's clock counts as recent.
func TestSignVelocityWindow(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	now := signertest.Now()
	elsewhere := wire.OutPoint{Hash: chainhash.Hash{0x99}}
	tests := []struct {
		name   string
		at     time.Time
		signed bool
	}{
		{name: "25 hours ago", at: now.Add(-25 * time.Hour), signed: true},
		{name: "exactly 24 hours ago", at: now.Add(-24 * time.Hour), signed: true},
		{name: "23 hours ago", at: now.Add(-23 * time.Hour)},
		{name: "in the future", at: now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := freshRules(t, f)
			// 1.5 BTC then, 0.7 BTC now: over the 2 BTC a day, within the
			// 5 BTC in 30 days.
			require.NoError(t, rules.Ledger.Append(f.us().key, entryFor([32]byte{0x44}, 0x01, 150_000_000, tt.at, elsewhere)))
			p := f.approved(t, sp, normalFee)
			_, _, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
			if tt.signed {
				require.NoError(t, err)
				require.Len(t, MustEntries(t, rules.Ledger), 2)
				return
			}
			require.ErrorIs(t, err, reserve.ErrVelocityExceeded)
			require.ErrorContains(t, err, "1.50000000 BTC already paid in 24 hours")
		})
	}
}

func TestSignNeedsPolicyAndLedger(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	before := MustSerialize(t, p)

	rules := f.us().rules
	rules.Policy = nil
	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
	require.ErrorIs(t, err, signer.ErrNoPolicy)
	require.ErrorContains(t, err, "run register --policy FILE first")
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	require.Zero(t, n)

	rules = f.us().rules
	rules.Ledger = nil
	_, _, err = signer.Sign(p, f.us().pinned, f.us().key, rules)
	require.ErrorContains(t, err, "no signing ledger")
	require.Equal(t, before, MustSerialize(t, p))
}

// TestSignLedgerWriteFailure: when the entry cannot be written, the
// signatures just made are taken back.
func TestSignLedgerWriteFailure(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	before := MustSerialize(t, p)
	// A ledger whose directory is gone once it was opened reads as
	// empty, and cannot be written.
	dir := MustStateDir(t, f.us().dir, nil)
	l, err := signer.OpenLedger(dir)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))
	rules := signer.Rules{Policy: f.policy, Ledger: l, Now: signertest.Now}
	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
	require.ErrorContains(t, err, "unable to record transaction "+p.UnsignedTx.TxHash().String()+" in the ledger, so nothing was signed")
	require.Zero(t, n)
	require.Equal(t, before, MustSerialize(t, p))
	for i, in := range p.Inputs {
		require.Empty(t, in.PartialSigs, "input %d", i)
	}
}
