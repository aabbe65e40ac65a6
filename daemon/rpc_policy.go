package daemon

import (
	"context"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// policyServer implements custosv1.PolicyServiceServer.
type policyServer struct {
	custosv1.UnimplementedPolicyServiceServer
	d *Daemon
}

func (s *policyServer) GetPolicy(ctx context.Context, _ *custosv1.GetPolicyRequest) (*custosv1.GetPolicyResponse, error) {
	const method = custosv1.PolicyService_GetPolicy_FullMethodName
	g, err := s.d.governance(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	history, err := s.d.cfg.Store.Policies(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := governanceToProto(g)
	for i := range history {
		out.History = append(out.History, policyRecordToProto(&history[i]))
	}
	return out, nil
}

func (s *policyServer) SetPolicy(ctx context.Context, req *custosv1.SetPolicyRequest) (*custosv1.SetPolicyResponse, error) {
	const method = custosv1.PolicyService_SetPolicy_FullMethodName
	caller, _ := CallerFrom(ctx)
	g, applied, err := s.d.setPolicy(ctx, caller, req.GetText())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.SetPolicyResponse{Governance: governanceToProto(g), Applied: applied}, nil
}

func (s *policyServer) ApprovePolicy(ctx context.Context, req *custosv1.ApprovePolicyRequest) (*custosv1.ApprovePolicyResponse, error) {
	const method = custosv1.PolicyService_ApprovePolicy_FullMethodName
	var h [32]byte
	if len(req.GetNewHash()) != len(h) {
		return nil, s.d.status(ctx, method, reserve.Invalid("new_hash", "%d bytes, want 32", len(req.GetNewHash())))
	}
	copy(h[:], req.GetNewHash())
	a, err := approvalFromProto(req.GetSignature())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	g, applied, err := s.d.approvePolicy(ctx, h, a)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.ApprovePolicyResponse{Governance: governanceToProto(g), Applied: applied}, nil
}

func (s *policyServer) CheckPayment(ctx context.Context, req *custosv1.CheckPaymentRequest) (*custosv1.CheckPaymentResponse, error) {
	const method = custosv1.PolicyService_CheckPayment_FullMethodName
	specs, err := payeesFromProto(req.GetPayees())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	req2, pol, total, err := s.d.checkPayment(ctx, specs)
	if reserve.CodeOf(err) == reserve.CodeDenied {
		// A refusal by the policy is the answer, not a failed call.
		return &custosv1.CheckPaymentResponse{Allowed: false, Refusal: err.Error(), TotalSat: total}, nil
	}
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := &custosv1.CheckPaymentResponse{
		Allowed: true, Tier: uint32(req2.Tier), Approvals: uint32(req2.Approvals),
		CoolOffSeconds: int64(req2.CoolOff.Seconds()), Unlisted: req2.Unlisted, TotalSat: total,
	}
	// The tier of the policy evaluated: reading the governance again
	// could find a changed policy with fewer tiers.
	if t := pol.Tiers[req2.Tier]; !t.Unlimited() {
		up := t.UpToSat
		out.TierUpToSat = &up
	}
	return out, nil
}

func (s *policyServer) Freeze(ctx context.Context, req *custosv1.FreezeRequest) (*custosv1.FreezeResponse, error) {
	const method = custosv1.PolicyService_Freeze_FullMethodName
	a, err := approvalFromProto(req.GetSignature())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	g, err := s.d.freeze(ctx, req.GetEpoch(), a, req.GetReason())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.FreezeResponse{Freeze: freezeToProto(g)}, nil
}

func (s *policyServer) Unfreeze(ctx context.Context, req *custosv1.UnfreezeRequest) (*custosv1.UnfreezeResponse, error) {
	const method = custosv1.PolicyService_Unfreeze_FullMethodName
	a, err := approvalFromProto(req.GetSignature())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	g, err := s.d.unfreeze(ctx, req.GetEpoch(), a)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.UnfreezeResponse{Freeze: freezeToProto(g)}, nil
}

func governanceToProto(g governed) *custosv1.GetPolicyResponse {
	out := &custosv1.GetPolicyResponse{
		Policy: policyRecordToProto(g.Policy), Pending: policyRecordToProto(g.Pending),
		Freeze: freezeToProto(g), Network: networkToProto(g.wallet.Network), WalletId: g.wallet.ID,
	}
	if g.Pending != nil && g.policy != nil {
		out.PendingNeeded = uint32(g.policy.ChangeApprovals())
	}
	return out
}

func policyRecordToProto(r *reserve.PolicyRecord) *custosv1.PolicyInfo {
	if r == nil {
		return nil
	}
	return &custosv1.PolicyInfo{
		Seq: r.Seq, Text: r.Text, Hash: r.Hash[:], SetBy: r.By, SetAtUnix: r.At.Unix(),
		Approvals: controlsToProto(r.Approvals),
	}
}

func controlsToProto(sigs []reserve.ControlSignature) []*custosv1.ControlApproval {
	var out []*custosv1.ControlApproval
	for _, s := range sigs {
		out = append(out, &custosv1.ControlApproval{
			Officer: s.Officer, AtUnix: s.At.Unix(),
			OfficerKey: s.Approval.OfficerKey[:], Signature: s.Approval.Signature[:],
		})
	}
	return out
}

func freezeToProto(g governed) *custosv1.FreezeInfo {
	f := g.Freeze
	out := &custosv1.FreezeInfo{
		Frozen: f.Frozen, Epoch: f.Epoch, Reason: f.Reason, UnfreezeApprovals: controlsToProto(f.Unfreeze),
	}
	if f.Epoch > 0 {
		out.FrozenBy, out.FrozenAtUnix = f.By.Officer, f.By.At.Unix()
	}
	if g.policy != nil {
		out.UnfreezeNeeded = uint32(g.policy.UnfreezeApprovals)
	}
	return out
}
