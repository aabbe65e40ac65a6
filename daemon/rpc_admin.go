package daemon

import (
	"context"
	"encoding/hex"

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

// backupChunkBytes is the largest chunk of a backup sent in one message:
// far under MaxRequestBytes, and small enough that a slow client holds
// little of the file in the daemon's send buffers.
const backupChunkBytes = 64 << 10

func (s *adminServer) Backup(_ *custosv1.BackupRequest, stream custosv1.AdminService_BackupServer) error {
	const method = custosv1.AdminService_Backup_FullMethodName
	ctx := stream.Context()
	w := &chunkSender{send: func(b []byte) error { return stream.Send(&custosv1.BackupResponse{Chunk: b}) }}
	res, err := s.d.backup(ctx, w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return s.d.status(ctx, method, err)
	}
	return stream.Send(&custosv1.BackupResponse{Summary: &custosv1.BackupSummary{
		HeaderSha256:   res.HeaderDigest[:],
		StoreSha256:    mustHex(res.StoreSHA256),
		StoreSize:      res.StoreSize,
		CheckpointSize: res.CheckpointSize,
	}})
}

func (s *adminServer) AckRestore(ctx context.Context, _ *custosv1.AckRestoreRequest) (*custosv1.AckRestoreResponse, error) {
	r, err := s.d.ackRestore(ctx)
	if err != nil {
		return nil, s.d.status(ctx, custosv1.AdminService_AckRestore_FullMethodName, err)
	}
	return &custosv1.AckRestoreResponse{TakenUnix: r.Taken.Unix(), CheckpointSize: r.CheckpointSize, HeaderSha256: r.HeaderDigest[:]}, nil
}

// chunkSender cuts what is written into messages of backupChunkBytes.
type chunkSender struct {
	send func([]byte) error
	buf  []byte
}

func (c *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunkBytes-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == backupChunkBytes {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkSender) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = make([]byte, 0, backupChunkBytes)
	return err
}

// mustHex decodes hex the daemon itself encoded.
func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}
