package console_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon/console"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/seal"
)

// update rewrites web/test/testdata/vectors.json from the Go code.
var update = flag.Bool("update", false, "rewrite web/test/testdata/vectors.json")

const vectorsPath = "web/test/testdata/vectors.json"

// The vectors the console's JavaScript (web/src) must reproduce byte for
// byte: computed here by the Go code the daemon, custosctl and the signers
// run, so the two cannot drift. web/test/*.test.mjs load them.
type vectors struct {
	Note            string          `json:"note"`
	OfficerKey      keyVector       `json:"officer_key"`
	AuditorKey      keyVector       `json:"auditor_key"`
	MismatchKey     keyVector       `json:"mismatch_key"`
	KeyFileRefusals []refusalVector `json:"key_file_refusals"`
	Intents         []intentVector  `json:"intents"`
	IntentRefusals  []refusalVector `json:"intent_refusals"`
	Controls        []controlVector `json:"controls"`
	Login           loginVector     `json:"login"`
	Addresses       []addressVector `json:"addresses"`
	Audit           auditVector     `json:"audit"`
	Policies        []policyVector  `json:"policies"`
}

type keyVector struct {
	File       string `json:"file"`
	Passphrase string `json:"passphrase"`
	PublicKey  string `json:"public_key"`
	Error      string `json:"error,omitempty"`
}

type refusalVector struct {
	Name string `json:"name"`
	// Input is the key file text, or the intent in hex.
	Input string `json:"input"`
	// Error is the Go error in full; Want a part of it the JS error must
	// hold too (empty: the JS need only refuse, with the same field).
	Error string `json:"error"`
	Field string `json:"field"`
	Want  string `json:"want"`
}

type payeeVector struct {
	Script    string `json:"script"`
	AmountSat string `json:"amount_sat"`
	Address   string `json:"address"`
}

type intentVector struct {
	Name            string        `json:"name"`
	Hex             string        `json:"hex"`
	Version         int           `json:"version"`
	Network         int           `json:"network"`
	WalletID        string        `json:"wallet_id"`
	ProposalID      string        `json:"proposal_id"`
	PolicyHash      string        `json:"policy_hash"`
	Payees          []payeeVector `json:"payees"`
	FeeCapSat       string        `json:"fee_cap_sat"`
	ExpiresAt       string        `json:"expires_at"`
	Supersedes      []string      `json:"supersedes"`
	Repeat          bool          `json:"repeat"`
	Consolidate     bool          `json:"consolidate"`
	ApproveDigest   string        `json:"approve_digest"`
	RejectDigest    string        `json:"reject_digest"`
	ApproveSigAlice string        `json:"approve_signature"`
	RejectSigAlice  string        `json:"reject_signature"`
}

type controlVector struct {
	Name       string `json:"name"`
	Action     string `json:"action"`
	Network    int    `json:"network"`
	WalletID   string `json:"wallet_id"`
	PolicyHash string `json:"policy_hash"`
	Epoch      string `json:"epoch"`
	NewPolicy  string `json:"new_policy"`
	Encoding   string `json:"encoding"`
	Digest     string `json:"digest"`
	Signature  string `json:"signature"`
}

type loginVector struct {
	Challenge string `json:"challenge"`
	Origin    string `json:"origin"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
}

type addressVector struct {
	Script  string `json:"script"`
	Network int    `json:"network"`
	Address string `json:"address"`
}

type inclusionVector struct {
	Seq   int64  `json:"seq"`
	Size  int64  `json:"size"`
	Leaf  string `json:"leaf"`
	Proof string `json:"proof"`
	Error string `json:"error,omitempty"`
}

type exportEdit struct {
	Name   string `json:"name"`
	Export string `json:"export"`
	LogKey string `json:"log_key,omitempty"`
	Line   int64  `json:"line"`
	Error  string `json:"error"`
}

type auditVector struct {
	LogKey     string            `json:"log_key"`
	OtherKey   string            `json:"other_key"`
	Checkpoint string            `json:"checkpoint"`
	Origin     string            `json:"origin"`
	Size       int64             `json:"size"`
	Root       string            `json:"root"`
	Export     string            `json:"export"`
	Leaves     []string          `json:"leaves"`
	Inclusion  []inclusionVector `json:"inclusion"`
	Edits      []exportEdit      `json:"edits"`
	LeafErrors []refusalVector   `json:"leaf_refusals"`
}

const (
	vecPassphrase = "correct horse battery staple"
	vecWallet     = "4c2f8a0e91d3b675"
)

var vecKDF = seal.KDF{Time: 1, MemoryKiB: 64, Threads: 1}

// aliceKey is docs/approvals.md's alice: seed 01 x 32.
func aliceKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)) }

// keyFileAD is officer's associatedData for a file of type fileType, for
// the mismatch vector, which officer cannot write (sealKeyFile's officer
// output is checked against officer.Generate below, so this copy cannot
// drift unnoticed).
func keyFileAD(fileType string, pub []byte, b *seal.Box) []byte {
	out := []byte("custos-officer key file\x00")
	lp := func(s []byte) { out = binary.BigEndian.AppendUint32(out, uint32(len(s))); out = append(out, s...) }
	lp([]byte(fileType))
	out = binary.BigEndian.AppendUint32(out, officer.FileVersion)
	lp(pub)
	lp([]byte(seal.KDFName))
	out = binary.BigEndian.AppendUint32(out, b.KDF.Time)
	out = binary.BigEndian.AppendUint32(out, b.KDF.MemoryKiB)
	out = append(out, b.KDF.Threads)
	lp(b.Salt)
	lp([]byte(seal.CipherName))
	return out
}

// sealKeyFile writes a key file of fileType claiming pub and sealing seed.
func sealKeyFile(t *testing.T, fileType string, kdf seal.KDF, pub, seed []byte, saltByte, nonceByte byte) string {
	t.Helper()
	b, err := seal.NewBox(kdf, bytes.NewReader(append(bytes.Repeat([]byte{saltByte}, seal.SaltLen), bytes.Repeat([]byte{nonceByte}, seal.NonceLen)...)))
	require.NoError(t, err)
	require.NoError(t, b.Seal([]byte(vecPassphrase), seed, keyFileAD(fileType, pub, b)))
	data, err := json.MarshalIndent(struct {
		Version   int    `json:"version"`
		Type      string `json:"type"`
		PublicKey string `json:"public_key"`
		seal.Fields
	}{officer.FileVersion, fileType, officer.FormatPublicKey([32]byte(pub)), b.Fields()}, "", "  ")
	require.NoError(t, err)
	return string(data) + "\n"
}

func keyVectors(t *testing.T, v *vectors) {
	dir := t.TempDir()
	path := filepath.Join(dir, "officer.key")
	seed := bytes.Repeat([]byte{1}, 32)
	rnd := bytes.NewReader(append(append(bytes.Clone(seed), bytes.Repeat([]byte{0x11}, seal.SaltLen)...), bytes.Repeat([]byte{0x22}, seal.NonceLen)...))
	pub, err := officer.Generate(path, []byte(vecPassphrase), vecKDF, rnd)
	require.NoError(t, err)
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(file), sealKeyFile(t, officer.FileType, vecKDF, pub[:], seed, 0x11, 0x22), "keyFileAD no longer matches officer's associated data")
	v.OfficerKey = keyVector{File: string(file), Passphrase: vecPassphrase, PublicKey: hex.EncodeToString(pub[:])}

	// The auditor file (type custos-auditor-key: officer's format, its own
	// type in the associated data), written and read back by officer's
	// GenerateAuditor and ReadAuditor, also checks argon2id with two lanes.
	auditorSeed := bytes.Repeat([]byte{3}, 32)
	apath := filepath.Join(dir, "auditor.key")
	arnd := bytes.NewReader(append(append(bytes.Clone(auditorSeed), bytes.Repeat([]byte{0x33}, seal.SaltLen)...), bytes.Repeat([]byte{0x44}, seal.NonceLen)...))
	auditorPub, err := officer.GenerateAuditor(apath, []byte(vecPassphrase), seal.KDF{Time: 2, MemoryKiB: 256, Threads: 2}, arnd)
	require.NoError(t, err)
	require.Equal(t, ed25519.NewKeyFromSeed(auditorSeed).Public(), ed25519.PublicKey(auditorPub[:]))
	af, err := officer.ReadAuditor(apath)
	require.NoError(t, err)
	apriv, err := af.Unlock([]byte(vecPassphrase))
	require.NoError(t, err)
	require.Equal(t, ed25519.NewKeyFromSeed(auditorSeed), apriv)
	_, err = officer.Read(apath)
	require.ErrorContains(t, err, `(type "custos-auditor-key")`, "an auditor file is not an officer file")
	afile, err := os.ReadFile(apath)
	require.NoError(t, err)
	v.AuditorKey = keyVector{File: string(afile), Passphrase: vecPassphrase, PublicKey: hex.EncodeToString(auditorPub[:])}

	// Bob's seed sealed under a file that claims alice's key.
	mismatch := sealKeyFile(t, officer.FileType, vecKDF, pub[:], bytes.Repeat([]byte{2}, 32), 0x55, 0x66)
	mpath := filepath.Join(dir, "mismatch.key")
	require.NoError(t, os.WriteFile(mpath, []byte(mismatch), 0o600))
	kf, err := officer.Read(mpath)
	require.NoError(t, err)
	_, err = kf.Unlock([]byte(vecPassphrase))
	require.ErrorIs(t, err, officer.ErrKeyMismatch)
	v.MismatchKey = keyVector{File: mismatch, Passphrase: vecPassphrase, PublicKey: hex.EncodeToString(pub[:]), Error: strings.ReplaceAll(err.Error(), mpath, "FILE")}

	// Wrong passphrase: checked by the JS against the good file.
	kf, err = officer.Read(path)
	require.NoError(t, err)
	_, err = kf.Unlock([]byte(vecPassphrase + "!"))
	require.ErrorIs(t, err, officer.ErrWrongPassphrase)

	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		require.NoError(t, json.Unmarshal(file, &m))
		f(m)
		b, err := json.MarshalIndent(m, "", "  ")
		require.NoError(t, err)
		return string(b)
	}
	flipLast := func(field string) func(m map[string]any) {
		return func(m map[string]any) {
			s := m[field].(string)
			last := "0"
			if s[len(s)-1] == '0' {
				last = "1"
			}
			m[field] = s[:len(s)-1] + last
		}
	}
	refusals := []struct{ name, text, want string }{
		{"not json", "not json", ""},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`},
		{"type", edit(func(m map[string]any) { m["type"] = "custos-signer-key" }), `(type "custos-signer-key")`},
		{"no type", edit(func(m map[string]any) { delete(m, "type") }), `(type "")`},
		{"version", edit(func(m map[string]any) { m["version"] = 2 }), "version 2 (want 1)"},
		{"version not a number", edit(func(m map[string]any) { m["version"] = "1" }), ""},
		{"version fraction", strings.Replace(string(file), `"version": 1,`, `"version": 1.0,`, 1), ""},
		{"kdf", edit(func(m map[string]any) { m["kdf"] = "scrypt" }), `unsupported kdf "scrypt" (want argon2id)`},
		{"huge memory", edit(func(m map[string]any) {
			m["kdf_params"] = map[string]int{"time": 1, "memory_kib": 4<<20 + 1, "threads": 1}
		}), "kdf_params: argon2id memory 4194305 KiB is outside 8..4194304 KiB"},
		{"time 0", edit(func(m map[string]any) { m["kdf_params"] = map[string]int{"time": 0, "memory_kib": 64, "threads": 1} }), "kdf_params: argon2id time 0 is outside 1..64"},
		{"time 65", edit(func(m map[string]any) { m["kdf_params"] = map[string]int{"time": 65, "memory_kib": 64, "threads": 1} }), "kdf_params: argon2id time 65 is outside 1..64"},
		{"threads 0", edit(func(m map[string]any) { m["kdf_params"] = map[string]int{"time": 1, "memory_kib": 64, "threads": 0} }), "kdf_params: argon2id threads must be at least 1"},
		{"threads 256", edit(func(m map[string]any) {
			m["kdf_params"] = map[string]int{"time": 1, "memory_kib": 4096, "threads": 256}
		}), ""},
		{"memory below 8 per thread", edit(func(m map[string]any) { m["kdf_params"] = map[string]int{"time": 1, "memory_kib": 15, "threads": 2} }), "kdf_params: argon2id memory 15 KiB is outside 16..4194304 KiB"},
		{"kdf_params unknown field", edit(func(m map[string]any) {
			m["kdf_params"] = map[string]int{"time": 1, "memory_kib": 64, "threads": 1, "lanes": 1}
		}), `unknown field "lanes"`},
		{"cipher", edit(func(m map[string]any) { m["cipher"] = "aes256gcm" }), `unsupported cipher "aes256gcm" (want xchacha20poly1305)`},
		{"short salt", edit(func(m map[string]any) { m["salt"] = m["salt"].(string)[2:] }), "salt is not 16 bytes of hex"},
		{"salt not hex", edit(func(m map[string]any) { m["salt"] = "zz" + m["salt"].(string)[2:] }), "salt is not 16 bytes of hex"},
		{"long nonce", edit(func(m map[string]any) { m["nonce"] = m["nonce"].(string) + "00" }), "nonce is not 24 bytes of hex"},
		{"short ciphertext", edit(func(m map[string]any) { m["ciphertext"] = m["ciphertext"].(string)[2:] }), "ciphertext is not 48 bytes of hex"},
		{"public key prefix", edit(func(m map[string]any) { m["public_key"] = strings.TrimPrefix(m["public_key"].(string), "ed25519:") }), "is not ed25519:<64 hex digits>"},
		{"public key short", edit(func(m map[string]any) { m["public_key"] = m["public_key"].(string)[:70] }), "is not ed25519:<64 hex digits>"},
		{"too large", edit(func(m map[string]any) { m["public_key"] = strings.Repeat("a", 17<<10) }), "larger than 16384 bytes"},
		// These parse; they fail to open (officer.ErrWrongPassphrase).
		{"salt changed", edit(flipLast("salt")), "wrong passphrase or corrupted"},
		{"nonce changed", edit(flipLast("nonce")), "wrong passphrase or corrupted"},
		{"ciphertext changed", edit(flipLast("ciphertext")), "wrong passphrase or corrupted"},
		{"public key changed", edit(flipLast("public_key")), "wrong passphrase or corrupted"},
		{"kdf changed", edit(func(m map[string]any) { m["kdf_params"] = map[string]int{"time": 2, "memory_kib": 64, "threads": 1} }), "wrong passphrase or corrupted"},
	}
	for i, r := range refusals {
		p := filepath.Join(dir, fmt.Sprintf("refusal%d.key", i))
		require.NoError(t, os.WriteFile(p, []byte(r.text), 0o600))
		kf, err := officer.Read(p)
		field := "key"
		if err == nil {
			_, err = kf.Unlock([]byte(vecPassphrase))
			field = "passphrase"
		}
		require.Error(t, err, r.name)
		msg := strings.ReplaceAll(err.Error(), p, "FILE")
		require.Contains(t, msg, r.want, r.name)
		v.KeyFileRefusals = append(v.KeyFileRefusals, refusalVector{Name: r.name, Input: r.text, Error: msg, Field: field, Want: r.want})
	}
}

// docIntent is docs/approvals.md's test vector intent.
func docIntent() reserve.Intent {
	script, _ := hex.DecodeString("0014e739264deb84de0cb9d208a3d83a02af8fd40353")
	var ph [32]byte
	copy(ph[:], bytes.Repeat([]byte{0xaa}, 32))
	return reserve.Intent{
		Network: reserve.Regtest, WalletID: vecWallet, ProposalID: "P000001", PolicyHash: ph,
		Payees:    []reserve.IntentPayee{{Script: script, AmountSat: 1_200_000}},
		FeeCapSat: 20_000, ExpiresAt: time.Unix(1796342400, 0).UTC(),
	}
}

func intentVectors(t *testing.T, v *vectors) {
	priv := aliceKey()
	linked := docIntent()
	linked.Supersedes = []string{"P000000"}
	repeat := docIntent()
	repeat.Repeat = true
	cancel := docIntent()
	cancel.Payees, cancel.Supersedes = nil, []string{"P000000"}
	consolidate := docIntent()
	consolidate.Payees, consolidate.Consolidate = nil, true
	multi := docIntent()
	p2tr, _ := hex.DecodeString("51200101010101010101010101010101010101010101010101010101010101010101")
	p2pkh, _ := hex.DecodeString("76a914000102030405060708090a0b0c0d0e0f1011121388ac")
	multi.Payees = append(multi.Payees, reserve.IntentPayee{Script: p2tr, AmountSat: 5}, reserve.IntentPayee{Script: p2pkh, AmountSat: reserve.MaxSat - 1_200_005})
	multi.Supersedes, multi.Repeat = []string{"A1", "P000000", "Z"}, true
	for _, c := range []struct {
		name string
		in   reserve.Intent
	}{{"docs v1", docIntent()}, {"supersedes", linked}, {"repeat", repeat}, {"cancel", cancel}, {"consolidation", consolidate}, {"three payees, linked and repeat", multi}} {
		enc, err := c.in.Encode()
		require.NoError(t, err)
		dec, err := reserve.DecodeIntent(enc)
		require.NoError(t, err)
		pays, err := multisig.IntentPayments(&dec, dec.Network)
		require.NoError(t, err)
		iv := intentVector{
			Name: c.name, Hex: hex.EncodeToString(enc), Version: int(enc[0]), Network: int(dec.Network),
			WalletID: dec.WalletID, ProposalID: dec.ProposalID, PolicyHash: hex.EncodeToString(dec.PolicyHash[:]),
			Payees: []payeeVector{}, FeeCapSat: fmt.Sprint(dec.FeeCapSat), ExpiresAt: fmt.Sprint(dec.ExpiresAt.Unix()),
			Supersedes: append([]string{}, dec.Supersedes...), Repeat: dec.Repeat, Consolidate: dec.Consolidate,
		}
		for i, p := range dec.Payees {
			iv.Payees = append(iv.Payees, payeeVector{Script: hex.EncodeToString(p.Script), AmountSat: fmt.Sprint(p.AmountSat), Address: pays[i].Address})
		}
		for _, d := range []reserve.Decision{reserve.DecisionApprove, reserve.DecisionReject} {
			digest, err := dec.Digest(d)
			require.NoError(t, err)
			a, err := reserve.SignIntent(&dec, d, priv)
			require.NoError(t, err)
			require.NoError(t, reserve.VerifyApproval(&dec, d, a))
			if d == reserve.DecisionApprove {
				iv.ApproveDigest, iv.ApproveSigAlice = hex.EncodeToString(digest[:]), hex.EncodeToString(a.Signature[:])
			} else {
				iv.RejectDigest, iv.RejectSigAlice = hex.EncodeToString(digest[:]), hex.EncodeToString(a.Signature[:])
			}
		}
		v.Intents = append(v.Intents, iv)
	}
	// docs/approvals.md quotes the first vector: same key, intent and signature.
	doc, err := os.ReadFile("../../docs/approvals.md")
	require.NoError(t, err)
	for _, s := range []string{v.Intents[0].Hex, v.Intents[0].ApproveDigest, v.Intents[0].RejectDigest, v.Intents[0].ApproveSigAlice} {
		require.Contains(t, string(doc), s, "docs/approvals.md must quote the console's vector")
	}

	doci := docIntent()
	base, err := doci.Encode()
	require.NoError(t, err)
	v1 := rawIntent{version: 1, network: 4, wallet: []byte(vecWallet), proposal: []byte("P000001"), policy: bytes.Repeat([]byte{0xaa}, 32),
		payees: []rawPayee{{1_200_000, doci.Payees[0].Script}}, fee: 20_000, expires: 1796342400}
	require.Equal(t, base, v1.encode(), "rawIntent writes what Encode writes")
	v2 := v1
	v2.version, v2.supersedes = 2, [][]byte{[]byte("P000000")}
	mod := func(r rawIntent, f func(r *rawIntent)) []byte { f(&r); return r.encode() }
	refusals := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 0", mod(v1, func(r *rawIntent) { r.version = 0 })},
		{"version 3", mod(v1, func(r *rawIntent) { r.version = 3 })},
		{"network 0", mod(v1, func(r *rawIntent) { r.network = 0 })},
		{"network 5", mod(v1, func(r *rawIntent) { r.network = 5 })},
		{"empty wallet id", mod(v1, func(r *rawIntent) { r.wallet = nil })},
		{"wallet id of 65 bytes", mod(v1, func(r *rawIntent) { r.wallet = bytes.Repeat([]byte("a"), 65) })},
		{"wallet id with a space", mod(v1, func(r *rawIntent) { r.wallet = []byte("4c2f 8a0e") })},
		{"proposal id with a byte over 0x7e", mod(v1, func(r *rawIntent) { r.proposal = []byte("P00\x7f") })},
		{"truncated in policy hash", base[:40]},
		{"truncated in the script", base[:100]},
		{"truncated in expires_at", base[:len(base)-1]},
		{"trailing byte", append(bytes.Clone(base), 0)},
		{"no payees in version 1", mod(v1, func(r *rawIntent) { r.payees = nil })},
		{"1001 payees", mod(v1, func(r *rawIntent) { r.payeeCount = 1001 })},
		{"amount 0", mod(v1, func(r *rawIntent) { r.payees = []rawPayee{{0, []byte{0x51}}} })},
		{"amount over 21M BTC", mod(v1, func(r *rawIntent) { r.payees = []rawPayee{{uint64(reserve.MaxSat) + 1, []byte{0x51}}} })},
		{"total over 21M BTC", mod(v1, func(r *rawIntent) {
			r.payees = []rawPayee{{uint64(reserve.MaxSat), []byte{0x51}}, {1, []byte{0x51}}}
		})},
		{"empty script", mod(v1, func(r *rawIntent) { r.payees = []rawPayee{{1, nil}} })},
		{"script over 10000 bytes", mod(v1, func(r *rawIntent) { r.payees = []rawPayee{{1, make([]byte, 10_001)}} })},
		{"fee cap 0", mod(v1, func(r *rawIntent) { r.fee = 0 })},
		{"fee cap over 21M BTC", mod(v1, func(r *rawIntent) { r.fee = uint64(reserve.MaxSat) + 1 })},
		{"expires 0", mod(v1, func(r *rawIntent) { r.expires = 0 })},
		{"expires after 2^62", mod(v1, func(r *rawIntent) { r.expires = 1<<62 + 1 })},
		{"version 2 linking nothing", mod(v2, func(r *rawIntent) { r.supersedes = nil })},
		{"unknown flag", mod(v2, func(r *rawIntent) { r.flags = 0x04 })},
		{"unknown flag beside consolidate", mod(v2, func(r *rawIntent) { r.payees, r.supersedes, r.flags = nil, nil, 0x82 })},
		{"consolidation with a payee", mod(v2, func(r *rawIntent) { r.supersedes, r.flags = nil, 0x02 })},
		{"consolidation superseding a proposal", mod(v2, func(r *rawIntent) { r.payees, r.flags = nil, 0x02 })},
		{"consolidation and repeat", mod(v2, func(r *rawIntent) { r.payees, r.supersedes, r.flags = nil, nil, 0x03 })},
		{"supersedes itself", mod(v2, func(r *rawIntent) { r.supersedes = [][]byte{[]byte("P000001")} })},
		{"supersedes out of order", mod(v2, func(r *rawIntent) { r.supersedes = [][]byte{[]byte("P2"), []byte("P1")} })},
		{"supersedes twice", mod(v2, func(r *rawIntent) { r.supersedes = [][]byte{[]byte("P1"), []byte("P1")} })},
		{"17 superseded", mod(v2, func(r *rawIntent) {
			r.supersedes = nil
			for i := range 17 {
				r.supersedes = append(r.supersedes, []byte(fmt.Sprintf("Q%02d", i)))
			}
		})},
		{"empty superseded id", mod(v2, func(r *rawIntent) { r.supersedes = [][]byte{nil} })},
		{"repeat of no payees", mod(v2, func(r *rawIntent) { r.payees, r.supersedes, r.flags = nil, nil, 1 })},
		{"truncated in flags", mod(v2, func(r *rawIntent) { r.noFlags = true })},
	}
	for _, r := range refusals {
		_, err := reserve.DecodeIntent(r.b)
		require.Error(t, err, r.name)
		var re *reserve.Error
		require.True(t, errors.As(err, &re), r.name)
		require.Equal(t, reserve.CodeInvalid, re.Code, r.name)
		v.IntentRefusals = append(v.IntentRefusals, refusalVector{Name: r.name, Input: hex.EncodeToString(r.b), Error: err.Error(), Field: re.Field, Want: err.Error()})
	}
}

type rawPayee struct {
	amount uint64
	script []byte
}

// rawIntent writes an intent's layout with any values, valid or not.
type rawIntent struct {
	version, network byte
	wallet, proposal []byte
	policy           []byte
	payeeCount       uint32 // when nonzero, written instead of len(payees)
	payees           []rawPayee
	fee, expires     uint64
	supersedes       [][]byte
	flags            byte
	noFlags          bool
}

func (r rawIntent) encode() []byte {
	lp := func(b, s []byte) []byte { return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...) }
	b := []byte{r.version, r.network}
	b = lp(b, r.wallet)
	b = lp(b, r.proposal)
	b = append(b, r.policy...)
	n := uint32(len(r.payees))
	if r.payeeCount != 0 {
		n = r.payeeCount
	}
	b = binary.BigEndian.AppendUint32(b, n)
	for _, p := range r.payees {
		b = binary.BigEndian.AppendUint64(b, p.amount)
		b = lp(b, p.script)
	}
	b = binary.BigEndian.AppendUint64(b, r.fee)
	b = binary.BigEndian.AppendUint64(b, r.expires)
	if r.version != 2 {
		return b
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.supersedes)))
	for _, s := range r.supersedes {
		b = lp(b, s)
	}
	if r.noFlags {
		return b
	}
	return append(b, r.flags)
}

func controlVectors(t *testing.T, v *vectors) {
	priv := aliceKey()
	var ph, np [32]byte
	copy(ph[:], bytes.Repeat([]byte{0xaa}, 32))
	copy(np[:], bytes.Repeat([]byte{0xbb}, 32))
	for _, c := range []struct {
		name string
		c    reserve.Control
	}{
		{"freeze, epoch 1", reserve.Control{Action: reserve.ActionFreeze, Network: reserve.Regtest, WalletID: vecWallet, PolicyHash: ph, Epoch: 1}},
		{"unfreeze, epoch 1", reserve.Control{Action: reserve.ActionUnfreeze, Network: reserve.Regtest, WalletID: vecWallet, PolicyHash: ph, Epoch: 1}},
		{"policy change to bb, from policy 1", reserve.Control{Action: reserve.ActionPolicyChange, Network: reserve.Regtest, WalletID: vecWallet, PolicyHash: ph, Epoch: 1, NewPolicy: np}},
		{"freeze, epoch 7 on mainnet", reserve.Control{Action: reserve.ActionFreeze, Network: reserve.Mainnet, WalletID: "w", PolicyHash: np, Epoch: 7}},
		{"policy change, large epoch", reserve.Control{Action: reserve.ActionPolicyChange, Network: reserve.Signet, WalletID: vecWallet, PolicyHash: np, Epoch: 1<<63 + 5, NewPolicy: ph}},
	} {
		enc, err := c.c.Encode()
		require.NoError(t, err)
		d, err := c.c.Digest()
		require.NoError(t, err)
		a, err := reserve.SignControl(&c.c, priv)
		require.NoError(t, err)
		v.Controls = append(v.Controls, controlVector{
			Name: c.name, Action: c.c.Action.String(), Network: int(c.c.Network), WalletID: c.c.WalletID,
			PolicyHash: hex.EncodeToString(c.c.PolicyHash[:]), Epoch: fmt.Sprint(c.c.Epoch), NewPolicy: hex.EncodeToString(c.c.NewPolicy[:]),
			Encoding: hex.EncodeToString(enc), Digest: hex.EncodeToString(d[:]), Signature: hex.EncodeToString(a.Signature[:]),
		})
	}
}

func loginVectors(t *testing.T, v *vectors) {
	var ch [32]byte
	for i := range ch {
		ch[i] = byte(i)
	}
	origin := "https://127.0.0.1:40123"
	msg := console.LoginMessage(ch, origin)
	v.Login = loginVector{Challenge: hex.EncodeToString(ch[:]), Origin: origin, Message: hex.EncodeToString(msg),
		Signature: hex.EncodeToString(ed25519.Sign(aliceKey(), msg))}
}

func addressVectors(t *testing.T, v *vectors) {
	g := "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	gy := "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
	scripts := []string{
		"76a914000102030405060708090a0b0c0d0e0f1011121388ac",      // p2pkh
		"a914000102030405060708090a0b0c0d0e0f1011121387",          // p2sh
		"0014e739264deb84de0cb9d208a3d83a02af8fd40353",            // p2wpkh
		"0020" + strings.Repeat("ab", 32),                         // p2wsh
		"5120" + strings.Repeat("01", 32),                         // p2tr
		"5220" + strings.Repeat("01", 32),                         // witness v2: no address
		"21" + "02" + g + "ac",                                    // p2pk, compressed
		"21" + "03" + strings.Repeat("00", 31) + "05" + "ac",      // p2pk, x = 5
		"21" + "02" + strings.Repeat("ff", 32) + "ac",             // p2pk, x >= p
		"41" + "04" + g + gy + "ac",                               // p2pk, uncompressed
		"41" + "06" + g + gy + "ac",                               // p2pk, hybrid even
		"41" + "07" + g + gy + "ac",                               // p2pk, hybrid with the wrong parity
		"41" + "04" + g + strings.Repeat("00", 31) + "01" + "ac",  // p2pk, not on the curve
		"5121" + "02" + g + "51ae",                                // bare 1-of-1 multisig
		"6a0568656c6c6f",                                          // OP_RETURN
		"51",                                                      // OP_TRUE
		"76a914000102030405060708090a0b0c0d0e0f10111213" + "88ad", // almost p2pkh
		"0014e739264deb84de0cb9d208a3d83a02af8fd4035300",          // p2wpkh with a byte more
	}
	for _, s := range scripts {
		b, err := hex.DecodeString(s)
		require.NoError(t, err, s)
		for n := reserve.Mainnet; n <= reserve.Regtest; n++ {
			in := reserve.Intent{Payees: []reserve.IntentPayee{{Script: b, AmountSat: 1}}}
			pays, err := multisig.IntentPayments(&in, n)
			require.NoError(t, err)
			v.Addresses = append(v.Addresses, addressVector{Script: s, Network: int(n), Address: pays[0].Address})
		}
	}
}

func auditVectors(t *testing.T, v *vectors) {
	origin := audit.OriginPrefix + "00112233445566778899aabbccddeeff"
	logKey := func(seed byte) (note.Signer, note.Verifier, string) {
		skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), origin)
		require.NoError(t, err)
		s, err := note.NewSigner(skey)
		require.NoError(t, err)
		ver, err := note.NewVerifier(vkey)
		require.NoError(t, err)
		return s, ver, vkey
	}
	signer, ver, vkey := logKey(7)
	_, _, other := logKey(8)
	m := &audit.Memory{Origin: origin}
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	details := []string{"payees=1 total=1000", `memo "<a&b>" ünïcode`, "", "line\nbreak\ttab \u2028", "payees=2 total=5000"}
	for i, d := range details {
		l := audit.Leaf{
			Time:   start.Add(time.Duration(i) * time.Minute),
			Actor:  reserve.Actor{Name: "alice", Role: "officer", Serial: "0a1b"},
			Kind:   "proposal.create",
			IDs:    map[string]string{"proposal": fmt.Sprintf("P%06d", i+1), "txid": strings.Repeat("ab", 32)},
			Detail: d,
		}
		if i == 2 {
			l.Actor, l.Kind, l.IDs = reserve.Actor{Name: "custosd", Role: "chain"}, "proposal.finalized", nil
		}
		_, err := m.Append(l)
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	require.NoError(t, m.WriteExport(&buf, signer))
	export := buf.String()
	cp, err := audit.VerifyExport(strings.NewReader(export), ver)
	require.NoError(t, err)
	header := strings.SplitN(export, "\n", 2)[0]
	var h struct{ Checkpoint string }
	require.NoError(t, json.Unmarshal([]byte(header), &h))
	v.Audit = auditVector{LogKey: vkey, OtherKey: other, Checkpoint: h.Checkpoint, Origin: cp.Origin, Size: cp.Size,
		Root: cp.Root.String(), Export: export}
	for seq := int64(1); seq <= m.Size(); seq++ {
		v.Audit.Leaves = append(v.Audit.Leaves, string(m.Leaf(seq)))
		for _, size := range []int64{seq, m.Size()} {
			p, err := audit.ProveInclusion(m, seq, size)
			require.NoError(t, err)
			text, err := p.MarshalText()
			require.NoError(t, err)
			c, err := m.Checkpoint(size)
			require.NoError(t, err)
			require.NoError(t, p.Check(m.Leaf(seq), c))
			v.Audit.Inclusion = append(v.Audit.Inclusion, inclusionVector{Seq: seq, Size: size, Leaf: string(m.Leaf(seq)), Proof: string(text)})
		}
	}
	// A proof with a hash changed, and a leaf that is not the one proved.
	good := v.Audit.Inclusion[len(v.Audit.Inclusion)-1]
	p, err := audit.ParseInclusionProof([]byte(good.Proof))
	require.NoError(t, err)
	p.Hashes[0][0] ^= 1
	bad, err := p.MarshalText()
	require.NoError(t, err)
	full, err := m.Checkpoint(m.Size())
	require.NoError(t, err)
	err = p.Check([]byte(good.Leaf), full)
	require.Error(t, err)
	v.Audit.Inclusion = append(v.Audit.Inclusion, inclusionVector{Seq: good.Seq, Size: good.Size, Leaf: good.Leaf, Proof: string(bad), Error: err.Error()})
	p, err = audit.ParseInclusionProof([]byte(good.Proof))
	require.NoError(t, err)
	other4 := v.Audit.Leaves[3]
	wrong := audit.InclusionProof{Seq: 4, Size: p.Size, Hashes: p.Hashes}
	text4, err := wrong.MarshalText()
	require.NoError(t, err)
	err = wrong.Check([]byte(other4), full)
	require.Error(t, err)
	v.Audit.Inclusion = append(v.Audit.Inclusion, inclusionVector{Seq: 4, Size: p.Size, Leaf: other4, Proof: string(text4), Error: err.Error()})

	lines := strings.Split(strings.TrimSuffix(export, "\n"), "\n")
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	with := func(f func(ls []string) []string) string { return join(f(append([]string{}, lines...))) }
	edits := []struct {
		name, export, key string
	}{
		{"leaf 2 edited", with(func(ls []string) []string { ls[2] = strings.Replace(ls[2], "ünïcode", "unicode", 1); return ls }), ""},
		{"leaf 1 edited", with(func(ls []string) []string { ls[1] = strings.Replace(ls[1], "total=1000", "total=1001", 1); return ls }), ""},
		{"last leaf edited", with(func(ls []string) []string { ls[5] = strings.Replace(ls[5], "total=5000", "total=9000", 1); return ls }), ""},
		{"leaf 3 deleted", with(func(ls []string) []string { return append(ls[:3], ls[4:]...) }), ""},
		{"leaf 2 inserted again", with(func(ls []string) []string { return append(ls[:3], append([]string{ls[2]}, ls[3:]...)...) }), ""},
		{"leaves 3 and 4 swapped", with(func(ls []string) []string { ls[3], ls[4] = ls[4], ls[3]; return ls }), ""},
		{"last leaf deleted", with(func(ls []string) []string { return ls[:5] }), ""},
		{"a line appended", with(func(ls []string) []string { return append(ls, ls[5]) }), ""},
		{"prev of leaf 4 edited", with(func(ls []string) []string {
			ls[4] = ls[4][:len(ls[4])-4] + "AAA\"}"
			return ls
		}), ""},
		{"leaf 2 not json", with(func(ls []string) []string { ls[2] = "hello"; return ls }), ""},
		{"header foreign", with(func(ls []string) []string { ls[0] = `{"format":"something else"}`; return ls }), ""},
		{"empty file", "", ""},
		{"another log key", export, other},
	}
	for _, e := range edits {
		key := vkey
		if e.key != "" {
			key = e.key
		}
		kv, err := note.NewVerifier(key)
		require.NoError(t, err)
		_, err = audit.VerifyExport(strings.NewReader(e.export), kv)
		var le *audit.LineError
		require.ErrorAs(t, err, &le, e.name)
		v.Audit.Edits = append(v.Audit.Edits, exportEdit{Name: e.name, Export: e.export, LogKey: e.key, Line: le.Line, Error: le.Error()})
	}

	leaf := v.Audit.Leaves[0]
	for _, r := range []struct{ name, text string }{
		{"space after a colon", strings.Replace(leaf, `"seq":1`, `"seq": 1`, 1)},
		{"fields reordered", strings.Replace(leaf, `{"seq":1,"time":"2025-01-02T03:04:05Z"`, `{"time":"2025-01-02T03:04:05Z","seq":1`, 1)},
		{"time with an offset", strings.Replace(leaf, `03:04:05Z`, `04:04:05+01:00`, 1)},
		{"html not escaped", strings.Replace(v.Audit.Leaves[1], `\u003ca\u0026b\u003e`, `<a&b>`, 1)},
		{"kind with a capital", strings.Replace(leaf, "proposal.create", "Proposal.create", 1)},
		{"prev short", strings.Replace(leaf, `"prev":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="`, `"prev":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS"`, 1)},
	} {
		require.NotEqual(t, leaf, r.text, r.name)
		_, err := audit.ParseLeaf([]byte(r.text))
		require.Error(t, err, r.name)
		var re *reserve.Error
		require.ErrorAs(t, err, &re, r.name)
		v.Audit.LeafErrors = append(v.Audit.LeafErrors, refusalVector{Name: r.name, Input: r.text, Error: err.Error(), Field: re.Field})
	}
}

// TestConsoleVectors computes the console's cross-language vectors with
// the Go code and requires web/test/testdata/vectors.json to hold exactly
// them (go test -run TestConsoleVectors -update rewrites it).
func TestConsoleVectors(t *testing.T) {
	v := vectors{Note: "generated by daemon/console/vectors_test.go (go test ./daemon/console -run TestConsoleVectors -update); do not edit"}
	keyVectors(t, &v)
	intentVectors(t, &v)
	controlVectors(t, &v)
	loginVectors(t, &v)
	addressVectors(t, &v)
	auditVectors(t, &v)
	policyVectors(t, &v)
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	if *update {
		require.NoError(t, os.WriteFile(vectorsPath, got, 0o644))
	}
	want, err := os.ReadFile(vectorsPath)
	require.NoError(t, err, "run go test ./daemon/console -run TestConsoleVectors -update")
	require.Equal(t, string(want), string(got), "the vectors drifted from the Go code: run with -update and the node tests")
}
