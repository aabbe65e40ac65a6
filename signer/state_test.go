package signer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// unauthenticatedState is a state record of an empty ledger with a MAC
// no key makes: Entries and Append read it, Sign refuses it.
const unauthenticatedState = "custos-signer-state/1\n" +
	"descriptor 0000000000000000000000000000000000000000000000000000000000000000\n" +
	"policy 0000000000000000000000000000000000000000000000000000000000000000\n" +
	"policy_seq 0\nledger_entries 0\n" +
	"ledger_head 0000000000000000000000000000000000000000000000000000000000000000\n" +
	"receive_next 0\nchange_next 0\n" +
	"mac 0000000000000000000000000000000000000000000000000000000000000000\n"

// MustStateDir copies the signer data directory from (key, pinned files,
// state record, derived addresses) into a new directory, with a ledger
// file holding ledger (nil: none), and returns it. from's state record
// must record an empty ledger.
func MustStateDir(tb testing.TB, from string, ledger []byte) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := os.ReadDir(from)
	require.NoError(tb, err)
	for _, e := range files {
		switch e.Name() {
		case signer.LedgerFileName, signer.LockFileName:
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
	if ledger != nil {
		require.NoError(tb, os.WriteFile(filepath.Join(dir, signer.LedgerFileName), ledger, 0o600))
	}
	return dir
}

// requireStateLine checks that dir's state record holds line.
func requireStateLine(tb testing.TB, dir, line string) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, signer.StateFileName))
	require.NoError(tb, err)
	require.Contains(tb, strings.Split(string(data), "\n"), line)
}

// editState replaces line old of dir's state record by new, as someone
// without the key would.
func editState(tb testing.TB, dir, old, new string) {
	tb.Helper()
	path := filepath.Join(dir, signer.StateFileName)
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	require.Contains(tb, string(data), old+"\n")
	require.NoError(tb, os.WriteFile(path, []byte(strings.Replace(string(data), old+"\n", new+"\n", 1)), 0o600))
}

// snapshot is every file of dir and its bytes.
func snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	files := map[string]string{}
	require.NoError(tb, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		files[path] = string(data)
		return nil
	}))
	return files
}

// copyDir copies every file of from but the lock file into a new
// directory.
func copyDir(tb testing.TB, from string) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := os.ReadDir(from)
	require.NoError(tb, err)
	for _, e := range files {
		if e.Name() == signer.LockFileName {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
	return dir
}

// spendAt is an approved PSBT spending one coin at receive/in and paying
// the change to change/change.
func spendAt(tb testing.TB, f *walletFixture, in, change uint32) *psbt.Packet {
	tb.Helper()
	const coin = 100_000_000
	tx := prevTx(9, wire.NewTxOut(coin, MustDerive(tb, f.desc, reserve.BranchReceive, in).PkScript))
	p, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: f.desc,
		Inputs:     []reserve.Input{{OutPoint: wire.OutPoint{Hash: tx.TxHash()}, AmountSat: coin, Branch: reserve.BranchReceive, Index: in}},
		PrevTxs:    map[chainhash.Hash]*wire.MsgTx{tx.TxHash(): tx},
		Outputs: []multisig.Output{
			{Script: payeeScript(tb), AmountSat: payeeSat},
			{Script: MustDerive(tb, f.desc, reserve.BranchChange, change).PkScript, AmountSat: coin - payeeSat - normalFee, ChangeIndex: &change},
		},
	})
	require.NoError(tb, err)
	f.approve(tb, p)
	return p
}

// TestSignIndexWindow: an input or change output more than IndexWindow
// past the highest index the signer has seen on its branch is refused,
// naming it, and nothing is written; within the window it signs, and the
// window moves with what was signed.
func TestSignIndexWindow(t *testing.T) {
	const w = signer.IndexWindow
	tests := []struct {
		name       string
		in, change uint32
		want       string
	}{
		{name: "both at the window's last index", in: w - 1, change: w - 1},
		{name: "change just past the window", in: 0, change: w, want: "output[1]: change index 1000 is beyond this signer's window"},
		{name: "change at 2^31-1", in: 0, change: 1<<31 - 1, want: "output[1]: change index 2147483647 is beyond"},
		{name: "input just past the window", in: w, change: 0, want: "input[0]: receive index 1000 is beyond this signer's window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newWalletFixture(t)
			us := f.us()
			p := spendAt(t, f, tt.in, tt.change)
			before, files := MustSerialize(t, p), snapshot(t, us.dir)
			_, err := signer.Check(p, f.desc, us.rules)
			s, n, serr := signer.Sign(p, us.pinned, us.key, us.rules)
			if tt.want == "" {
				require.NoError(t, err)
				require.NoError(t, serr)
				require.Equal(t, 1, n)
				require.Equal(t, [2]uint32{w, w}, us.rules.Ledger.Seen())
				requireStateLine(t, us.dir, "receive_next 1000")
				requireStateLine(t, us.dir, "change_next 1000")
				// The window has moved: 1,999 is now within it (the same
				// intent paid again from other coins is then refused by the
				// ledger, after the window).
				l, err := signer.OpenLedger(us.dir)
				require.NoError(t, err)
				rules := us.rules
				rules.Ledger = l
				_, err = signer.Check(spendAt(t, f, 2*w-1, 2*w-1), f.desc, rules)
				require.ErrorIs(t, err, signer.ErrSignedOther)
				_, err = signer.Check(spendAt(t, f, 0, 2*w), f.desc, rules)
				require.ErrorContains(t, err, "output[1]: change index 2000 is beyond")
				require.Equal(t, s.TxID, p.UnsignedTx.TxHash())
				return
			}
			for _, err := range []error{err, serr} {
				require.ErrorContains(t, err, tt.want)
				require.ErrorContains(t, err, "docs/signer.md")
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			}
			require.Zero(t, n)
			require.Equal(t, before, MustSerialize(t, p))
			require.Equal(t, files, snapshot(t, us.dir), "a refusal writes nothing")
		})
	}
}

// TestSignRefusesABrokenState: with any of the signer's files missing,
// cut short or altered, signing stops with ErrStateBroken naming the file
// and the recovery, and writes nothing; the untouched directory signs.
func TestSignRefusesABrokenState(t *testing.T) {
	f := newWalletFixture(t)
	us := f.us()
	first := f.approved(t, newSpend(t, f.desc), normalFee)
	_, _, err := signer.Sign(first, us.pinned, us.key, us.rules)
	require.NoError(t, err)
	requireStateLine(t, us.dir, "ledger_entries 1")
	other := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})

	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		want    string // "" = signs
	}{
		{name: "untouched", breakIt: func(*testing.T, string) {}},
		{name: "state deleted", breakIt: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, signer.StateFileName)))
		}, want: signer.StateFileName + " is missing"},
		{name: "state cut short", breakIt: func(t *testing.T, dir string) {
			path := filepath.Join(dir, signer.StateFileName)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data[:len(data)-20], 0o600))
		}, want: signer.StateFileName + " is damaged"},
		{name: "state edited to forget the entry", breakIt: func(t *testing.T, dir string) {
			editState(t, dir, "ledger_entries 1", "ledger_entries 0")
			data, err := os.ReadFile(filepath.Join(dir, signer.StateFileName))
			require.NoError(t, err)
			head := strings.Split(string(data), "\n")[5]
			editState(t, dir, head, "ledger_head "+strings.Repeat("0", 64))
			require.NoError(t, os.Remove(filepath.Join(dir, signer.LedgerFileName)))
		}, want: "does not authenticate under this signer's key"},
		{name: "ledger deleted", breakIt: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, signer.LedgerFileName)))
		}, want: signer.LedgerFileName + " is missing, and "},
		{name: "ledger emptied", breakIt: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.LedgerFileName), nil, 0o600))
		}, want: signer.LedgerFileName + " holds 0 entries"},
		{name: "ledger replaced by another chain", breakIt: func(t *testing.T, dir string) {
			l := MustLedgerWith(t, nil)
			require.NoError(t, l.Append(f.us().key, entryFor([32]byte{7}, 7, 1, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{7}})))
			data, err := os.ReadFile(l.Path())
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.LedgerFileName), data, 0o600))
		}, want: "the first 1 entries of"},
		{name: "policy swapped", breakIt: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.PolicyFileName), other, 0o600))
		}, want: signer.PolicyFileName + " (32c3ecd3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, us.dir)
			tt.breakIt(t, dir)
			files := snapshot(t, dir)
			p := f.approved(t, newSpend(t, f.desc), normalFee+1_000)
			before := MustSerialize(t, p)
			sign := func() error {
				rules, err := signer.LoadRules(dir, signer.Limits{}, signertest.Now)
				if err != nil {
					return err
				}
				if _, err := signer.Check(p, f.desc, rules); err != nil && tt.want == "" {
					return err
				}
				_, _, err = signer.Sign(p, us.pinned, us.key, rules)
				return err
			}
			err := sign()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, signer.ErrStateBroken)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, "ledger import --in FILE")
			require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
			require.Equal(t, before, MustSerialize(t, p))
			require.Equal(t, files, snapshot(t, dir), "a refusal writes nothing")
		})
	}
}

// TestSignAfterACrashBeforeTheSeal: an entry appended but not yet sealed
// into the state record (a crash between the two) is read, and the next
// signature seals it.
func TestSignAfterACrashBeforeTheSeal(t *testing.T) {
	f := newWalletFixture(t)
	us := f.us()
	e := entryFor([32]byte{7}, 7, 1, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{7}})
	require.NoError(t, us.rules.Ledger.Append(us.key, e))
	requireStateLine(t, us.dir, "ledger_entries 0")
	require.Equal(t, []signer.LedgerEntry{e}, MustEntries(t, us.rules.Ledger))
	_, _, err := signer.Sign(f.approved(t, newSpend(t, f.desc), normalFee), us.pinned, us.key, us.rules)
	require.NoError(t, err)
	requireStateLine(t, us.dir, "ledger_entries 2")
}

// TestRegisterNeedsChecksum: a descriptor is pinned only with its BIP-380
// checksum.
func TestRegisterNeedsChecksum(t *testing.T) {
	f := newRegisterFixture(t)
	desc := MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c)
	body, _, ok := strings.Cut(desc, "#")
	require.True(t, ok)
	_, err := signer.Register(f.dir, f.key, body, false)
	require.ErrorIs(t, err, signer.ErrNoChecksum)
	require.ErrorContains(t, err, "descriptor: the descriptor has no #checksum (BIP-380)")
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	require.NoFileExists(t, f.pinnedPath())
	require.NoFileExists(t, filepath.Join(f.dir, signer.StateFileName))

	reg, err := signer.Register(f.dir, f.key, desc, false)
	require.NoError(t, err)
	require.Equal(t, signer.Registered, reg.Status)
}

// TestLockDir: the data directory's lock is exclusive; a second taker is
// told who holds it, and takes it once it is released.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	held := make(chan *signer.DirLock)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		l, err := signer.LockDir(dir)
		if err != nil {
			close(held)
			return
		}
		held <- l
		<-release
		l.Unlock()
	}()
	first, ok := <-held
	require.True(t, ok, "the first lock")
	require.NotNil(t, first)

	_, err := signer.LockDir(dir)
	require.ErrorIs(t, err, signer.ErrDirInUse)
	require.ErrorContains(t, err, "another custos-signer is using the data directory "+dir)
	require.Equal(t, reserve.CodeUnavailable, reserve.CodeOf(err))

	close(release)
	<-done
	second, err := signer.LockDir(dir)
	require.NoError(t, err)
	second.Unlock()
	second.Unlock()
}

// TestLedgerExportImport: a signer moved to new hardware keeps its
// ledger: the export imports under the restored key into a directory that
// pins the same wallet, and is refused from another key or wallet, cut
// short, edited, or older than the ledger it would replace.
func TestLedgerExportImport(t *testing.T) {
	f := newWalletFixture(t)
	us := f.us()
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	_, _, err := signer.Sign(p, us.pinned, us.key, us.rules)
	require.NoError(t, err)
	export, x, err := signer.ExportLedger(us.dir)
	require.NoError(t, err)
	require.Equal(t, uint64(1), x.Entries)
	policy, err := os.ReadFile(filepath.Join(us.dir, signer.PolicyFileName))
	require.NoError(t, err)

	// newMachine restores mnemonic in a new directory and registers desc.
	newMachine := func(t *testing.T, mnemonic, desc string) (string, *signer.Key) {
		dir := t.TempDir()
		_, err := signer.Restore(dir, testConfig(), mnemonic, testPassphrase)
		require.NoError(t, err)
		key := MustUnlock(t, dir)
		_, err = signer.Register(dir, key, desc, false)
		require.NoError(t, err)
		return dir, key
	}
	edit := func(old, new string) []byte {
		require.Contains(t, string(export), old)
		return []byte(strings.Replace(string(export), old, new, 1))
	}
	tests := []struct {
		name     string
		mnemonic string
		desc     string
		data     []byte
		want     string // "" = imported
	}{
		{name: "the same key and wallet", mnemonic: mnemonicArt, data: export},
		{name: "another signer's key", mnemonic: mnemonicAbout, data: export, want: "does not authenticate under this signer's key"},
		{name: "another wallet", mnemonic: mnemonicArt, desc: MustDescriptor(t, reserve.Regtest, 1, f.m[0].rec, f.m[1].rec, f.m[2].rec),
			data: export, want: "it is the ledger of another wallet"},
		{name: "cut short", mnemonic: mnemonicArt, data: export[:len(export)/2], want: "not a ledger export (cut short?)"},
		{name: "ledger emptied", mnemonic: mnemonicArt, data: func() []byte {
			var v map[string]any
			require.NoError(t, json.Unmarshal(export, &v))
			v["ledger"] = ""
			b, err := json.Marshal(v)
			require.NoError(t, err)
			return b
		}(), want: "its ledger is not the one its state record binds"},
		{name: "ledger edited", mnemonic: mnemonicArt, data: edit(`\"amount_sat\":70000000`, `\"amount_sat\":7000000`),
			want: "its ledger is not the one its state record binds"},
		{name: "state edited", mnemonic: mnemonicArt, data: edit(`ledger_entries 1`, `ledger_entries 0`),
			want: "does not authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc := tt.desc
			if desc == "" {
				desc = f.desc.String()
			}
			dir, key := newMachine(t, tt.mnemonic, desc)
			files := snapshot(t, dir)
			got, err := signer.ImportLedger(dir, key, tt.data)
			if tt.want != "" {
				require.ErrorIs(t, err, signer.ErrExportRefused)
				require.ErrorContains(t, err, tt.want)
				require.Equal(t, files, snapshot(t, dir), "a refused import writes nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, x, got)
			requireFile(t, filepath.Join(dir, signer.PolicyFileName), policy)
			// The new machine remembers the payment: the same intent from
			// other coins is refused, and importing the export again, or
			// an older one, changes nothing it would forget.
			rules, err := signer.LoadRules(dir, signer.Limits{}, signertest.Now)
			require.NoError(t, err)
			pinned, err := signer.LoadPinned(dir, key)
			require.NoError(t, err)
			_, _, err = signer.Sign(spendAt(t, f, 7, 7), pinned, key, rules)
			require.ErrorIs(t, err, signer.ErrSignedOther)
			_, err = signer.ImportLedger(dir, key, export)
			require.NoError(t, err)

			_, _, err = signer.Sign(f.approved(t, newSpend(t, f.desc), normalFee+500), pinned, key, rules)
			require.NoError(t, err, "a fee bump of the payment")
			_, err = signer.ImportLedger(dir, key, export)
			require.ErrorIs(t, err, signer.ErrExportRefused)
			require.ErrorContains(t, err, "importing it would forget signatures")
		})
	}
}

// TestRecordSeen: an address the operator verified past the window moves
// it (under the key, resealing the state), so a coin there is signed for;
// a step of MaxSeenStep or more, a damaged state or another key is
// refused and changes no file.
func TestRecordSeen(t *testing.T) {
	const w = signer.IndexWindow
	f := newWalletFixture(t)
	us := f.us()
	far := uint32(w + 500)
	_, err := signer.Check(spendAt(t, f, far, 0), f.desc, us.rules)
	require.ErrorContains(t, err, "input[0]: receive index 1500 is beyond this signer's window")
	require.ErrorContains(t, err, "'custos-signer address verify ADDRESS --index 1500' widens the window")

	files := snapshot(t, us.dir)
	_, err = signer.RecordSeen(us.dir, us.key, reserve.BranchChange, signer.MaxSeenStep)
	require.ErrorContains(t, err, "index: change index 10000 is 10000 or more past the highest change index this signer has seen")
	_, err = signer.RecordSeen(us.dir, f.m[1].key, reserve.BranchReceive, far)
	require.ErrorIs(t, err, signer.ErrStateBroken, "another signer's key")
	require.Equal(t, files, snapshot(t, us.dir), "a refusal writes nothing")

	next, err := signer.RecordSeen(us.dir, us.key, reserve.BranchReceive, far)
	require.NoError(t, err)
	require.Equal(t, [2]uint32{far + 1, 0}, next)
	requireStateLine(t, us.dir, "receive_next 1501")
	// Lower indexes change nothing.
	files = snapshot(t, us.dir)
	next, err = signer.RecordSeen(us.dir, us.key, reserve.BranchReceive, 7)
	require.NoError(t, err)
	require.Equal(t, [2]uint32{far + 1, 0}, next)
	require.Equal(t, files, snapshot(t, us.dir))

	l, err := signer.OpenLedger(us.dir)
	require.NoError(t, err)
	rules := us.rules
	rules.Ledger = l
	p := spendAt(t, f, far, 0)
	_, n, err := signer.Sign(p, us.pinned, us.key, rules)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// A state edited by hand is refused.
	path := filepath.Join(us.dir, signer.StateFileName)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := bytes.Replace(data, []byte("receive_next 1501"), []byte("receive_next 9999"), 1)
	require.NotEqual(t, data, edited)
	require.NoError(t, os.WriteFile(path, edited, 0o600))
	_, err = signer.RecordSeen(us.dir, us.key, reserve.BranchChange, 5000)
	require.ErrorIs(t, err, signer.ErrStateBroken)
}
