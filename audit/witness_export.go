package audit

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/reserve"
)

// ExportWitness is one witness's latest cosignature in an export file,
// with the consistency proof from the size it cosigned to the exported
// checkpoint's: what lets an auditor see that the ministries' signers
// witnessed a prefix of the very log in the file.
type ExportWitness struct {
	Cosignature Cosignature
	// Proof is the consistency proof text.
	Proof []byte
}

// exportWitness is an ExportWitness in the export header.
type exportWitness struct {
	Fingerprint string `json:"fingerprint"`
	Key         string `json:"key"`
	Cosigned    string `json:"cosigned"`
	Proof       string `json:"proof"`
}

func (ew ExportWitness) marshal() exportWitness {
	return exportWitness{Fingerprint: fmt.Sprintf("%08x", ew.Cosignature.Fingerprint), Key: ew.Cosignature.Key,
		Cosigned: string(ew.Cosignature.Note), Proof: string(ew.Proof)}
}

// Vouch is what one witness key given to CheckWitnesses showed: the size
// and root of the checkpoint it cosigned, which the exported checkpoint
// extends, or Err saying why it vouches for nothing.
type Vouch struct {
	Key         string
	Fingerprint uint32
	Checkpoint  Checkpoint
	Err         error
}

// ReadExportWitnesses reads an export file's header: its checkpoint,
// opened with the log key v, and the witnesses it carries (unchecked).
func ReadExportWitnesses(r io.Reader, v note.Verifier) (Checkpoint, []ExportWitness, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxHeaderBytes)
	h, cp, err := readHeaderFull(sc, v)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	var out []ExportWitness
	for i, w := range h.Witnesses {
		fp, err := ParseFingerprint(w.Fingerprint)
		if err != nil {
			return Checkpoint{}, nil, badLine(1, "witness %d: %w", i+1, err)
		}
		out = append(out, ExportWitness{Cosignature: Cosignature{Fingerprint: fp, Key: w.Key, Note: []byte(w.Cosigned)}, Proof: []byte(w.Proof)})
	}
	return cp, out, nil
}

// CheckWitnesses checks, for each witness key given (an auditor's list,
// from the ministries), that the export carries its cosignature of a
// checkpoint of log v that the exported checkpoint cp extends. It returns
// one Vouch per key, in order; a key given twice, or a key that is not a
// Custos witness key, is refused.
func CheckWitnesses(cp Checkpoint, ws []ExportWitness, v note.Verifier, keys []string) ([]Vouch, error) {
	byFP := map[uint32]ExportWitness{}
	for _, w := range ws {
		byFP[w.Cosignature.Fingerprint] = w
	}
	seen := map[uint32]bool{}
	var out []Vouch
	for _, key := range keys {
		key = strings.TrimSpace(key)
		wv, err := note.NewVerifier(key)
		if err != nil || !strings.HasPrefix(wv.Name(), WitnessPrefix) {
			return nil, reserve.Invalid("witness", "%q is not a Custos witness key (%s<fingerprint>+hash+key)", key, WitnessPrefix)
		}
		fp, err := ParseFingerprint(strings.TrimPrefix(wv.Name(), WitnessPrefix))
		if err != nil {
			return nil, reserve.Invalid("witness", "%q is not a Custos witness key: %w", key, err)
		}
		if seen[fp] {
			return nil, reserve.Invalid("witness", "cosigner %08x given twice", fp)
		}
		seen[fp] = true
		out = append(out, checkWitness(cp, byFP, v, key, fp))
	}
	return out, nil
}

func checkWitness(cp Checkpoint, byFP map[uint32]ExportWitness, v note.Verifier, key string, fp uint32) Vouch {
	vouch := Vouch{Key: key, Fingerprint: fp}
	fail := func(format string, args ...any) Vouch {
		vouch.Err = reserve.Invalid(WitnessName(fp), format, args...)
		return vouch
	}
	w, ok := byFP[fp]
	if !ok {
		return fail("missing: the export carries no cosignature by this witness")
	}
	if w.Cosignature.Key != key {
		return fail("the export's cosignature is under witness key %s, not the one given (a wrong witness key)", w.Cosignature.Key)
	}
	wcp, err := OpenCosignature(w.Cosignature, v)
	if err != nil {
		return fail("%w", err)
	}
	p, err := ParseConsistencyProof(w.Proof)
	if err != nil {
		return fail("consistency proof: %w", err)
	}
	if err := p.Check(wcp, cp); err != nil {
		return fail("the exported checkpoint (size %d) does not extend the size %d it cosigned: %w", cp.Size, wcp.Size, err)
	}
	vouch.Checkpoint = wcp
	return vouch
}
