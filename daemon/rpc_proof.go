package daemon

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// proofServer implements custosv1.ProofServiceServer (proof.go).
type proofServer struct {
	custosv1.UnimplementedProofServiceServer
	d *Daemon
}

func (s *proofServer) RequestProof(ctx context.Context, req *custosv1.RequestProofRequest) (*custosv1.RequestProofResponse, error) {
	const method = custosv1.ProofService_RequestProof_FullMethodName
	ops := make([]wire.OutPoint, 0, len(req.GetOutpoints()))
	for i, s2 := range req.GetOutpoints() {
		op, err := wire.NewOutPointFromString(s2)
		if err != nil {
			return nil, s.d.status(ctx, method, reserve.Invalid(fmt.Sprintf("outpoints[%d]", i), "%q is not TXID:VOUT", reserve.Clip(s2, 80)))
		}
		ops = append(ops, *op)
	}
	caller, _ := CallerFrom(ctx)
	p, err := s.d.requestProof(ctx, caller, req.GetMessage(), ops)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proofToProto(ctx, &p, true)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.RequestProofResponse{Proof: out}, nil
}

func (s *proofServer) GetProof(ctx context.Context, req *custosv1.GetProofRequest) (*custosv1.GetProofResponse, error) {
	const method = custosv1.ProofService_GetProof_FullMethodName
	p, err := s.d.proof(ctx, req.GetId())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proofToProto(ctx, &p, true)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.GetProofResponse{Proof: out}, nil
}

func (s *proofServer) ListProofs(ctx context.Context, _ *custosv1.ListProofsRequest) (*custosv1.ListProofsResponse, error) {
	const method = custosv1.ProofService_ListProofs_FullMethodName
	list, err := s.d.cfg.Store.Proofs(ctx, false)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	resp := &custosv1.ListProofsResponse{}
	for i := range list {
		out, err := s.d.proofToProto(ctx, &list[i], false)
		if err != nil {
			return nil, s.d.status(ctx, method, err)
		}
		resp.Proofs = append(resp.Proofs, out)
	}
	return resp, nil
}

func (s *proofServer) ApproveProof(ctx context.Context, req *custosv1.ApproveProofRequest) (*custosv1.ApproveProofResponse, error) {
	const method = custosv1.ProofService_ApproveProof_FullMethodName
	a, err := approvalFromProto(req.GetSignature())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	caller, _ := CallerFrom(ctx)
	p, err := s.d.approveProof(ctx, caller, req.GetId(), a)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proofToProto(ctx, &p, false)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.ApproveProofResponse{Proof: out}, nil
}

func (s *proofServer) ExportProof(ctx context.Context, req *custosv1.ExportProofRequest) (*custosv1.ExportProofResponse, error) {
	const method = custosv1.ProofService_ExportProof_FullMethodName
	b, err := s.d.exportProof(ctx, req.GetId())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.ExportProofResponse{Psbt: b}, nil
}

func (s *proofServer) ImportProof(ctx context.Context, req *custosv1.ImportProofRequest) (*custosv1.ImportProofResponse, error) {
	const method = custosv1.ProofService_ImportProof_FullMethodName
	if err := reserve.CheckProofID(req.GetId()); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if len(req.GetPsbt()) == 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("psbt", "is empty"))
	}
	incoming, err := multisig.ParsePSBT(req.GetPsbt())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	caller, _ := CallerFrom(ctx)
	p, added, err := s.d.importProof(ctx, caller, req.GetId(), incoming)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proofToProto(ctx, &p, false)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.ImportProofResponse{Proof: out, SignaturesAdded: uint32(added)}, nil
}

func (s *proofServer) FinalizeProof(ctx context.Context, req *custosv1.FinalizeProofRequest) (*custosv1.FinalizeProofResponse, error) {
	const method = custosv1.ProofService_FinalizeProof_FullMethodName
	caller, _ := CallerFrom(ctx)
	p, file, err := s.d.finalizeProof(ctx, caller, req.GetId(), req.GetIncludeDescriptor())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proofToProto(ctx, &p, false)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.FinalizeProofResponse{Proof: out, ProofJson: file}, nil
}

// proofToProto converts a proof, with what the policy in force and the
// wallet say it needs; withPSBT adds the PSBT.
func (d *Daemon) proofToProto(ctx context.Context, p *reserve.Proof, withPSBT bool) (*custosv1.Proof, error) {
	g, err := d.governance(ctx)
	if err != nil {
		return nil, err
	}
	out := &custosv1.Proof{
		Id: p.ID, WalletId: p.WalletID, State: stateToProto(p.State), Message: p.Message,
		TotalSat: p.TotalSat, Height: p.Height, BlockHash: p.BlockHash.String(), PolicyHash: p.PolicyHash[:],
		CreatedBy: p.CreatedBy, CreatedAtUnix: p.CreatedAt.Unix(), ExpiresAtUnix: p.ExpiresAt.Unix(),
	}
	for _, c := range p.Coins {
		out.Coins = append(out.Coins, &custosv1.ProofCoin{Txid: c.OutPoint.Hash.String(), Vout: c.OutPoint.Index,
			AmountSat: c.AmountSat, Index: c.Index, ChangeBranch: c.Branch == reserve.BranchChange})
	}
	for _, a := range p.Approvals {
		out.Approvals = append(out.Approvals, &custosv1.ProofApproval{Officer: a.Officer, AtUnix: a.At.Unix(),
			Signature: &custosv1.OfficerSignature{OfficerKey: a.Approval.OfficerKey[:], Signature: a.Approval.Signature[:]}})
	}
	if g.policy != nil {
		out.ApprovalsNeeded = uint32(g.policy.ProofRules().Approvals)
	}
	for _, s := range p.Signatures {
		out.Signers = append(out.Signers, &custosv1.ProposalSigner{Cosigner: uint32(s.Cosigner),
			Fingerprint: fmt.Sprintf("%08x", s.Fingerprint), AtUnix: s.At.Unix()})
	}
	if p.State == reserve.StateSigning {
		out.SignaturesNeeded = uint32(max(g.desc.Threshold()-len(p.Signatures), 0))
	}
	for _, h := range p.History {
		out.History = append(out.History, &custosv1.ProposalEvent{State: stateToProto(h.State), AtUnix: h.At.Unix(), Actor: h.Actor, Note: h.Note})
	}
	if withPSBT {
		out.Psbt = p.PSBT
	}
	s := proofStatement(g.wallet.Network, p)
	if digest, err := s.Digest(); err == nil {
		out.StatementDigest = digest[:]
	}
	return out, nil
}
