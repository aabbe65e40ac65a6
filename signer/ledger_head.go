package signer

// Head returns the entry count and head hash of the ledger as the state
// record holds them: after Sign, the ledger with this signature recorded.
// The signer alone cannot tell a whole older copy of its data directory
// (record and ledger together) from the current one; the ministry writes
// these two numbers down off the machine after every signature and
// compares them at the next session (docs/signer.md).
func (l *Ledger) Head() (uint64, [32]byte) {
	if l == nil || l.state == nil {
		return 0, [32]byte{}
	}
	return l.state.st.entries, l.state.st.head
}
