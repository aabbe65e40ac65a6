package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"time"

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/durable"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// adminBackupCmd is `custosctl admin backup --out FILE`: the daemon streams
// a backup already encrypted to its --backup-recipient keys; the file is
// written beside FILE, checked against the summary (the header digest in
// the clear) and linked into place, never over an existing file.
func adminBackupCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "file to write the encrypted backup to (required; never overwritten)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out FILE is required")
		}
		stream, err := custosv1.NewAdminServiceClient(e.conn).Backup(withoutDeadline(e.ctx), &custosv1.BackupRequest{})
		if err != nil {
			return err
		}
		var sum *custosv1.BackupSummary
		fill := func(w io.Writer) error {
			for {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				if sum != nil {
					return errors.New("the daemon sent data after the backup's summary")
				}
				if _, err := w.Write(m.GetChunk()); err != nil {
					return err
				}
				sum = m.GetSummary()
			}
			if sum == nil {
				return errors.New("the backup stream ended without its summary: the file is incomplete")
			}
			return nil
		}
		check := func(r io.Reader) error { return checkBackupFile(r, sum.GetHeaderSha256()) }
		if err := durable.WriteFrom(*out, 0o600, false, fill, check); err != nil {
			if errors.Is(err, iofs.ErrExist) {
				return fmt.Errorf("refusing to overwrite %s", *out)
			}
			return err
		}
		res := map[string]any{
			"file":            *out,
			"header_sha256":   hex.EncodeToString(sum.GetHeaderSha256()),
			"store_sha256":    hex.EncodeToString(sum.GetStoreSha256()),
			"store_size":      sum.GetStoreSize(),
			"checkpoint_size": sum.GetCheckpointSize(),
		}
		if e.common.json {
			return printJSON(e.stdout, res)
		}
		_, err = printf(e.stdout, "wrote %s: header-sha256 %s, store %d bytes sha256 %s, audit size %d\n",
			*out, res["header_sha256"], res["store_size"], res["store_sha256"], res["checkpoint_size"])
		return err
	}
}

// checkBackupFile reads the clear preamble of the file written and
// compares its header digest with the one the daemon reported.
func checkBackupFile(r io.Reader, want []byte) error {
	got, err := backup.ReadPreamble(bufio.NewReader(r))
	if err != nil {
		return fmt.Errorf("the backup received is not a backup: %w", err)
	}
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("the backup received announces header-sha256 %x, the daemon reported %x", got, want)
	}
	return nil
}

// adminAckRestoreCmd is `custosctl admin ack-restore`: after confirming
// with the ministries that they witnessed no later log than the backup's
// checkpoint, an admin lets the restored daemon export again.
func adminAckRestoreCmd(_ *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := custosv1.NewAdminServiceClient(e.conn).AckRestore(e.ctx, &custosv1.AckRestoreRequest{})
		if err != nil {
			return err
		}
		taken := time.Unix(r.GetTakenUnix(), 0).UTC().Format(time.RFC3339)
		if e.common.json {
			return printJSON(e.stdout, map[string]any{"taken": taken, "checkpoint_size": r.GetCheckpointSize(), "header_sha256": hex.EncodeToString(r.GetHeaderSha256())})
		}
		_, err = printf(e.stdout, "restore acknowledged: backup %x taken %s at audit size %d; exports are allowed again\n", r.GetHeaderSha256(), taken, r.GetCheckpointSize())
		return err
	}
}
