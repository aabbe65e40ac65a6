package daemon

import (
	"context"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// treasuryServer implements custosv1.TreasuryServiceServer.
type treasuryServer struct {
	custosv1.UnimplementedTreasuryServiceServer
	d *Daemon
}

// status maps a domain error for the caller; see toStatus.
func (d *Daemon) status(ctx context.Context, method string, err error) error {
	return toStatus(ctx, d.log, method, err)
}

func (s *treasuryServer) GetStatus(ctx context.Context, _ *custosv1.GetStatusRequest) (*custosv1.GetStatusResponse, error) {
	_, err := s.d.cfg.Store.Wallet(ctx)
	exists := err == nil
	if err != nil && reserve.CodeOf(err) != reserve.CodeNotFound {
		return nil, s.d.status(ctx, custosv1.TreasuryService_GetStatus_FullMethodName, err)
	}
	// The node's tip is asked now, so "synced" is judged against the tip
	// as of this call (custosctl status --wait relies on it). Observe
	// returns within ctx and the follower's StatusTimeout whatever the node
	// does: a node that does not answer gives the last status, not synced,
	// so status stays usable to diagnose a stuck node.
	return statusToProto(s.d.follower.Observe(ctx), s.d.cfg.Network, s.d.node.Kind(), exists), nil
}

func (s *treasuryServer) GetWallet(ctx context.Context, _ *custosv1.GetWalletRequest) (*custosv1.GetWalletResponse, error) {
	const method = custosv1.TreasuryService_GetWallet_FullMethodName
	w, err := s.d.cfg.Store.Wallet(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, noWallet(err))
	}
	pw, err := walletToProto(w)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.GetWalletResponse{Wallet: pw}, nil
}

func (s *treasuryServer) NewAddress(ctx context.Context, req *custosv1.NewAddressRequest) (*custosv1.NewAddressResponse, error) {
	a, err := s.d.newAddress(ctx, req.GetLabel())
	if err != nil {
		return nil, s.d.status(ctx, custosv1.TreasuryService_NewAddress_FullMethodName, err)
	}
	return &custosv1.NewAddressResponse{Address: addressToProto(addressInfo{Address: a})}, nil
}

func (s *treasuryServer) ListAddresses(ctx context.Context, req *custosv1.ListAddressesRequest) (*custosv1.ListAddressesResponse, error) {
	const method = custosv1.TreasuryService_ListAddresses_FullMethodName
	branch, err := branchFromProto(req.GetBranch())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	addrs, next, err := s.d.addresses(ctx, branch, req.GetIncludeLookahead(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := &custosv1.ListAddressesResponse{Addresses: make([]*custosv1.Address, len(addrs)), NextPageToken: next}
	for i, a := range addrs {
		out.Addresses[i] = addressToProto(a)
	}
	return out, nil
}

func (s *treasuryServer) GetBalance(ctx context.Context, _ *custosv1.GetBalanceRequest) (*custosv1.GetBalanceResponse, error) {
	// The store keeps the totals with the coins: this reads a few
	// records, not every coin.
	b, tip, err := s.d.balance(ctx)
	if err != nil {
		return nil, s.d.status(ctx, custosv1.TreasuryService_GetBalance_FullMethodName, err)
	}
	return &custosv1.GetBalanceResponse{
		ConfirmedSat:   b.ConfirmedSat,
		UnconfirmedSat: b.UnconfirmedSat,
		ImmatureSat:    b.ImmatureSat,
		SyncedHeight:   tip,
	}, nil
}

func (s *treasuryServer) GetBalanceHistory(ctx context.Context, _ *custosv1.GetBalanceHistoryRequest) (*custosv1.GetBalanceHistoryResponse, error) {
	points, tip, err := s.d.balanceHistory(ctx)
	if err != nil {
		return nil, s.d.status(ctx, custosv1.TreasuryService_GetBalanceHistory_FullMethodName, err)
	}
	out := &custosv1.GetBalanceHistoryResponse{SyncedHeight: tip, Points: make([]*custosv1.BalancePoint, len(points))}
	for i, p := range points {
		out.Points[i] = &custosv1.BalancePoint{Height: p.Height, ConfirmedSat: p.ConfirmedSat}
	}
	return out, nil
}

func (s *treasuryServer) ListUtxos(ctx context.Context, req *custosv1.ListUtxosRequest) (*custosv1.ListUtxosResponse, error) {
	utxos, tip, next, err := s.d.utxoPage(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.d.status(ctx, custosv1.TreasuryService_ListUtxos_FullMethodName, err)
	}
	out := &custosv1.ListUtxosResponse{SyncedHeight: tip, Utxos: make([]*custosv1.Utxo, len(utxos)), NextPageToken: next}
	for i, u := range utxos {
		out.Utxos[i] = utxoToProto(u, tip, s.d.cfg.Network)
	}
	return out, nil
}
