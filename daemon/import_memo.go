package daemon

import (
	"bytes"
	"sync"

	"github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// parsedMemo keeps what the last import already had in memory, so the
// next step need not parse again the ~1 MB it has just written: parsing
// a 950-input PSBT checks every public key on the curve, some 100 ms a
// pass (issue 15). Each entry is a pure function of the exact stored
// bytes it was made from and is used only when the proposal's bytes are
// still those, byte for byte; anything else parses as before.
type parsedMemo struct {
	mu sync.Mutex
	// stored is a proposal's PSBT as the last import left it unfinalized:
	// the packet it serialized into raw. Taken out on use, since the
	// import that takes it changes it.
	stored struct {
		id  string
		raw []byte
		pkt *psbt.Packet
	}
	// signers is transactionSigners of the proposal whose PSBT and final
	// transaction are raw and final, as the finalizing import computed it
	// before clearing the packet's partial fields.
	signers struct {
		id         string
		raw, final []byte
		in         []bool
	}
}

// takeStored returns p's parsed PSBT if the memo holds it for exactly
// p.PSBT, and forgets it; otherwise nil.
func (m *parsedMemo) takeStored(p *reserve.Proposal) *psbt.Packet {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &m.stored
	if s.pkt == nil || s.id != p.ID || !bytes.Equal(s.raw, p.PSBT) {
		return nil
	}
	pkt := s.pkt
	s.id, s.raw, s.pkt = "", nil, nil
	return pkt
}

// putStored remembers pkt as the parse of p.PSBT, which it was
// serialized into. The caller gives pkt up.
func (m *parsedMemo) putStored(p *reserve.Proposal, pkt *psbt.Packet) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stored.id, m.stored.raw, m.stored.pkt = p.ID, p.PSBT, pkt
}

// putSigners remembers in as transactionSigners of p.
func (m *parsedMemo) putSigners(p *reserve.Proposal, in []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.signers.id, m.signers.raw, m.signers.final, m.signers.in = p.ID, p.PSBT, p.FinalTx, in
}

// transactionSigners is the package's transactionSigners, from the memo
// when it holds p's exact PSBT and final transaction.
func (m *parsedMemo) transactionSigners(p *reserve.Proposal, desc *multisig.Descriptor) ([]bool, error) {
	m.mu.Lock()
	s := m.signers
	m.mu.Unlock()
	if s.in != nil && s.id == p.ID && bytes.Equal(s.raw, p.PSBT) && bytes.Equal(s.final, p.FinalTx) {
		return append([]bool(nil), s.in...), nil
	}
	return transactionSigners(p, desc)
}
