package reserve_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// vectorProofCoins are the coins of docs/approvals.md's proof vector: two
// outpoints of txids 11…11 and 22…22 (internal order), 1 BTC and 0.5 BTC.
func vectorProofCoins() []reserve.Input {
	return []reserve.Input{
		{OutPoint: wire.OutPoint{Hash: chainhash.Hash(bytes.Repeat([]byte{0x11}, 32)), Index: 0}, AmountSat: 100_000_000},
		{OutPoint: wire.OutPoint{Hash: chainhash.Hash(bytes.Repeat([]byte{0x22}, 32)), Index: 3}, AmountSat: 50_000_000},
	}
}

// vectorProofStatement is the statement of docs/approvals.md's proof
// vector: wallet 4c2f8a0e91d3b675 on regtest, proof R000001 under policy
// aa…aa, the message "Hello World", expiring at 2030-01-01T00:00:00Z.
func vectorProofStatement() reserve.ProofStatement {
	return reserve.ProofStatement{
		Network: reserve.Regtest, WalletID: "4c2f8a0e91d3b675", ProofID: "R000001",
		PolicyHash: [32]byte(bytes.Repeat([]byte{0xaa}, 32)),
		// BIP-322's hash of "Hello World".
		MessageHash: mustHash32("f0eb03b1a75ac6d9847f55c624a99169b5dccba2a31f5b23bea77ba270de0a7a"),
		CoinsHash:   reserve.ProofCoinsHash(vectorProofCoins()),
		ExpiresAt:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func mustHash32(s string) [32]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("bad hash " + s)
	}
	return [32]byte(b)
}

// TestProofVectors computes the coins hash, encoding, digest and alice's
// signature of the proof statement vector and requires docs/approvals.md
// to quote each.
func TestProofVectors(t *testing.T) {
	s := vectorProofStatement()
	enc, err := s.Encode()
	require.NoError(t, err)
	// Field by field: version, network, wallet_id, proof_id, policy_hash,
	// message_hash, coins_hash, expires_at.
	want := "01" + "04" + "00000010" + hex.EncodeToString([]byte("4c2f8a0e91d3b675")) +
		"00000007" + hex.EncodeToString([]byte("R000001")) + strings.Repeat("aa", 32) +
		hex.EncodeToString(s.MessageHash[:]) + hex.EncodeToString(s.CoinsHash[:]) + "0000000070dbd880"
	require.Equal(t, want, hex.EncodeToString(enc))
	digest, err := s.Digest()
	require.NoError(t, err)
	sig, err := reserve.SignProofStatement(&s, officerKey(1))
	require.NoError(t, err)

	doc, err := os.ReadFile(filepath.Join("..", "docs", "approvals.md"))
	require.NoError(t, err)
	flat := string(bytes.Join(bytes.Fields(doc), nil))
	for what, v := range map[string]string{
		"coins hash": hex.EncodeToString(s.CoinsHash[:]),
		"encoding":   hex.EncodeToString(enc), "digest": hex.EncodeToString(digest[:]),
		"signature": hex.EncodeToString(sig.Signature[:]),
	} {
		require.True(t, strings.Contains(flat, v), "docs/approvals.md must quote the proof statement's %s: %s", what, v)
	}
}

// TestProofDigestBindsEveryField: changing any field of a proof statement
// changes its digest, and no proof digest is a control digest.
func TestProofDigestBindsEveryField(t *testing.T) {
	base := vectorProofStatement()
	d0, err := base.Digest()
	require.NoError(t, err)
	tests := []struct {
		name   string
		change func(s *reserve.ProofStatement)
	}{
		{name: "network", change: func(s *reserve.ProofStatement) { s.Network = reserve.Testnet }},
		{name: "wallet", change: func(s *reserve.ProofStatement) { s.WalletID = "other" }},
		{name: "proof id", change: func(s *reserve.ProofStatement) { s.ProofID = "R000002" }},
		{name: "policy", change: func(s *reserve.ProofStatement) { s.PolicyHash[0] ^= 1 }},
		{name: "message", change: func(s *reserve.ProofStatement) { s.MessageHash[31] ^= 1 }},
		{name: "coins", change: func(s *reserve.ProofStatement) {
			c := vectorProofCoins()
			c[1].AmountSat++
			s.CoinsHash = reserve.ProofCoinsHash(c)
		}},
		{name: "coin order", change: func(s *reserve.ProofStatement) {
			c := vectorProofCoins()
			c[0], c[1] = c[1], c[0]
			s.CoinsHash = reserve.ProofCoinsHash(c)
		}},
		{name: "expiry", change: func(s *reserve.ProofStatement) { s.ExpiresAt = s.ExpiresAt.Add(time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vectorProofStatement()
			tt.change(&s)
			d, err := s.Digest()
			require.NoError(t, err)
			require.NotEqual(t, d0, d)
		})
	}
}

// TestProofStatementRefuses: each field's rule, by name.
func TestProofStatementRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *reserve.ProofStatement)
		field  string
	}{
		{name: "valid", change: func(*reserve.ProofStatement) {}},
		{name: "no network", change: func(s *reserve.ProofStatement) { s.Network = 0 }, field: "proof.network"},
		{name: "no wallet", change: func(s *reserve.ProofStatement) { s.WalletID = "" }, field: "proof.wallet_id"},
		{name: "proof id with a space", change: func(s *reserve.ProofStatement) { s.ProofID = "R 1" }, field: "proof.proof_id"},
		{name: "no expiry", change: func(s *reserve.ProofStatement) { s.ExpiresAt = time.Time{} }, field: "proof.expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vectorProofStatement()
			tt.change(&s)
			_, err := s.Encode()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			requireField(t, err, tt.field)
		})
	}
}

// TestVerifyProofStatement: an officer's signature verifies and names the
// officer; a non-officer, another statement or a control signature over
// the same bytes' tag does not.
func TestVerifyProofStatement(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	s := vectorProofStatement()
	s.PolicyHash = p.Hash()

	a, err := reserve.SignProofStatement(&s, officerKey(2))
	require.NoError(t, err)
	id, err := reserve.VerifyProofStatement(p, &s, a)
	require.NoError(t, err)
	require.Equal(t, "bob", id)

	notOfficer, err := reserve.SignProofStatement(&s, officerKey(5))
	require.NoError(t, err)
	_, err = reserve.VerifyProofStatement(p, &s, notOfficer)
	requireField(t, err, "officer_key")

	other := s
	other.ProofID = "R000002"
	_, err = reserve.VerifyProofStatement(p, &other, a)
	requireField(t, err, "signature")
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)

	c := vectorControl(reserve.ActionFreeze)
	c.PolicyHash = p.Hash()
	control, err := reserve.SignControl(&c, officerKey(2))
	require.NoError(t, err)
	_, err = reserve.VerifyProofStatement(p, &s, control)
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)
}

// TestProofMove: a proof's states and the changes between them.
func TestProofMove(t *testing.T) {
	tests := []struct {
		name     string
		from, to reserve.State
		ok       bool
	}{
		{name: "approved", from: reserve.StatePendingApproval, to: reserve.StateSigning, ok: true},
		{name: "rejected", from: reserve.StatePendingApproval, to: reserve.StateRejected, ok: true},
		{name: "finalized", from: reserve.StateSigning, to: reserve.StateFinalized, ok: true},
		{name: "expired while signing", from: reserve.StateSigning, to: reserve.StateExpired, ok: true},
		{name: "no APPROVED for a proof", from: reserve.StatePendingApproval, to: reserve.StateApproved},
		{name: "finalized without signing", from: reserve.StatePendingApproval, to: reserve.StateFinalized},
		{name: "a proof is never broadcast", from: reserve.StateFinalized, to: reserve.StateBroadcast},
		{name: "nothing leaves FINALIZED", from: reserve.StateFinalized, to: reserve.StateExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reserve.Proof{ID: "R000001", State: tt.from}
			err := p.Move(tt.to, time.Unix(1, 0), "alice", "")
			if !tt.ok {
				require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
				require.Equal(t, tt.from, p.State)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.to, p.State)
			require.Len(t, p.History, 1)
		})
	}
}

func TestCheckProofID(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   string
		ok   bool
	}{
		{name: "first", id: "R000001", ok: true},
		{name: "past a million", id: "R1000000", ok: true},
		{name: "a proposal id", id: "P000001"},
		{name: "short", id: "R00001"},
		{name: "letters", id: "R00000a"},
		{name: "empty", id: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := reserve.CheckProofID(tt.id)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			requireField(t, err, "id")
		})
	}
}
