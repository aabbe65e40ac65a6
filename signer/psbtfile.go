package signer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// ReadPSBT reads a PSBT file, binary or base64, as it comes from the
// coordinator or a USB stick. A file over multisig.MaxPSBTFileBytes (room
// for a PSBT of multisig.MaxPSBTBytes in base64) is refused before it is
// read (a wrong path to a disk image must not fill memory), and so is one
// that grows past the limit while it is read; ParsePSBT then refuses a
// PSBT over multisig.MaxPSBTBytes in either form.
func ReadPSBT(path string) (*psbt.Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeNotFound, "unable to open the PSBT: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, reserve.Errorf(reserve.CodeInvalid, "%s is a directory, not a PSBT file", path)
	}
	tooBig := func(size string) error {
		return reserve.Errorf(reserve.CodeInvalid, "%s is %s bytes; a PSBT file may have at most %d bytes (a PSBT of %d bytes in base64)",
			path, size, multisig.MaxPSBTFileBytes, multisig.MaxPSBTBytes)
	}
	if st.Mode().IsRegular() && st.Size() > multisig.MaxPSBTFileBytes {
		return nil, tooBig(fmt.Sprint(st.Size()))
	}
	data, err := io.ReadAll(io.LimitReader(f, multisig.MaxPSBTFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	if len(data) > multisig.MaxPSBTFileBytes {
		return nil, tooBig(fmt.Sprintf("more than %d", multisig.MaxPSBTFileBytes))
	}
	if len(data) == 0 {
		return nil, reserve.Errorf(reserve.CodeInvalid, "%s is empty, not a PSBT", path)
	}
	p, err := multisig.ParsePSBT(data)
	var re *reserve.Error
	if errors.As(err, &re) {
		// "FILE: malformed PSBT: …" reads better than the field name.
		return nil, &reserve.Error{Code: re.Code, Msg: path + ": " + re.Msg, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ErrOutputExists is returned by WritePSBT when the output file exists.
// It wraps fs.ErrExist.
var ErrOutputExists = fmt.Errorf("output file already exists: %w", fs.ErrExist)

// WritePSBT writes p to a new file at path, mode 0600, binary or base64
// (one line, no line end). The file appears whole or not at all (temp
// file, fsync, then a hard link that cannot replace anything), and an
// existing path is never overwritten: the error then wraps
// ErrOutputExists.
func WritePSBT(path string, p *psbt.Packet, b64 bool) error {
	data, err := multisig.SerializePSBT(p)
	if err != nil {
		return fmt.Errorf("unable to serialize the signed PSBT: %w", err)
	}
	if b64 {
		data = []byte(base64.StdEncoding.EncodeToString(data))
	}
	if err := CheckNoFile(path); err != nil {
		return err
	}
	if err := durable.Write(path, data, 0o600, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	return nil
}

// CheckNoFile fails with ErrOutputExists when path exists, so a caller
// can refuse before it asks the operator anything. WritePSBT checks again
// without a race.
func CheckNoFile(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return existsError(path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("unable to check %s: %w", path, err)
}

func existsError(path string) error {
	return &reserve.Error{Code: reserve.CodeConflict, Msg: fmt.Sprintf("refusing to overwrite %s: it already exists", path), Err: ErrOutputExists}
}
