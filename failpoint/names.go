package failpoint

// Name is a failpoint, named after the step it interrupts. Every name is
// listed below and in all; Inject with any other name panics in a
// failpoints build, and TestInjectNamesListed refuses the source.
type Name string

// The store's read-write transactions (store.DB.update): *-precommit
// fires after the transaction's work succeeded and before bbolt commits
// it (a kill there loses the whole transaction), *-committed right after
// the commit, before the caller hears of it.
const (
	// StoreRecordNetworkPrecommit interrupts recording the network before commit.
	StoreRecordNetworkPrecommit Name = "store-record-network-precommit"
	// StoreRecordNetworkCommitted interrupts recording the network after commit.
	StoreRecordNetworkCommitted Name = "store-record-network-committed"
	// StoreCreateWalletPrecommit interrupts creating the wallet before commit.
	StoreCreateWalletPrecommit Name = "store-create-wallet-precommit"
	// StoreCreateWalletCommitted interrupts creating the wallet after commit.
	StoreCreateWalletCommitted Name = "store-create-wallet-committed"
	// StoreRecordAddressesPrecommit interrupts recording derived addresses before commit.
	StoreRecordAddressesPrecommit Name = "store-record-addresses-precommit"
	// StoreRecordAddressesCommitted interrupts recording derived addresses after commit.
	StoreRecordAddressesCommitted Name = "store-record-addresses-committed"
	// StoreIssueAddressPrecommit interrupts issuing a receive address before commit.
	StoreIssueAddressPrecommit Name = "store-issue-address-precommit"
	// StoreIssueAddressCommitted interrupts issuing a receive address after commit.
	StoreIssueAddressCommitted Name = "store-issue-address-committed"
	// StoreApplyBlockPrecommit interrupts applying a block before commit.
	StoreApplyBlockPrecommit Name = "store-apply-block-precommit"
	// StoreApplyBlockCommitted interrupts applying a block after commit.
	StoreApplyBlockCommitted Name = "store-apply-block-committed"
	// StoreDisconnectTipPrecommit interrupts disconnecting the tip (a reorg) before commit.
	StoreDisconnectTipPrecommit Name = "store-disconnect-tip-precommit"
	// StoreDisconnectTipCommitted interrupts disconnecting the tip (a reorg) after commit.
	StoreDisconnectTipCommitted Name = "store-disconnect-tip-committed"
	// StoreApplyMempoolPrecommit interrupts applying a mempool update before commit.
	StoreApplyMempoolPrecommit Name = "store-apply-mempool-precommit"
	// StoreApplyMempoolCommitted interrupts applying a mempool update after commit.
	StoreApplyMempoolCommitted Name = "store-apply-mempool-committed"
	// StoreUpdateGovernancePrecommit interrupts a governance change (policy, freeze) before commit.
	StoreUpdateGovernancePrecommit Name = "store-update-governance-precommit"
	// StoreUpdateGovernanceCommitted interrupts a governance change (policy, freeze) after commit.
	StoreUpdateGovernanceCommitted Name = "store-update-governance-committed"
	// StoreCreateProposalPrecommit interrupts creating a proposal (its reservations) before commit.
	StoreCreateProposalPrecommit Name = "store-create-proposal-precommit"
	// StoreCreateProposalCommitted interrupts creating a proposal (its reservations) after commit.
	StoreCreateProposalCommitted Name = "store-create-proposal-committed"
	// StoreUpdateProposalPrecommit interrupts a proposal update (approval, release, signatures, state) before commit.
	StoreUpdateProposalPrecommit Name = "store-update-proposal-precommit"
	// StoreUpdateProposalCommitted interrupts a proposal update (approval, release, signatures, state) after commit.
	StoreUpdateProposalCommitted Name = "store-update-proposal-committed"
	// StoreCreateProofPrecommit interrupts recording a proof-of-reserves request before commit.
	StoreCreateProofPrecommit Name = "store-create-proof-precommit"
	// StoreCreateProofCommitted interrupts recording a proof-of-reserves request after commit.
	StoreCreateProofCommitted Name = "store-create-proof-committed"
	// StoreUpdateProofPrecommit interrupts a proof update (approval, signatures, state) before commit.
	StoreUpdateProofPrecommit Name = "store-update-proof-precommit"
	// StoreUpdateProofCommitted interrupts a proof update (approval, signatures, state) after commit.
	StoreUpdateProofCommitted Name = "store-update-proof-committed"
	// StoreReleaseSpentPrecommit interrupts freeing an ended proposal's spent inputs before commit.
	StoreReleaseSpentPrecommit Name = "store-release-spent-precommit"
	// StoreReleaseSpentCommitted interrupts freeing an ended proposal's spent inputs after commit.
	StoreReleaseSpentCommitted Name = "store-release-spent-committed"
	// StoreAppendAuditEventPrecommit interrupts recording a security event in the audit log before commit.
	StoreAppendAuditEventPrecommit Name = "store-append-audit-event-precommit"
	// StoreAppendAuditEventCommitted interrupts recording a security event in the audit log after commit.
	StoreAppendAuditEventCommitted Name = "store-append-audit-event-committed"
	// StoreRecordWitnessesPrecommit interrupts recording the ministries' witness cosignatures before commit.
	StoreRecordWitnessesPrecommit Name = "store-record-witnesses-precommit"
	// StoreRecordWitnessesCommitted interrupts recording the ministries' witness cosignatures after commit.
	StoreRecordWitnessesCommitted Name = "store-record-witnesses-committed"
	// StoreRestorePrecommit interrupts marking a store restored, or acknowledging the restore, before commit.
	StoreRestorePrecommit Name = "store-restore-precommit"
	// StoreRestoreCommitted interrupts marking a store restored, or acknowledging the restore, after commit.
	StoreRestoreCommitted Name = "store-restore-committed"
	// StoreIdentityPrecommit interrupts recording, revoking or touching an identity before commit.
	StoreIdentityPrecommit Name = "store-identity-precommit"
	// StoreIdentityCommitted interrupts recording, revoking or touching an identity after commit.
	StoreIdentityCommitted Name = "store-identity-committed"
	// StoreDerivedKeysPrecommit interrupts replacing the derived-key cache before commit.
	StoreDerivedKeysPrecommit Name = "store-derived-keys-precommit"
	// StoreDerivedKeysCommitted interrupts replacing the derived-key cache after commit.
	StoreDerivedKeysCommitted Name = "store-derived-keys-committed"
	// StoreOtherPrecommit interrupts a store transaction no name above covers, before commit.
	StoreOtherPrecommit Name = "store-other-precommit"
	// StoreOtherCommitted interrupts a store transaction no name above covers, after commit.
	StoreOtherCommitted Name = "store-other-committed"
)

// The daemon's steps around its external effects.
const (
	// DaemonReleaseBefore interrupts the release of an approved proposal to the signers before it is recorded.
	DaemonReleaseBefore Name = "daemon-release-before"
	// DaemonReleaseRecorded interrupts the release after SIGNING is recorded, before it is logged and returned.
	DaemonReleaseRecorded Name = "daemon-release-recorded"
	// DaemonFinalized interrupts an import after FINALIZED is recorded, before the broadcast.
	DaemonFinalized Name = "daemon-finalized"
	// DaemonBroadcastBefore interrupts a broadcast after testmempoolaccept, before sendrawtransaction.
	DaemonBroadcastBefore Name = "daemon-broadcast-before"
	// DaemonBroadcastAccepted interrupts a broadcast the node accepted, before BROADCAST is recorded.
	DaemonBroadcastAccepted Name = "daemon-broadcast-accepted"
)

// custosctl's file writes.
const (
	// CtlExportBeforeWrite interrupts spend export after the daemon sent the PSBT, before the file is written.
	CtlExportBeforeWrite Name = "ctl-export-before-write"
	// CtlExportWritten interrupts spend export after the file is written, before it is reported.
	CtlExportWritten Name = "ctl-export-written"
)

// The ministry signer's ledger and output.
const (
	// SignerLedgerWritten interrupts a ledger append after the line is written, before it is synced.
	SignerLedgerWritten Name = "signer-ledger-written"
	// SignerLedgerSynced interrupts a ledger append after the line and its directory are synced, before the state record is sealed.
	SignerLedgerSynced Name = "signer-ledger-synced"
	// SignerOutputBeforeWrite interrupts sign after the ledger append and the sealed state, before the signed PSBT is written.
	SignerOutputBeforeWrite Name = "signer-output-before-write"
)

// all is every name above, in one list.
var all = []Name{
	StoreRecordNetworkPrecommit, StoreRecordNetworkCommitted,
	StoreCreateWalletPrecommit, StoreCreateWalletCommitted,
	StoreRecordAddressesPrecommit, StoreRecordAddressesCommitted,
	StoreIssueAddressPrecommit, StoreIssueAddressCommitted,
	StoreApplyBlockPrecommit, StoreApplyBlockCommitted,
	StoreDisconnectTipPrecommit, StoreDisconnectTipCommitted,
	StoreApplyMempoolPrecommit, StoreApplyMempoolCommitted,
	StoreUpdateGovernancePrecommit, StoreUpdateGovernanceCommitted,
	StoreCreateProposalPrecommit, StoreCreateProposalCommitted,
	StoreUpdateProposalPrecommit, StoreUpdateProposalCommitted,
	StoreReleaseSpentPrecommit, StoreReleaseSpentCommitted,
	StoreCreateProofPrecommit, StoreCreateProofCommitted,
	StoreUpdateProofPrecommit, StoreUpdateProofCommitted,
	StoreAppendAuditEventPrecommit, StoreAppendAuditEventCommitted,
	StoreIdentityPrecommit, StoreIdentityCommitted,
	StoreRecordWitnessesPrecommit, StoreRecordWitnessesCommitted,
	StoreRestorePrecommit, StoreRestoreCommitted,
	StoreDerivedKeysPrecommit, StoreDerivedKeysCommitted,
	StoreOtherPrecommit, StoreOtherCommitted,
	DaemonReleaseBefore, DaemonReleaseRecorded, DaemonFinalized,
	DaemonBroadcastBefore, DaemonBroadcastAccepted,
	CtlExportBeforeWrite, CtlExportWritten,
	SignerLedgerWritten, SignerLedgerSynced, SignerOutputBeforeWrite,
}

// All returns every listed failpoint, in the order of the list: what a
// test picks from.
func All() []Name { return append([]Name(nil), all...) }

// Listed reports whether name is in the list.
func Listed(name Name) bool {
	for _, n := range all {
		if n == name {
			return true
		}
	}
	return false
}
