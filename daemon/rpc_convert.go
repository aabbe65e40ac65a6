package daemon

import (
	"fmt"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// Named conversions between domain and wire types. The domain never sees
// custosv1 types; these are the only places that touch both.

func networkToProto(n reserve.Network) custosv1.Network {
	switch n {
	case reserve.Mainnet:
		return custosv1.Network_NETWORK_MAINNET
	case reserve.Testnet:
		return custosv1.Network_NETWORK_TESTNET
	case reserve.Signet:
		return custosv1.Network_NETWORK_SIGNET
	case reserve.Regtest:
		return custosv1.Network_NETWORK_REGTEST
	case reserve.NetworkUnspecified:
	}
	return custosv1.Network_NETWORK_UNSPECIFIED
}

func branchToProto(b reserve.Branch) custosv1.Branch {
	switch b {
	case reserve.BranchReceive:
		return custosv1.Branch_BRANCH_RECEIVE
	case reserve.BranchChange:
		return custosv1.Branch_BRANCH_CHANGE
	}
	return custosv1.Branch_BRANCH_UNSPECIFIED
}

// branchFromProto reads a requested branch; unspecified means receive.
func branchFromProto(b custosv1.Branch) (reserve.Branch, error) {
	switch b {
	case custosv1.Branch_BRANCH_UNSPECIFIED, custosv1.Branch_BRANCH_RECEIVE:
		return reserve.BranchReceive, nil
	case custosv1.Branch_BRANCH_CHANGE:
		return reserve.BranchChange, nil
	}
	return 0, reserve.Invalid("branch", "unknown branch %d", int32(b))
}

func walletToProto(w reserve.Wallet) (*custosv1.Wallet, error) {
	desc, err := multisig.ParseDescriptor(w.Descriptor, w.Network)
	if err != nil {
		return nil, fmt.Errorf("stored descriptor of wallet %s: %w", w.ID, err)
	}
	out := &custosv1.Wallet{
		Id:                  w.ID,
		Name:                w.Name,
		Network:             networkToProto(w.Network),
		Threshold:           uint32(w.Threshold),
		MultipathDescriptor: desc.String(),
		ReceiveDescriptor:   desc.BranchString(reserve.BranchReceive),
		ChangeDescriptor:    desc.BranchString(reserve.BranchChange),
		GapLimit:            w.GapLimit,
		BirthdayHeight:      w.BirthdayHeight,
		CreatedAtUnix:       w.CreatedAt.Unix(),
	}
	for _, c := range w.Cosigners {
		out.Cosigners = append(out.Cosigners, &custosv1.Cosigner{
			Fingerprint: fmt.Sprintf("%08x", c.Fingerprint),
			Path:        multisig.FormatPath(c.Path),
			Xpub:        c.XPub,
			KeyRecord:   multisig.FormatKeyRecord(c),
		})
	}
	return out, nil
}

func addressToProto(a addressInfo) *custosv1.Address {
	return &custosv1.Address{
		Branch:        branchToProto(a.Branch),
		Index:         a.Index,
		Address:       a.Address.Address,
		Label:         a.Label,
		Issued:        a.Issued,
		ReceivedSat:   a.ReceivedSat,
		ReceivedCount: a.ReceivedCount,
	}
}

func utxoToProto(u reserve.UTXO, tip int32, net reserve.Network) *custosv1.Utxo {
	addr := multisig.ScriptAddress(u.Script, net)
	return &custosv1.Utxo{
		Txid:          u.OutPoint.Hash.String(),
		Vout:          u.OutPoint.Index,
		AmountSat:     u.AmountSat,
		Branch:        branchToProto(u.Branch),
		Index:         u.Index,
		Address:       addr,
		Height:        u.Height,
		Confirmations: u.Confirmations(tip),
		Coinbase:      u.Coinbase,
		Mature:        u.Mature(tip),
	}
}

func statusToProto(st chain.Status, net reserve.Network, kind chain.Kind, walletExists bool) *custosv1.GetStatusResponse {
	out := &custosv1.GetStatusResponse{
		Network:       networkToProto(net),
		NodeKind:      string(kind),
		NodeReachable: st.NodeReachable,
		NodeError:     st.NodeErr,
		NodeHeight:    st.NodeHeight,
		SyncedHeight:  st.SyncedHeight,
		Synced:        st.Synced,
		WalletExists:  walletExists,
	}
	if st.NodeReachable || st.NodeHeight > 0 {
		out.NodeBestHash = st.NodeHash.String()
	}
	if st.SyncedHeight >= 0 {
		out.SyncedHash = st.SyncedHash.String()
	}
	if !st.LastPoll.IsZero() {
		out.LastPollUnix = st.LastPoll.Unix()
	}
	return out
}
