package daemon

import (
	"context"

	"github.com/custos-reserve/custos/audit"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// maxAuditPage is the page of the reads behind the streams: the largest
// page any listing returns.
const maxAuditPage = reserve.MaxPageSize

// auditServer implements custosv1.AuditServiceServer.
type auditServer struct {
	custosv1.UnimplementedAuditServiceServer
	d *Daemon
}

func (s *auditServer) GetCheckpoint(ctx context.Context, req *custosv1.GetCheckpointRequest) (*custosv1.GetCheckpointResponse, error) {
	const method = custosv1.AuditService_GetCheckpoint_FullMethodName
	if req.GetSize() < 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("size", "is negative"))
	}
	_, signed, err := s.d.checkpoint(ctx, req.GetSize())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.GetCheckpointResponse{Checkpoint: signed, LogKey: s.d.logKey.vkey}, nil
}

func (s *auditServer) ListAudit(ctx context.Context, req *custosv1.ListAuditRequest) (*custosv1.ListAuditResponse, error) {
	const method = custosv1.AuditService_ListAudit_FullMethodName
	// The audit log keeps from_seq as its cursor (a leaf's seq is public
	// and stable); page_size follows the rule of every list (pageSize).
	from := req.GetFromSeq()
	if from < 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("from_seq", "is negative"))
	}
	page, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	from = max(from, 1)
	leaves, err := s.d.audit.AuditLeaves(ctx, from, 0, page)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := &custosv1.ListAuditResponse{Leaves: leaves}
	if len(leaves) == page {
		out.NextSeq = from + int64(page)
	}
	return out, nil
}

func (s *auditServer) TailAudit(req *custosv1.TailAuditRequest, stream custosv1.AuditService_TailAuditServer) error {
	const method = custosv1.AuditService_TailAudit_FullMethodName
	ctx := stream.Context()
	if req.GetFromSeq() < 0 {
		return s.d.status(ctx, method, reserve.Invalid("from_seq", "is negative"))
	}
	next := max(req.GetFromSeq(), 1)
	for {
		// Taken before the read: a leaf committed after the read closes
		// this channel, so none is missed.
		changed := s.d.audit.AuditChanged()
		leaves, err := s.d.audit.AuditLeaves(ctx, next, 0, maxAuditPage)
		if err != nil {
			return s.d.status(ctx, method, err)
		}
		for _, l := range leaves {
			if err := stream.Send(&custosv1.TailAuditResponse{Leaf: l}); err != nil {
				return err
			}
		}
		next += int64(len(leaves))
		if len(leaves) == maxAuditPage {
			continue
		}
		if !req.GetFollow() {
			return nil
		}
		select {
		case <-ctx.Done():
			return s.d.status(ctx, method, ctx.Err())
		case <-changed:
		}
	}
}

func (s *auditServer) ExportAudit(_ *custosv1.ExportAuditRequest, stream custosv1.AuditService_ExportAuditServer) error {
	const method = custosv1.AuditService_ExportAudit_FullMethodName
	ctx := stream.Context()
	cp, signed, err := s.d.checkpoint(ctx, 0)
	if err != nil {
		return s.d.status(ctx, method, err)
	}
	witnesses, err := s.d.witnessExport(ctx, cp) // witness.go: the witnesses' cosignatures
	if err != nil {
		return s.d.status(ctx, method, err)
	}
	var header lineBuffer
	if err := audit.WriteExportHeader(&header, signed, witnesses...); err != nil {
		return s.d.status(ctx, method, err)
	}
	if err := stream.Send(&custosv1.ExportAuditResponse{Line: header.line()}); err != nil {
		return err
	}
	// Leaves never change once written: reading them page by page after
	// the checkpoint gives exactly the tree it signed.
	for next := int64(1); next <= cp.Size; {
		leaves, err := s.d.audit.AuditLeaves(ctx, next, cp.Size, maxAuditPage)
		if err != nil {
			return s.d.status(ctx, method, err)
		}
		if len(leaves) == 0 {
			return s.d.status(ctx, method, reserve.Errorf(reserve.CodeInternal, "audit log ends at %d, before its checkpoint's size %d", next-1, cp.Size))
		}
		for _, l := range leaves {
			if err := stream.Send(&custosv1.ExportAuditResponse{Line: l}); err != nil {
				return err
			}
		}
		next += int64(len(leaves))
	}
	return nil
}

// lineBuffer collects one line written by the audit package.
type lineBuffer struct{ b []byte }

func (w *lineBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *lineBuffer) line() []byte {
	if n := len(w.b); n > 0 && w.b[n-1] == '\n' {
		return w.b[:n-1]
	}
	return w.b
}

func (s *auditServer) ProveInclusion(ctx context.Context, req *custosv1.ProveInclusionRequest) (*custosv1.ProveInclusionResponse, error) {
	const method = custosv1.AuditService_ProveInclusion_FullMethodName
	if req.GetSize() < 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("size", "is negative"))
	}
	p, err := s.d.audit.ProveAuditInclusion(ctx, req.GetSeq(), req.GetSize())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	_, signed, err := s.d.checkpoint(ctx, p.Size)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	leaves, err := s.d.audit.AuditLeaves(ctx, p.Seq, p.Seq, 1)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	if len(leaves) != 1 {
		return nil, s.d.status(ctx, method, reserve.Errorf(reserve.CodeInternal, "audit leaf %d is missing", p.Seq))
	}
	text, _ := p.MarshalText()
	return &custosv1.ProveInclusionResponse{Leaf: leaves[0], Proof: text, Checkpoint: signed}, nil
}

func (s *auditServer) ProveConsistency(ctx context.Context, req *custosv1.ProveConsistencyRequest) (*custosv1.ProveConsistencyResponse, error) {
	const method = custosv1.AuditService_ProveConsistency_FullMethodName
	if req.GetNewSize() < 0 {
		return nil, s.d.status(ctx, method, reserve.Invalid("new_size", "is negative"))
	}
	p, err := s.d.audit.ProveAuditConsistency(ctx, req.GetOldSize(), req.GetNewSize())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	_, oldSigned, err := s.d.checkpoint(ctx, p.Old)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	_, newSigned, err := s.d.checkpoint(ctx, p.New)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	text, _ := p.MarshalText()
	return &custosv1.ProveConsistencyResponse{Proof: text, OldCheckpoint: oldSigned, NewCheckpoint: newSigned}, nil
}
