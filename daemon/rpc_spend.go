package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/wire"
	"google.golang.org/protobuf/proto"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// spendServer implements custosv1.SpendServiceServer.
type spendServer struct {
	custosv1.UnimplementedSpendServiceServer
	d *Daemon
}

func (s *spendServer) ProposeSpend(ctx context.Context, req *custosv1.ProposeSpendRequest) (*custosv1.ProposeSpendResponse, error) {
	const method = custosv1.SpendService_ProposeSpend_FullMethodName
	caller, _ := CallerFrom(ctx)
	payees, err := payeesFromProto(req.GetPayees())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	spec := spendSpec{Payees: payees, FeeRate: req.GetFeeRateSatVb(), Memo: req.GetMemo(), FeeCap: req.GetFeeCapSat(),
		Replaces: req.GetReplaces(), Repeat: req.GetRepeat()}
	var p reserve.Proposal
	if c := req.GetConsolidate(); c != nil {
		spec.consolidate = &consolidateSpec{MaxInputs: int(c.GetMaxInputs()), MinAge: c.GetMinAgeBlocks(), MaxAmountSat: c.GetMaxAmountSat()}
		p, err = s.d.consolidate(ctx, caller, spec)
	} else {
		p, err = s.d.propose(ctx, caller, spec)
	}
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.ProposeSpendResponse{Proposal: out}, nil
}

func (s *spendServer) ListProposals(ctx context.Context, req *custosv1.ListProposalsRequest) (*custosv1.ListProposalsResponse, error) {
	const method = custosv1.SpendService_ListProposals_FullMethodName
	state, err := stateFromProto(req.GetState())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	ps, next, err := s.d.proposalPage(ctx, state, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	// One view of the wallet and the tip renders every proposal: the
	// descriptor is parsed once per call, not once per proposal.
	view, err := s.d.proposalView(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := &custosv1.ListProposalsResponse{Proposals: make([]*custosv1.Proposal, len(ps)), NextPageToken: next}
	for i, p := range ps {
		if out.Proposals[i], err = view.toProto(p); err != nil {
			return nil, s.d.status(ctx, method, err)
		}
	}
	return out, nil
}

func (s *spendServer) GetProposal(ctx context.Context, req *custosv1.GetProposalRequest) (*custosv1.GetProposalResponse, error) {
	const method = custosv1.SpendService_GetProposal_FullMethodName
	p, err := s.d.proposal(ctx, req.GetId())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.GetProposalResponse{Proposal: out}, nil
}

func (s *spendServer) ExportPSBT(ctx context.Context, req *custosv1.ExportPSBTRequest) (*custosv1.ExportPSBTResponse, error) {
	const method = custosv1.SpendService_ExportPSBT_FullMethodName
	if err := s.d.checkRestored(ctx); err != nil { // backup.go: a restored daemon exports after ack-restore
		return nil, s.d.status(ctx, method, err)
	}
	p, err := s.d.proposal(ctx, req.GetId())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if err := s.d.checkSpendable(ctx, p); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if p.State != reserve.StateSigning {
		err := reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s; only a SIGNING proposal is exported to the signers", p.ID, p.State)
		return nil, s.d.status(ctx, method, err)
	}
	raw, err := s.d.exportPSBT(ctx, p) // audit_events.go: witness fields (witness.go), then the export's leaf
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	caller, _ := CallerFrom(ctx)
	s.d.log.Info("PSBT exported", "proposal", p.ID, "by", caller.Name)
	return &custosv1.ExportPSBTResponse{Psbt: raw}, nil
}

func (s *spendServer) ImportPSBT(ctx context.Context, req *custosv1.ImportPSBTRequest) (*custosv1.ImportPSBTResponse, error) {
	const method = custosv1.SpendService_ImportPSBT_FullMethodName
	if err := checkID(req.GetId()); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if len(req.GetPsbt()) == 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("psbt", "is empty"))
	}
	caller, _ := CallerFrom(ctx)
	before, err := s.d.proposal(ctx, req.GetId())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if err := s.d.checkSpendable(ctx, before); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	_, desc, err := s.d.wallet(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	// Parsed once: a PSBT may be up to multisig.MaxPSBTBytes.
	incoming, err := multisig.ParsePSBT(req.GetPsbt())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	witnessed, err := s.d.checkCosignatures(ctx, incoming, desc) // witness.go: refused before anything is stored
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	p, added, err := s.d.importPSBT(ctx, caller, req.GetId(), incoming, witnessed)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	resp := &custosv1.ImportPSBTResponse{Proposal: out, SignaturesAdded: uint32(len(added))}
	for _, sig := range p.Signatures {
		if !before.Signed(sig.Cosigner) {
			resp.NewSigners = append(resp.NewSigners, uint32(sig.Cosigner))
		}
	}
	return resp, nil
}

func (s *spendServer) CancelProposal(ctx context.Context, req *custosv1.CancelProposalRequest) (*custosv1.CancelProposalResponse, error) {
	const method = custosv1.SpendService_CancelProposal_FullMethodName
	if err := checkID(req.GetId()); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	caller, _ := CallerFrom(ctx)
	if !req.GetConflict() {
		if req.GetFeeRateSatVb() != 0 {
			return nil, s.d.status(ctx, method, reserve.Invalid("fee_rate", "a fee rate is only for a conflicting transaction (conflict)"))
		}
		p, err := s.d.cancel(ctx, caller, req.GetId(), req.GetReason())
		if err != nil {
			return nil, s.d.status(ctx, method, err)
		}
		out, err := s.d.proposalToProto(ctx, p)
		if err != nil {
			return nil, s.d.status(ctx, method, err)
		}
		return &custosv1.CancelProposalResponse{Proposal: out}, nil
	}
	p, c, err := s.d.cancelConflict(ctx, caller, req.GetId(), req.GetReason(), req.GetFeeRateSatVb())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	conflict, err := s.d.proposalToProto(ctx, c)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.CancelProposalResponse{Proposal: out, Conflict: conflict}, nil
}

func (s *spendServer) DecideProposal(ctx context.Context, req *custosv1.DecideProposalRequest) (*custosv1.DecideProposalResponse, error) {
	const method = custosv1.SpendService_DecideProposal_FullMethodName
	if err := checkID(req.GetId()); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	a, err := approvalFromProto(req.GetSignature())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	var dec reserve.Decision
	switch req.GetDecision() {
	case custosv1.Decision_DECISION_APPROVE:
		dec = reserve.DecisionApprove
	case custosv1.Decision_DECISION_REJECT:
		dec = reserve.DecisionReject
	case custosv1.Decision_DECISION_UNSPECIFIED:
		return nil, s.d.status(ctx, method, reserve.Invalid("decision", "must be approve or reject"))
	default:
		return nil, s.d.status(ctx, method, reserve.Invalid("decision", "unknown decision %d", req.GetDecision()))
	}
	caller, _ := CallerFrom(ctx)
	p, err := s.d.decide(ctx, caller, req.GetId(), dec, a)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.DecideProposalResponse{Proposal: out}, nil
}

func (s *spendServer) BumpFee(ctx context.Context, req *custosv1.BumpFeeRequest) (*custosv1.BumpFeeResponse, error) {
	const method = custosv1.SpendService_BumpFee_FullMethodName
	if err := checkID(req.GetId()); err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	caller, _ := CallerFrom(ctx)
	p, err := s.d.bump(ctx, caller, req.GetId(), req.GetFeeRateSatVb())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.BumpFeeResponse{Proposal: out}, nil
}

// payeesFromProto reads requested payments, refusing more than maxPayees
// before converting any.
func payeesFromProto(ps []*custosv1.Payment) ([]payeeSpec, error) {
	if len(ps) > maxPayees {
		return nil, reserve.Invalid("payees", "at most %d payees", maxPayees)
	}
	var out []payeeSpec
	for _, p := range ps {
		out = append(out, payeeSpec{Address: p.GetAddress(), AmountSat: p.GetAmountSat()})
	}
	return out, nil
}

// approvalFromProto checks the lengths of an officer's key and signature.
func approvalFromProto(s *custosv1.OfficerSignature) (reserve.Approval, error) {
	var a reserve.Approval
	if len(s.GetOfficerKey()) != len(a.OfficerKey) {
		return a, reserve.Invalid("signature.officer_key", "%d bytes, want 32", len(s.GetOfficerKey()))
	}
	if len(s.GetSignature()) != len(a.Signature) {
		return a, reserve.Invalid("signature.signature", "%d bytes, want 64", len(s.GetSignature()))
	}
	copy(a.OfficerKey[:], s.GetOfficerKey())
	copy(a.Signature[:], s.GetSignature())
	return a, nil
}

// proposal loads one proposal by a checked id.
func (d *Daemon) proposal(ctx context.Context, id string) (reserve.Proposal, error) {
	if err := checkID(id); err != nil {
		return reserve.Proposal{}, err
	}
	return d.cfg.Store.Proposal(ctx, id)
}

// checkID refuses ids that cannot be a proposal id before any lookup.
func checkID(id string) error { return reserve.CheckProposalID(id) }

func stateToProto(s reserve.State) custosv1.ProposalState {
	// The numbers are the same on both sides by construction; the switch
	// keeps that explicit and exhaustive.
	switch s {
	case reserve.StatePendingApproval:
		return custosv1.ProposalState_PROPOSAL_STATE_PENDING_APPROVAL
	case reserve.StateApproved:
		return custosv1.ProposalState_PROPOSAL_STATE_APPROVED
	case reserve.StateSigning:
		return custosv1.ProposalState_PROPOSAL_STATE_SIGNING
	case reserve.StateFinalized:
		return custosv1.ProposalState_PROPOSAL_STATE_FINALIZED
	case reserve.StateBroadcast:
		return custosv1.ProposalState_PROPOSAL_STATE_BROADCAST
	case reserve.StateConfirmed:
		return custosv1.ProposalState_PROPOSAL_STATE_CONFIRMED
	case reserve.StateRejected:
		return custosv1.ProposalState_PROPOSAL_STATE_REJECTED
	case reserve.StateCancelled:
		return custosv1.ProposalState_PROPOSAL_STATE_CANCELLED
	case reserve.StateExpired:
		return custosv1.ProposalState_PROPOSAL_STATE_EXPIRED
	case reserve.StateFailed:
		return custosv1.ProposalState_PROPOSAL_STATE_FAILED
	case reserve.StateReplaced:
		return custosv1.ProposalState_PROPOSAL_STATE_REPLACED
	case reserve.StateUnspecified:
	}
	return custosv1.ProposalState_PROPOSAL_STATE_UNSPECIFIED
}

func stateFromProto(s custosv1.ProposalState) (reserve.State, error) {
	if s == custosv1.ProposalState_PROPOSAL_STATE_UNSPECIFIED {
		return reserve.StateUnspecified, nil
	}
	st := reserve.State(s)
	if stateToProto(st) != s {
		return 0, reserve.Invalid("state", "unknown proposal state %d", int32(s))
	}
	return st, nil
}

// proposalView is what rendering a proposal needs besides the proposal:
// the wallet, its parsed descriptor and the synced tip.
type proposalView struct {
	wallet reserve.Wallet
	desc   *multisig.Descriptor
	tip    int32
	synced bool
	// policy is the policy in force, nil before the first; policyHash is
	// its recorded hash, the one intents carry, so that rendering a list
	// does not hash the policy once per proposal.
	policy     *reserve.Policy
	policyHash [32]byte
	now        time.Time
}

func (d *Daemon) proposalView(ctx context.Context) (proposalView, error) {
	g, err := d.governance(ctx)
	if err != nil {
		return proposalView{}, err
	}
	tip, _, ok, err := d.cfg.Store.SyncTip(ctx)
	if err != nil {
		return proposalView{}, err
	}
	v := proposalView{wallet: g.wallet, desc: g.desc, tip: tip, synced: ok, policy: g.policy, now: d.cfg.Now()}
	if g.Policy != nil {
		v.policyHash = g.Policy.Hash
	}
	return v, nil
}

// proposalToProto renders one proposal with what the chain says of it,
// and, once it has its final transaction, which cosigners' signatures are
// in it (a list leaves that out: it parses the proposal's PSBT).
func (d *Daemon) proposalToProto(ctx context.Context, p reserve.Proposal) (*custosv1.Proposal, error) {
	v, err := d.proposalView(ctx)
	if err != nil {
		return nil, err
	}
	out, err := v.toProto(p)
	if err != nil {
		return nil, err
	}
	if p.State == reserve.StateFinalized {
		out.WaitingReason = d.waiting.get(p.ID)
	}
	// signer_requests.go: refusals by online signers, recorded as audit
	// leaves, shown in the history at their time.
	notes, err := d.refusalNotes(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, h := range notes {
		out.History = append(out.History, &custosv1.ProposalEvent{State: stateToProto(h.State), AtUnix: h.At.Unix(), Actor: h.Actor, Note: h.Note})
	}
	slices.SortStableFunc(out.History, func(a, b *custosv1.ProposalEvent) int { return cmp.Compare(a.AtUnix, b.AtUnix) })
	if !p.State.HoldsCoins() {
		res, err := d.cfg.Store.Reservations(ctx)
		if err != nil {
			return nil, err
		}
		out.CoinsHeld = holds(p, res)
	}
	if len(p.FinalTx) == 0 {
		return out, nil
	}
	in, err := d.parsed.transactionSigners(&p, v.desc)
	if err != nil {
		return nil, err
	}
	for _, s := range out.Signers {
		if int(s.Cosigner) < len(in) {
			s.InTransaction = proto.Bool(in[s.Cosigner])
		}
	}
	return out, nil
}

// transactionSigners says, per cosigner, whether its signatures are in
// the proposal's final transaction.
func transactionSigners(p *reserve.Proposal, desc *multisig.Descriptor) ([]bool, error) {
	pkt, err := storedPSBT(p)
	if err != nil {
		return nil, err
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "stored final transaction of proposal %s does not decode: %v", p.ID, err)
	}
	return multisig.TransactionSigners(pkt, &tx, desc), nil
}

func (v proposalView) toProto(p reserve.Proposal) (*custosv1.Proposal, error) {
	out := &custosv1.Proposal{
		Id: p.ID, WalletId: p.WalletID, State: stateToProto(p.State), Memo: p.Memo,
		FeeRateSatVb: p.FeeRate, FeeSat: p.FeeSat, Vsize: p.VSize, Txid: p.Txid.String(),
		ConfirmedHeight: p.ConfirmedHeight, FailReason: p.FailReason, CreatedBy: p.CreatedBy,
		CreatedAtUnix: p.CreatedAt.Unix(), ExpiresAtUnix: p.ExpiresAt.Unix(),
	}
	var labels map[string]string
	if v.policy != nil && len(p.Payees) > 0 && len(v.policy.Allowlist.Entries) > 0 {
		labels = make(map[string]string, len(v.policy.Allowlist.Entries))
		for _, e := range v.policy.Allowlist.Entries {
			labels[e.Address] = e.Label
		}
	}
	for _, pay := range p.Payees {
		out.Payees = append(out.Payees, &custosv1.Payment{Address: pay.Address, AmountSat: pay.AmountSat, Label: labels[pay.Address]})
	}
	for _, in := range p.Inputs {
		out.Inputs = append(out.Inputs, &custosv1.ProposalInput{
			Txid: in.OutPoint.Hash.String(), Vout: in.OutPoint.Index, AmountSat: in.AmountSat,
			Index: in.Index, ChangeBranch: in.Branch == reserve.BranchChange,
		})
	}
	if p.Change != nil {
		c, err := v.desc.Derive(reserve.BranchChange, p.Change.Index)
		if err != nil {
			return nil, err
		}
		out.Change = &custosv1.ProposalChange{Vout: p.Change.Vout, Index: p.Change.Index, AmountSat: p.Change.AmountSat, Address: c.Address}
	}
	for _, s := range p.Signatures {
		out.Signers = append(out.Signers, &custosv1.ProposalSigner{
			Cosigner: uint32(s.Cosigner), Fingerprint: fmt.Sprintf("%08x", s.Fingerprint), AtUnix: s.At.Unix(),
		})
	}
	if need := v.wallet.Threshold - len(p.Signatures); need > 0 {
		out.SignaturesNeeded = uint32(need)
	}
	for _, h := range p.History {
		out.History = append(out.History, &custosv1.ProposalEvent{State: stateToProto(h.State), AtUnix: h.At.Unix(), Actor: h.Actor, Note: h.Note})
	}
	if v.synced && p.ConfirmedHeight > 0 && v.tip >= p.ConfirmedHeight {
		out.Confirmations = v.tip - p.ConfirmedHeight + 1
	}
	if n := len(p.UnsignedTx); n >= 4 {
		// A serialized transaction ends with its locktime.
		out.Locktime = binary.LittleEndian.Uint32(p.UnsignedTx[n-4:])
	}
	return out, v.approvalsToProto(p, out)
}

// approvalsToProto adds the intent, the decisions and what the proposal
// needs under the policy in force (velocity left out: the daemon checks
// it when counting approvals).
func (v proposalView) approvalsToProto(p reserve.Proposal, out *custosv1.Proposal) error {
	if p.Intent == nil {
		return nil
	}
	enc, err := p.Intent.Encode()
	if err != nil {
		return err
	}
	out.Intent, out.FeeCapSat, out.Replaces = enc, p.Intent.FeeCapSat, p.Replaces
	out.Supersedes, out.Repeat, out.Consolidate = p.Intent.Supersedes, p.Intent.Repeat, p.Intent.Consolidate
	if !p.ReleaseAt.IsZero() {
		out.ReleaseAtUnix = p.ReleaseAt.Unix()
	}
	for _, d := range p.Decisions {
		dec := custosv1.Decision_DECISION_APPROVE
		if d.Decision == reserve.DecisionReject {
			dec = custosv1.Decision_DECISION_REJECT
		}
		out.Decisions = append(out.Decisions, &custosv1.ProposalDecision{Officer: d.Officer, Decision: dec, AtUnix: d.At.Unix()})
	}
	if v.policy != nil && v.policyHash == p.Intent.PolicyHash {
		pays, _ := payments(p.Payees)
		if req, err := v.policy.Require(pays, p.FeeSat, p.VSize, reserve.Spent{}, v.now); err == nil {
			out.ApprovalsNeeded = uint32(req.Approvals)
			out.Tier, out.CoolOffSeconds = uint32(req.Tier), int64(req.CoolOff/time.Second)
		}
	}
	return nil
}
