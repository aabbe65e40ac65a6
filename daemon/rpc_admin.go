package daemon

import (
	"context"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// adminServer implements custosv1.AdminServiceServer.
type adminServer struct {
	custosv1.UnimplementedAdminServiceServer
	d *Daemon
}

func (s *adminServer) CreateWallet(ctx context.Context, req *custosv1.CreateWalletRequest) (*custosv1.CreateWalletResponse, error) {
	spec := walletSpec{
		Name:      req.GetName(),
		Threshold: int(req.GetThreshold()),
		Cosigners: req.GetCosigners(),
		GapLimit:  req.GetGapLimit(),
	}
	if req.BirthdayHeight != nil {
		h := req.GetBirthdayHeight()
		spec.Birthday = &h
	}
	w, err := s.d.createWallet(ctx, spec)
	if err != nil {
		return nil, s.d.status(ctx, custosv1.AdminService_CreateWallet_FullMethodName, err)
	}
	pw, err := walletToProto(w)
	if err != nil {
		return nil, s.d.status(ctx, custosv1.AdminService_CreateWallet_FullMethodName, err)
	}
	return &custosv1.CreateWalletResponse{Wallet: pw}, nil
}
