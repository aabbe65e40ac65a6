package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/durable"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// logVerifier reads --log-key: the verifier key itself or a file holding
// it.
func logVerifier(k string) (note.Verifier, error) {
	if k == "" {
		return nil, usagef("--log-key K is required (custosd prints it at start; audit checkpoint shows it)")
	}
	if b, err := os.ReadFile(k); err == nil {
		k = string(b)
	}
	return audit.ParseLogKey(k)
}

// printLeaf prints one leaf: the line itself with --json, else a short
// human form.
func printLeaf(e *env, line []byte) error {
	if e.common.json {
		_, err := fmt.Fprintf(e.stdout, "%s\n", line)
		return err
	}
	l, err := audit.ParseLeaf(line)
	if err != nil {
		return err
	}
	var ids []string
	for k, v := range l.IDs {
		ids = append(ids, k+"="+v)
	}
	_, err = printf(e.stdout, "%d\t%s\t%s (%s)\t%s\t%s\t%s\n", l.Seq, l.Time.Format("2006-01-02T15:04:05Z"), l.Actor.Name, l.Actor.Role, l.Kind, strings.Join(ids, " "), l.Detail)
	return err
}

func auditCheckpointCmd(fs *flag.FlagSet) func(*env, []string) error {
	size := fs.Int64("size", 0, "tree size to sign (default: the log now)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := custosv1.NewAuditServiceClient(e.conn).GetCheckpoint(e.ctx, &custosv1.GetCheckpointRequest{Size: *size})
		if err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, map[string]string{"checkpoint": string(r.GetCheckpoint()), "log_key": r.GetLogKey()})
		}
		_, err = fmt.Fprintf(e.stdout, "%s\nlog key: %s\n", r.GetCheckpoint(), r.GetLogKey())
		return err
	}
}

func auditTailCmd(fs *flag.FlagSet) func(*env, []string) error {
	follow := fs.Bool("follow", false, "keep printing entries as they are appended")
	from := fs.Int64("from", 1, "first entry to print")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		ctx := e.ctx
		if *follow {
			// --timeout bounds a call, not a follower: it runs until
			// interrupted.
			ctx = withoutDeadline(ctx)
		}
		stream, err := custosv1.NewAuditServiceClient(e.conn).TailAudit(ctx, &custosv1.TailAuditRequest{FromSeq: *from, Follow: *follow})
		if err != nil {
			return err
		}
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := printLeaf(e, m.GetLeaf()); err != nil {
				return err
			}
		}
	}
}

func auditExportCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "file to write the export to (required; never overwritten)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out FILE is required")
		}
		stream, err := custosv1.NewAuditServiceClient(e.conn).ExportAudit(withoutDeadline(e.ctx), &custosv1.ExportAuditRequest{})
		if err != nil {
			return err
		}
		var lines int64
		fill := func(w io.Writer) error {
			for {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if err := audit.WriteExportLeaf(w, m.GetLine()); err != nil {
					return err
				}
				lines++
			}
		}
		if err := durable.WriteFrom(*out, 0o600, false, fill, nil); err != nil {
			if errors.Is(err, iofs.ErrExist) {
				return fmt.Errorf("refusing to overwrite %s", *out)
			}
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, map[string]any{"file": *out, "entries": max(lines-1, 0)})
		}
		_, err = printf(e.stdout, "exported %d entries to %s\n", max(lines-1, 0), *out)
		return err
	}
}

func auditVerifyCmd(fs *flag.FlagSet) func(*env, []string) error {
	key := fs.String("log-key", "", "the log's verifier key, or a file holding it (required)")
	var witnesses []string
	fs.Func("witness", "a ministry signer's witness key (custos-signer witness-key), or a file holding it; repeat for each", func(s string) error {
		if b, err := os.ReadFile(s); err == nil {
			s = string(b)
		}
		witnesses = append(witnesses, strings.TrimSpace(s))
		return nil
	})
	need := fs.Int("witnesses", 0, "how many of the --witness keys must vouch for the log (0: all of them)")
	return func(e *env, args []string) error {
		if len(args) != 1 {
			return usagef("want the export FILE")
		}
		v, err := logVerifier(*key)
		if err != nil {
			return err
		}
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		cp, err := audit.VerifyExport(bufio.NewReaderSize(f, 1<<20), v)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		vouches, err := verifyWitnesses(f, v, witnesses, *need)
		if e.common.json {
			out := map[string]any{"file": args[0], "origin": cp.Origin, "size": cp.Size, "root": cp.Root.String()}
			if len(witnesses) > 0 {
				out["witnesses"] = vouchesJSON(vouches)
			}
			if jerr := printJSON(e.stdout, out); jerr != nil {
				return jerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return nil
		}
		if _, perr := printf(e.stdout, "%s: ok, %d entries of log %s, root %s\n", args[0], cp.Size, cp.Origin, cp.Root.String()); perr != nil {
			return perr
		}
		for _, vo := range vouches {
			if vo.Err != nil {
				_, _ = printf(e.stdout, "witness %08x: does NOT vouch: %s\n", vo.Fingerprint, vo.Err)
				continue
			}
			_, _ = printf(e.stdout, "witness %08x: vouches for size %d (root %s), which this log extends\n", vo.Fingerprint, vo.Checkpoint.Size, vo.Checkpoint.Root)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		return nil
	}
}

// verifyWitnesses checks the export's cosignatures by the witness keys
// given (docs/audit.md, "Witnesses"): at least need of them (0: all) must
// vouch for a checkpoint the exported one extends.
func verifyWitnesses(f *os.File, v note.Verifier, keys []string, need int) ([]audit.Vouch, error) {
	if len(keys) == 0 {
		if need > 0 {
			return nil, usagef("--witnesses %d needs that many --witness keys", need)
		}
		return nil, nil
	}
	if need < 0 || need > len(keys) {
		return nil, usagef("--witnesses %d: want 0 to the %d --witness keys given", need, len(keys))
	}
	if need == 0 {
		need = len(keys)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	cp, ws, err := audit.ReadExportWitnesses(bufio.NewReaderSize(f, 1<<20), v)
	if err != nil {
		return nil, err
	}
	vouches, err := audit.CheckWitnesses(cp, ws, v, keys)
	if err != nil {
		return nil, err
	}
	var ok int
	var failed []string
	for _, vo := range vouches {
		if vo.Err == nil {
			ok++
		} else {
			failed = append(failed, fmt.Sprintf("%08x", vo.Fingerprint))
		}
	}
	if ok < need {
		return vouches, fmt.Errorf("%d of the %d witnesses given vouch for this log, %d needed (not vouching: %s)", ok, len(keys), need, strings.Join(failed, ", "))
	}
	return vouches, nil
}

func vouchesJSON(vs []audit.Vouch) []map[string]any {
	out := []map[string]any{}
	for _, vo := range vs {
		m := map[string]any{"fingerprint": fmt.Sprintf("%08x", vo.Fingerprint), "ok": vo.Err == nil}
		if vo.Err != nil {
			m["error"] = vo.Err.Error()
		} else {
			m["size"], m["root"] = vo.Checkpoint.Size, vo.Checkpoint.Root.String()
		}
		out = append(out, m)
	}
	return out
}

func auditProveCmd(fs *flag.FlagSet) func(*env, []string) error {
	size := fs.Int64("size", 0, "tree size to prove against (default: the log now)")
	key := fs.String("log-key", "", "check the checkpoint's signature with this verifier key (or file)")
	return func(e *env, args []string) error {
		if len(args) != 1 {
			return usagef("want the entry's SEQ")
		}
		seq, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return usagef("SEQ %q is not a number", args[0])
		}
		r, err := custosv1.NewAuditServiceClient(e.conn).ProveInclusion(e.ctx, &custosv1.ProveInclusionRequest{Seq: seq, Size: *size})
		if err != nil {
			return err
		}
		p, err := audit.ParseInclusionProof(r.GetProof())
		if err != nil {
			return err
		}
		cp, err := openOrParse(r.GetCheckpoint(), *key)
		if err != nil {
			return err
		}
		if err := p.Check(r.GetLeaf(), cp); err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, map[string]string{"leaf": string(r.GetLeaf()), "proof": string(r.GetProof()), "checkpoint": string(r.GetCheckpoint())})
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n\n%s\n%s", r.GetLeaf(), r.GetProof(), r.GetCheckpoint())
		return err
	}
}

func auditConsistencyCmd(fs *flag.FlagSet) func(*env, []string) error {
	key := fs.String("log-key", "", "check the checkpoints' signatures with this verifier key (or file)")
	return func(e *env, args []string) error {
		if len(args) != 2 {
			return usagef("want OLD and NEW tree sizes")
		}
		var sizes [2]int64
		for i, a := range args {
			n, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return usagef("%q is not a tree size", a)
			}
			sizes[i] = n
		}
		r, err := custosv1.NewAuditServiceClient(e.conn).ProveConsistency(e.ctx, &custosv1.ProveConsistencyRequest{OldSize: sizes[0], NewSize: sizes[1]})
		if err != nil {
			return err
		}
		p, err := audit.ParseConsistencyProof(r.GetProof())
		if err != nil {
			return err
		}
		older, err := openOrParse(r.GetOldCheckpoint(), *key)
		if err != nil {
			return err
		}
		newer, err := openOrParse(r.GetNewCheckpoint(), *key)
		if err != nil {
			return err
		}
		if err := p.Check(older, newer); err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, map[string]string{"proof": string(r.GetProof()), "old_checkpoint": string(r.GetOldCheckpoint()), "new_checkpoint": string(r.GetNewCheckpoint())})
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n%s\n%s", r.GetProof(), r.GetOldCheckpoint(), r.GetNewCheckpoint())
		return err
	}
}

// openOrParse checks a signed checkpoint with the log key when one is
// given; without one it only reads the body (the proof is then checked
// against what the daemon says, not against what it signed).
func openOrParse(signed []byte, key string) (audit.Checkpoint, error) {
	if key != "" {
		v, err := logVerifier(key)
		if err != nil {
			return audit.Checkpoint{}, err
		}
		return audit.OpenCheckpoint(signed, v)
	}
	body, _, ok := strings.Cut(string(signed), "\n\n")
	if !ok {
		return audit.Checkpoint{}, fmt.Errorf("the daemon sent a checkpoint that is not a signed note")
	}
	return audit.ParseCheckpoint([]byte(body + "\n"))
}

// withoutDeadline keeps ctx's values but not its --timeout deadline, for
// the streams that run as long as the log is long or the user watches.
func withoutDeadline(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
