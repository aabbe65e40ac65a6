package agent

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// The queue of requests waiting for the operator (serve without --auto)
// is files in the signer's data directory, changed only under its lock
// (signer.LockDir):
//
//	pending/ID.psbt      the request's PSBT as the daemon sent it (serve)
//	pending/ID.approved  the operator approved it (custos-signer approve): the
//	                     hex of signer.OperatorApprovalMAC over ID and ID.psbt
//	pending/ID.refused   the operator refused it; the reason (custos-signer refuse)
//
// Files rather than a unix socket: a request waiting for the operator
// survives a restart of serve or of the daemon, the operator's decision
// survives serve being down when it is made, and the trust boundary is the
// data directory's, which already holds the ledger and the state record.
// serve reads the decisions every PollInterval. An approval is a MAC
// under the signer's key (the operator typed the passphrase): one that
// someone able to write the directory but without the passphrase made
// does not verify, and serve ignores and removes it. A refusal needs no
// key: whoever can write the directory can stop a signature anyway.

// QueueDirName is the queue's directory in the signer's data directory.
const QueueDirName = "pending"

const (
	psbtExt     = ".psbt"
	approvedExt = ".approved"
	refusedExt  = ".refused"
)

// MaxReasonBytes bounds a refusal's reason, as the daemon does.
const MaxReasonBytes = 256

// lockWait is how long a queue command waits for the data directory's
// lock, which serve holds only while it checks or signs.
const lockWait = 30 * time.Second

// ErrNotQueued is an id with no request in the queue.
var ErrNotQueued = errors.New("no request with this id waits in the queue")

// Queued is one request in the queue.
type Queued struct {
	ID   string
	PSBT []byte
	// Decided is "", "approved" or "refused"; Reason is the refusal's.
	Decided string
	Reason  string
	// ApprovalMAC is the approval's MAC, to verify before signing.
	ApprovalMAC []byte
	// At is when serve queued it.
	At time.Time
}

// CheckID refuses what cannot be a proposal id (and so a file name in the
// queue): reserve.CheckProposalID.
func CheckID(id string) error { return reserve.CheckProposalID(id) }

// CheckReason refuses a reason the daemon would refuse: empty, over
// MaxReasonBytes, not UTF-8, or with a character that is not printable.
func CheckReason(reason string) error {
	if reason == "" {
		return reserve.Invalid("reason", "is empty: say why the request is refused")
	}
	if len(reason) > MaxReasonBytes || !utf8.ValidString(reason) {
		return reserve.Invalid("reason", "must be valid UTF-8 of at most %d bytes", MaxReasonBytes)
	}
	for i, r := range reason {
		if !unicode.IsPrint(r) {
			return reserve.Invalid("reason", "character %U at byte %d is not printable", r, i)
		}
	}
	return nil
}

// reasonOf makes a reason the daemon takes of any text (an error's):
// what is not printable becomes '?', and it is clipped.
func reasonOf(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.ToValidUTF8(s, "?"))
	if s == "" {
		s = "refused"
	}
	return reserve.Clip(s, MaxReasonBytes)
}

func queueDir(dataDir string) string { return filepath.Join(dataDir, QueueDirName) }

func queuePath(dataDir, id, ext string) string { return filepath.Join(queueDir(dataDir), id+ext) }

// lockWaiting takes the data directory's lock, waiting up to wait while
// another process holds it.
func lockWaiting(dir string, wait time.Duration) (*signer.DirLock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := signer.LockDir(dir)
		if err == nil || !errors.Is(err, signer.ErrDirInUse) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// enqueue writes a request's PSBT into the queue; the caller holds the
// lock.
func enqueue(dataDir, id string, raw []byte) error {
	if err := os.MkdirAll(queueDir(dataDir), 0o700); err != nil {
		return fmt.Errorf("unable to make the request queue: %w", err)
	}
	return durable.Write(queuePath(dataDir, id, psbtExt), raw, 0o600, true)
}

// dequeue removes a request and its decision; the caller holds the lock.
func dequeue(dataDir, id string) error {
	for _, ext := range []string{approvedExt, refusedExt, psbtExt} {
		if err := os.Remove(queuePath(dataDir, id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unable to remove request %s from the queue: %w", id, err)
		}
	}
	return durable.SyncDir(queueDir(dataDir))
}

// dropApproval removes request id's approval, leaving the request
// waiting for the operator; the caller holds the lock.
func dropApproval(dataDir, id string) error {
	if err := os.Remove(queuePath(dataDir, id, approvedExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unable to remove the approval of request %s: %w", id, err)
	}
	return durable.SyncDir(queueDir(dataDir))
}

// readQueue lists the queue; the caller holds the lock (or accepts a
// listing that may change under it).
func readQueue(dataDir string) ([]Queued, error) {
	ents, err := os.ReadDir(queueDir(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read the request queue: %w", err)
	}
	var out []Queued
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), psbtExt)
		if !ok || CheckID(id) != nil {
			continue
		}
		q := Queued{ID: id}
		if q.PSBT, err = durable.ReadLimited(queuePath(dataDir, id, psbtExt), multisig.MaxPSBTBytes); err != nil {
			return nil, err
		}
		if info, err := e.Info(); err == nil {
			q.At = info.ModTime()
		}
		if _, err := os.Stat(queuePath(dataDir, id, approvedExt)); err == nil {
			q.Decided = "approved"
			// A file too large or not hex keeps a nil MAC: it does not
			// verify, and serve removes it.
			if b, err := durable.ReadLimited(queuePath(dataDir, id, approvedExt), maxApprovalBytes); err == nil {
				q.ApprovalMAC, _ = hex.DecodeString(strings.TrimSpace(string(b)))
			}
		}
		if b, err := durable.ReadLimited(queuePath(dataDir, id, refusedExt), MaxReasonBytes); err == nil {
			q.Decided, q.Reason = "refused", string(b)
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Queued) int { return a.At.Compare(b.At) })
	return out, nil
}

// Pending lists the requests in dataDir's queue, oldest first, with the
// operator's decisions that serve has not acted on yet.
func Pending(dataDir string) ([]Queued, error) {
	lock, err := lockWaiting(dataDir, lockWait)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	return readQueue(dataDir)
}

// maxApprovalBytes bounds what is read of an approval file (a hex MAC).
const maxApprovalBytes = 1024

// Approve records the operator's approval of queued request id, with
// signer.OperatorApprovalMAC under key (unlocked with the passphrase) over
// id and the queued PSBT; serve verifies it, checks the request again,
// signs it and submits the signature.
func Approve(dataDir, id string, key *signer.Key) error {
	return decide(dataDir, id, approvedExt, func(raw []byte) ([]byte, error) {
		mac, err := signer.OperatorApprovalMAC(key, id, raw)
		if err != nil {
			return nil, fmt.Errorf("unable to authenticate the approval of request %s: %w", id, err)
		}
		return []byte(hex.EncodeToString(mac) + "\n"), nil
	})
}

// Refuse records the operator's refusal of queued request id; serve
// reports it to the daemon with reason.
func Refuse(dataDir, id, reason string) error {
	if err := CheckReason(reason); err != nil {
		return err
	}
	return decide(dataDir, id, refusedExt, func([]byte) ([]byte, error) { return []byte(reason), nil })
}

// decide writes the decision file ext of queued request id, whose body
// is made of the queued PSBT's bytes, under the lock.
func decide(dataDir, id, ext string, body func(psbt []byte) ([]byte, error)) error {
	if err := CheckID(id); err != nil {
		return err
	}
	lock, err := lockWaiting(dataDir, lockWait)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	raw, err := durable.ReadLimited(queuePath(dataDir, id, psbtExt), multisig.MaxPSBTBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("request %s: %w (see custos-signer pending)", id, ErrNotQueued)
	} else if err != nil {
		return err
	}
	for _, other := range []string{approvedExt, refusedExt} {
		if _, err := os.Stat(queuePath(dataDir, id, other)); err == nil {
			return reserve.Errorf(reserve.CodeConflict, "request %s is decided already (%s)", id, strings.TrimPrefix(other, "."))
		}
	}
	b, err := body(raw)
	if err != nil {
		return err
	}
	return durable.Write(queuePath(dataDir, id, ext), b, 0o600, false)
}
