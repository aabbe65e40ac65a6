package daemon

import (
	"context"

	"google.golang.org/grpc/metadata"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// signerServer implements custosv1.SignerServiceServer for online signer
// agents (signer_requests.go).
type signerServer struct {
	custosv1.UnimplementedSignerServiceServer
	d *Daemon
}

func (s *signerServer) SigningRequests(_ *custosv1.SigningRequestsRequest, stream custosv1.SignerService_SigningRequestsServer) error {
	const method = custosv1.SignerService_SigningRequests_FullMethodName
	ctx := stream.Context()
	caller, _ := CallerFrom(ctx)
	opened := func() error { return stream.SendHeader(metadata.MD{}) }
	err := s.d.followSigningRequests(ctx, caller, opened, func(ev signerEvent) error {
		return stream.Send(signerEventToProto(ev))
	})
	return s.d.status(ctx, method, err)
}

func (s *signerServer) RefuseRequest(ctx context.Context, req *custosv1.RefuseRequestRequest) (*custosv1.RefuseRequestResponse, error) {
	const method = custosv1.SignerService_RefuseRequest_FullMethodName
	caller, _ := CallerFrom(ctx)
	p, err := s.d.refuseRequest(ctx, caller, req.GetProposalId(), req.GetReason())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out, err := s.d.proposalToProto(ctx, p)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.RefuseRequestResponse{Proposal: out}, nil
}

// signerEventToProto converts one event of a request stream.
func signerEventToProto(ev signerEvent) *custosv1.SigningRequestsResponse {
	if r := ev.Request; r != nil {
		return &custosv1.SigningRequestsResponse{Event: &custosv1.SigningRequestsResponse_Request{Request: &custosv1.SigningRequest{
			ProposalId: r.ID, Txid: r.Txid.String(), Psbt: r.PSBT, Cosigner: uint32(r.Cosigner),
		}}}
	}
	w := ev.Withdrawal
	return &custosv1.SigningRequestsResponse{Event: &custosv1.SigningRequestsResponse_Withdrawal{Withdrawal: &custosv1.SigningWithdrawal{
		ProposalId: w.ID, State: stateToProto(w.State), Reason: w.Reason,
	}}}
}
