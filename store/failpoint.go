package store

import (
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/failpoint"
)

// txPoints are the two failpoints of one kind of store transaction.
type txPoints struct {
	// prefix is how update's what starts for that kind.
	prefix               string
	precommit, committed failpoint.Name
}

// txKinds maps each db.update call to its failpoints by the start of its
// what, so a crash test can target one operation; TestTxKindsCoverUpdates
// fails when an update call matches none. Order matters: the first
// matching prefix wins.
var txKinds = []txPoints{
	{"identity: ", failpoint.StoreIdentityPrecommit, failpoint.StoreIdentityCommitted},
	{"record network ", failpoint.StoreRecordNetworkPrecommit, failpoint.StoreRecordNetworkCommitted},
	{"record derived keys", failpoint.StoreDerivedKeysPrecommit, failpoint.StoreDerivedKeysCommitted},
	{"create wallet ", failpoint.StoreCreateWalletPrecommit, failpoint.StoreCreateWalletCommitted},
	{"record witnesses", failpoint.StoreRecordWitnessesPrecommit, failpoint.StoreRecordWitnessesCommitted},
	{"mark store restored", failpoint.StoreRestorePrecommit, failpoint.StoreRestoreCommitted},
	{"acknowledge restore", failpoint.StoreRestorePrecommit, failpoint.StoreRestoreCommitted},
	{"record ", failpoint.StoreRecordAddressesPrecommit, failpoint.StoreRecordAddressesCommitted},
	{"issue receive address", failpoint.StoreIssueAddressPrecommit, failpoint.StoreIssueAddressCommitted},
	{"apply block ", failpoint.StoreApplyBlockPrecommit, failpoint.StoreApplyBlockCommitted},
	{"disconnect tip", failpoint.StoreDisconnectTipPrecommit, failpoint.StoreDisconnectTipCommitted},
	{"apply mempool update", failpoint.StoreApplyMempoolPrecommit, failpoint.StoreApplyMempoolCommitted},
	{"update governance", failpoint.StoreUpdateGovernancePrecommit, failpoint.StoreUpdateGovernanceCommitted},
	{"create proposal", failpoint.StoreCreateProposalPrecommit, failpoint.StoreCreateProposalCommitted},
	{"update proposal ", failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted},
	{"release spent inputs of proposal ", failpoint.StoreReleaseSpentPrecommit, failpoint.StoreReleaseSpentCommitted},
	{"create proof", failpoint.StoreCreateProofPrecommit, failpoint.StoreCreateProofCommitted},
	{"update proof ", failpoint.StoreUpdateProofPrecommit, failpoint.StoreUpdateProofCommitted},
	{"append audit event ", failpoint.StoreAppendAuditEventPrecommit, failpoint.StoreAppendAuditEventCommitted},
}

// txKind returns the failpoints of the transaction what names.
func txKind(what string) txPoints {
	for _, k := range txKinds {
		if strings.HasPrefix(what, k.prefix) {
			return k
		}
	}
	return txPoints{precommit: failpoint.StoreOtherPrecommit, committed: failpoint.StoreOtherCommitted}
}

// precommit wraps fn so that, once fn succeeded, the transaction's
// precommit failpoint fires before bbolt commits.
func precommit(what string, fn func(tx *bolt.Tx) error) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if failpoint.Enabled {
			failpoint.Inject(txKind(what).precommit)
		}
		return nil
	}
}

// committed fires the transaction's committed failpoint when the commit
// succeeded (err nil), and passes err on. In normal builds neither wrapper
// looks at what: failpoint.Enabled is a false constant.
func committed(what string, err error) error {
	if err == nil && failpoint.Enabled {
		failpoint.Inject(txKind(what).committed)
	}
	return err
}
