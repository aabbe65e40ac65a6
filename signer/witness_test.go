package signer_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

const witnessOrigin = audit.OriginPrefix + "00112233445566778899aabbccddeeff"

// testLog is a coordinator's audit log and its log key.
type testLog struct {
	m    *audit.Memory
	s    note.Signer
	vkey string
}

// newTestLog is a log of n leaves whose details carry tag (two logs of
// other tags are two histories), signed by the log key of seed byte seed.
func newTestLog(tb testing.TB, origin string, seed byte, n int, tag string) *testLog {
	tb.Helper()
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), origin)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	l := &testLog{m: &audit.Memory{Origin: origin}, s: s, vkey: vkey}
	l.grow(tb, n, tag)
	return l
}

func (l *testLog) grow(tb testing.TB, n int, tag string) {
	tb.Helper()
	for range n {
		_, err := l.m.Append(audit.Leaf{Time: time.Unix(1700000000, 0).UTC(), Actor: reserve.Actor{Name: "custosd", Role: "chain"},
			Kind: "test.event", Detail: fmt.Sprintf("%s %d", tag, l.m.Size()+1)})
		require.NoError(tb, err)
	}
}

// signed is the signed checkpoint of the first size leaves.
func (l *testLog) signed(tb testing.TB, size int64) []byte {
	tb.Helper()
	cp, err := l.m.Checkpoint(size)
	require.NoError(tb, err)
	msg, err := audit.SignCheckpoint(cp, l.s)
	require.NoError(tb, err)
	return msg
}

// proof is the consistency proof text from old to new.
func (l *testLog) proof(tb testing.TB, old, new int64) []byte {
	tb.Helper()
	p, err := audit.ProveConsistency(l.m, old, new, l.m.Size())
	require.NoError(tb, err)
	text, err := p.MarshalText()
	require.NoError(tb, err)
	return text
}

// withWitness is a copy of p carrying the checkpoint and, when proof is
// not nil, fp's consistency proof.
func withWitness(tb testing.TB, p *psbt.Packet, checkpoint []byte, fp uint32, proof []byte) *psbt.Packet {
	tb.Helper()
	q := MustClone(tb, p)
	w := multisig.Witness{Checkpoint: checkpoint, Proofs: map[uint32][]byte{}}
	if proof != nil {
		w.Proofs[fp] = proof
	}
	require.NoError(tb, multisig.SetWitness(q, w))
	return q
}

// pinLog pins l's key in the signer under test and reloads its rules.
func pinLog(tb testing.TB, f *walletFixture, l *testLog) {
	tb.Helper()
	us := f.us()
	changed, err := signer.PinLogKey(us.dir, us.key, l.vkey)
	require.NoError(tb, err)
	require.True(tb, changed)
	us.rules, err = signer.LoadRules(us.dir, signer.Limits{}, us.rules.Now)
	require.NoError(tb, err)
}

// witnessSign signs p as the signer under test and returns the checkpoint
// it recorded.
func witnessSign(tb testing.TB, f *walletFixture, p *psbt.Packet) (signer.Summary, error) {
	tb.Helper()
	us := f.us()
	s, _, err := signer.Sign(p, us.pinned, us.key, us.rules)
	return s, err
}

func TestWitnessFirstAndExtending(t *testing.T) {
	f := newWalletFixture(t)
	l := newTestLog(t, witnessOrigin, 1, 3, "main")
	pinLog(t, f, l)
	fp := f.us().rec.Fingerprint
	base := f.approved(t, newSpend(t, f.desc), normalFee)

	// A first checkpoint needs no proof; the signer cosigns it.
	p := withWitness(t, base, l.signed(t, 3), fp, nil)
	s, err := witnessSign(t, f, p)
	require.NoError(t, err)
	require.True(t, s.Witness.Pinned)
	require.EqualValues(t, 3, s.Witness.Checkpoint.Size)
	requireCosigned(t, f, l, p, 3)
	key, got, err := signer.LogKey(f.us().dir)
	require.NoError(t, err)
	require.Equal(t, l.vkey, key)
	require.EqualValues(t, 3, got.Size)

	// A later checkpoint with the proof from size 3.
	l.grow(t, 4, "main")
	p = withWitness(t, base, l.signed(t, 7), fp, l.proof(t, 3, 7))
	_, err = witnessSign(t, f, p)
	require.NoError(t, err)
	requireCosigned(t, f, l, p, 7)

	// The same checkpoint again (a signature written out again) needs no
	// proof.
	p = withWitness(t, base, l.signed(t, 7), fp, nil)
	_, err = witnessSign(t, f, p)
	require.NoError(t, err)
}

// requireCosigned checks p carries the signer under test's cosignature of
// checkpoint size, under its witness key.
func requireCosigned(t *testing.T, f *walletFixture, l *testLog, p *psbt.Packet, size int64) {
	t.Helper()
	w, err := multisig.ReadWitness(p)
	require.NoError(t, err)
	fp := f.us().rec.Fingerprint
	c, err := audit.ParseCosignature(fp, w.Cosignatures[fp])
	require.NoError(t, err)
	want, err := signer.WitnessKey(f.us().key)
	require.NoError(t, err)
	require.Equal(t, want, c.Key)
	logV, err := audit.ParseLogKey(l.vkey)
	require.NoError(t, err)
	cp, err := audit.OpenCosignature(c, logV)
	require.NoError(t, err)
	require.Equal(t, size, cp.Size)
}

func TestWitnessRefusals(t *testing.T) {
	f := newWalletFixture(t)
	l := newTestLog(t, witnessOrigin, 1, 5, "main")
	pinLog(t, f, l)
	fp := f.us().rec.Fingerprint
	base := f.approved(t, newSpend(t, f.desc), normalFee)
	// The signer witnesses size 5.
	_, err := witnessSign(t, f, withWitness(t, base, l.signed(t, 5), fp, nil))
	require.NoError(t, err)

	// Another history of the same log (a restored or forked coordinator):
	// the same origin and key, other leaves.
	fork := newTestLog(t, witnessOrigin, 1, 8, "fork")
	other := newTestLog(t, audit.OriginPrefix+"ffeeddccbbaa99887766554433221100", 2, 8, "main")
	l.grow(t, 3, "main")
	proof := l.proof(t, 5, 8)
	tests := []struct {
		name   string
		p      *psbt.Packet
		field  string
		forked bool
	}{
		{name: "no checkpoint", p: base, field: "checkpoint"},
		{name: "smaller size", p: withWitness(t, base, l.signed(t, 4), fp, nil), field: "checkpoint", forked: true},
		{name: "same size other root", p: withWitness(t, base, fork.signed(t, 5), fp, nil), field: "checkpoint", forked: true},
		{name: "bad proof", p: withWitness(t, base, fork.signed(t, 8), fp, fork.proof(t, 5, 8)), field: "checkpoint", forked: true},
		{name: "proof of other sizes", p: withWitness(t, base, l.signed(t, 8), fp, l.proof(t, 4, 8)), field: "consistency proof"},
		{name: "no proof", p: withWitness(t, base, l.signed(t, 8), fp, nil), field: "consistency proof"},
		{name: "proof of another cosigner", p: withWitness(t, base, l.signed(t, 8), fp+1, proof), field: "consistency proof"},
		{name: "malformed proof", p: withWitness(t, base, l.signed(t, 8), fp, []byte("custos-audit-consistency/v1\nold 5\n")), field: "consistency proof"},
		{name: "checkpoint of another log", p: withWitness(t, base, other.signed(t, 8), fp, nil), field: "checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := MustClone(t, tc.p)
			_, err := witnessSign(t, f, p)
			require.Error(t, err)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.field, re.Field, "%v", err)
			require.Equal(t, tc.forked, errorsIs(err, audit.ErrForked), "%v", err)
			require.Empty(t, p.Inputs[0].PartialSigs, "nothing signed")
			_, cp, err := signer.LogKey(f.us().dir)
			require.NoError(t, err)
			require.EqualValues(t, 5, cp.Size, "nothing recorded")
		})
	}
	// The honest extension is signed.
	_, err = witnessSign(t, f, withWitness(t, base, l.signed(t, 8), fp, proof))
	require.NoError(t, err)
}

func TestWitnessNoLogKeyPinned(t *testing.T) {
	// A state record without a log key (registered before witnessing):
	// signs as before and cosigns nothing.
	f := newWalletFixture(t)
	l := newTestLog(t, witnessOrigin, 1, 3, "main")
	p := withWitness(t, f.approved(t, newSpend(t, f.desc), normalFee), l.signed(t, 3), f.us().rec.Fingerprint, nil)
	s, err := witnessSign(t, f, p)
	require.NoError(t, err)
	require.False(t, s.Witness.Pinned)
	w, err := multisig.ReadWitness(p)
	require.NoError(t, err)
	require.Empty(t, w.Cosignatures)
}

func TestPinLogKey(t *testing.T) {
	f := newWalletFixture(t)
	l := newTestLog(t, witnessOrigin, 1, 1, "main")
	us := f.us()
	tests := []struct {
		name    string
		vkey    string
		changed bool
		field   string
	}{
		{name: "first pin", vkey: l.vkey, changed: true},
		{name: "same key again", vkey: l.vkey},
		{name: "another log's key", vkey: newTestLog(t, audit.OriginPrefix+"ff", 2, 1, "x").vkey, field: "log key"},
		{name: "not a key", vkey: "custos.reserve/00+zz", field: "log key"},
		{name: "not a Custos log", vkey: func() string {
			_, v, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{3}, 32)), "example.com/log")
			require.NoError(t, err)
			return v
		}(), field: "log key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := signer.PinLogKey(us.dir, us.key, tc.vkey)
			if tc.field != "" {
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
				var re *reserve.Error
				require.ErrorAs(t, err, &re)
				require.Equal(t, tc.field, re.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.changed, changed)
		})
	}
	// The record is still one the signer reads and authenticates.
	_, err := signer.OpenLedger(us.dir)
	require.NoError(t, err)
	_, _, err = signer.OpenPinned(us.dir, us.key)
	require.NoError(t, err)
}

func TestWitnessKeyDeterministic(t *testing.T) {
	f := newWalletFixture(t)
	a, err := signer.WitnessKey(f.m[0].key)
	require.NoError(t, err)
	b, err := signer.WitnessKey(f.m[0].key)
	require.NoError(t, err)
	c, err := signer.WitnessKey(f.m[1].key)
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	_, err = audit.ParseWitnessKey(a, f.m[0].rec.Fingerprint)
	require.NoError(t, err)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
