package reserve

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// ProofTag domain-separates the digests of proof approvals from approval
// and control digests: an officer's signature over one kind can never be
// taken for another.
const ProofTag = "custos/proof/v1"

// ProofVersion is the version of the proof statement encoding.
const ProofVersion = 1

// ProofIDFormat makes a proof id from the store's sequence: "R000001".
const ProofIDFormat = "R%06d"

// Proof is a proof-of-reserves proposal: a BIP-322 proof PSBT over the
// wallet's coins for a message, on its way from request through the
// officers' approval of the message to the cosigners' signatures and the
// finalized proof. A proof moves nothing: its coins stay free to spend.
type Proof struct {
	ID       string
	WalletID string
	// State is one of PENDING_APPROVAL, SIGNING, FINALIZED, REJECTED,
	// CANCELLED, EXPIRED (ProofState rules).
	State State
	// Message is what the proof commits to (printable UTF-8, as given).
	Message string
	// Coins are the proven coins, in the order of the proof's inputs
	// 1..n; TotalSat their sum.
	Coins    []Input
	TotalSat int64
	// Height and BlockHash name the synced tip the proof was built at:
	// every coin was confirmed and unspent there.
	Height    int32
	BlockHash chainhash.Hash
	// PolicyHash is the policy in force at the request; officers approve
	// under it.
	PolicyHash [32]byte
	// Approvals are the officers' signatures over the proof statement, in
	// the order they arrived, each officer once.
	Approvals []ProofApproval
	// PSBT is the proof PSBT with every accepted partial signature.
	PSBT []byte
	// Signatures records the cosigners that signed every input.
	Signatures []Signature
	// FinalTx is the finalized to_sign once FINALIZED.
	FinalTx   []byte
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	History   []Transition
}

// ProofApproval is one officer's signature over a proof's statement.
type ProofApproval struct {
	// Officer is the officer's id in the policy the statement names.
	Officer  string
	Approval Approval
	At       time.Time
}

// proofTransitions lists every state change a proof may make.
var proofTransitions = map[State][]State{
	StatePendingApproval: {StateSigning, StateRejected, StateCancelled, StateExpired},
	StateSigning:         {StateFinalized, StateCancelled, StateExpired},
}

// ProofCanMove reports whether a proof may go from s to next.
func ProofCanMove(s, next State) bool {
	for _, t := range proofTransitions[s] {
		if t == next {
			return true
		}
	}
	return false
}

// ProofState reports whether s is a state a proof may be in.
func ProofState(s State) bool {
	switch s {
	case StatePendingApproval, StateSigning, StateFinalized, StateRejected, StateCancelled, StateExpired:
		return true
	}
	return false
}

// Live reports whether the proof may still change: waiting for approvals
// or signatures.
func (p *Proof) Live() bool { return len(proofTransitions[p.State]) > 0 }

// Move changes the proof's state and records the transition; a change
// the proof's states do not allow is CodeFailedPrecondition.
func (p *Proof) Move(next State, at time.Time, actor, note string) error {
	if !ProofCanMove(p.State, next) {
		return Errorf(CodeFailedPrecondition, "proof %s is %s and cannot become %s", p.ID, p.State, next)
	}
	p.State = next
	p.History = append(p.History, Transition{State: next, At: at, Actor: actor, Note: note})
	return nil
}

// Approved reports whether officer has approved the proof.
func (p *Proof) Approved(officer string) bool {
	for _, a := range p.Approvals {
		if a.Officer == officer {
			return true
		}
	}
	return false
}

// Signed reports whether cosigner (its position) has signed every input.
func (p *Proof) Signed(cosigner int) bool {
	for _, s := range p.Signatures {
		if s.Cosigner == cosigner {
			return true
		}
	}
	return false
}

// Statement is what the officers sign to approve this proof.
func (p *Proof) Statement(n Network, messageHash [32]byte) ProofStatement {
	return ProofStatement{
		Network: n, WalletID: p.WalletID, ProofID: p.ID, PolicyHash: p.PolicyHash,
		MessageHash: messageHash, CoinsHash: ProofCoinsHash(p.Coins), ExpiresAt: p.ExpiresAt,
	}
}

// CheckProofID refuses what cannot be a proof id, before any lookup: "R"
// and at least six digits, at most 32 characters.
func CheckProofID(id string) error {
	if len(id) < 7 || len(id) > 32 || id[0] != 'R' {
		return Invalid("id", "proof id %q is not R and six or more digits", id)
	}
	for i := 1; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return Invalid("id", "proof id %q is not R and six or more digits", id)
		}
	}
	return nil
}

// ProofCoinsHash is SHA-256 of the coin list in order: per coin its txid
// (32 bytes, internal byte order, as in the transaction), vout (u32 BE)
// and amount (u64 BE satoshis). Officers approve exactly these coins.
func ProofCoinsHash(coins []Input) [32]byte {
	h := sha256.New()
	var b [chainhash.HashSize + 4 + 8]byte
	for _, c := range coins {
		copy(b[:], c.OutPoint.Hash[:])
		binary.BigEndian.PutUint32(b[chainhash.HashSize:], c.OutPoint.Index)
		binary.BigEndian.PutUint64(b[chainhash.HashSize+4:], uint64(c.AmountSat))
		h.Write(b[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ProofCoinsHashOf is ProofCoinsHash for outpoints and amounts given
// apart (a signer or an officer reading a PSBT).
func ProofCoinsHashOf(ops []wire.OutPoint, amounts []int64) [32]byte {
	coins := make([]Input, len(ops))
	for i, op := range ops {
		coins[i] = Input{OutPoint: op, AmountSat: amounts[i]}
	}
	return ProofCoinsHash(coins)
}

// ProofStatement is what an officer signs to approve a proof of reserves:
// the wallet, the proof, the policy in force, the BIP-322 hash of the
// message, the coins and the deadline. It binds all of them, so an
// approval cannot be replayed on another proof, message or set of coins.
type ProofStatement struct {
	Network  Network
	WalletID string
	ProofID  string
	// PolicyHash is the hash of the policy in force when signing.
	PolicyHash [32]byte
	// MessageHash is BIP-322's tagged hash of the message
	// ("BIP0322-signed-message").
	MessageHash [32]byte
	// CoinsHash is ProofCoinsHash of the proven coins, in order.
	CoinsHash [32]byte
	// ExpiresAt is when the proof request lapses (Unix seconds).
	ExpiresAt time.Time
}

// Validate checks the statement's fields.
func (s *ProofStatement) Validate() error {
	if s.Network < Mainnet || s.Network > Regtest {
		return Invalid("proof.network", "unknown network %d", uint8(s.Network))
	}
	if err := checkIntentID("proof.wallet_id", s.WalletID); err != nil {
		return err
	}
	if err := checkIntentID("proof.proof_id", s.ProofID); err != nil {
		return err
	}
	if s.ExpiresAt.Unix() <= 0 {
		return Invalid("proof.expires_at", "is not after 1970")
	}
	return nil
}

// Encode is the canonical encoding (docs/approvals.md, "Proof
// approvals"): version(1) network(1) wallet_id(u32 BE length || bytes)
// proof_id(u32 BE length || bytes) policy_hash(32) message_hash(32)
// coins_hash(32) expires_at(i64 BE Unix seconds).
func (s *ProofStatement) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+8+len(s.WalletID)+len(s.ProofID)+3*32+8)
	b = append(b, ProofVersion, byte(s.Network))
	b = appendLenPrefixed(b, s.WalletID)
	b = appendLenPrefixed(b, s.ProofID)
	b = append(b, s.PolicyHash[:]...)
	b = append(b, s.MessageHash[:]...)
	b = append(b, s.CoinsHash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.ExpiresAt.Unix()))
	return b, nil
}

// Digest is what an officer signs: the BIP-340 tagged hash of Encode()
// under ProofTag.
func (s *ProofStatement) Digest() ([32]byte, error) {
	enc, err := s.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(ProofTag), enc), nil
}

// SignProofStatement makes officer key priv's signature over s.
func SignProofStatement(s *ProofStatement, priv ed25519.PrivateKey) (Approval, error) {
	return signStatement(priv, s.Digest)
}

// VerifyProofStatement checks a's signature over s and that its key is an
// officer of p, whose id it returns. It does not check that p is the
// policy in force, nor count anything.
func VerifyProofStatement(p *Policy, s *ProofStatement, a Approval) (string, error) {
	return verifyStatement(p, s.Digest, a, "proof "+s.ProofID)
}

// String names a proof for logs: its id and state.
func (p *Proof) String() string { return fmt.Sprintf("%s (%s)", p.ID, p.State) }
