//go:build itest

package itest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// signerOut is a cosigner whose signatures a proposal holds.
type signerOut struct {
	Cosigner      int   `json:"cosigner"`
	InTransaction *bool `json:"in_transaction"`
}

type proposalOut struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	FeeSat  int64  `json:"fee_sat"`
	FeeRate int64  `json:"fee_rate_sat_vb"`
	VSize   int64  `json:"vsize"`
	Txid    string `json:"txid"`
	Payees  []struct {
		Address   string `json:"address"`
		AmountSat int64  `json:"amount_sat"`
	} `json:"payees"`
	Change *struct {
		AmountSat int64 `json:"amount_sat"`
	} `json:"change"`
	Inputs           int         `json:"inputs"`
	InputSat         int64       `json:"input_sat"`
	SignaturesNeeded int         `json:"signatures_needed"`
	FailReason       string      `json:"fail_reason"`
	Signers          []signerOut `json:"signers"`
	History          []struct {
		State string `json:"state"`
		Note  string `json:"note"`
	} `json:"history"`
	ApprovalsNeeded int      `json:"approvals_needed"`
	Replaces        string   `json:"replaces"`
	Supersedes      []string `json:"supersedes"`
	Repeat          bool     `json:"repeat"`
	FeeCapSat       int64    `json:"fee_cap_sat"`
	ReleaseAt       string   `json:"release_at"`
	Decisions       []struct {
		Officer  string `json:"officer"`
		Decision string `json:"decision"`
	} `json:"decisions"`
}

// unlistedAddress is a fresh regtest address outside the reserve and
// off the itest policy's allowlist.
func unlistedAddress(t *testing.T) string {
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return p2wpkh(t, key)
}

func p2wpkh(t testing.TB, key *btcec.PrivateKey) string {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	return addr.EncodeAddress()
}

// allowlisted are the payees on the itest policy's allowlist, in effect
// long before the tests run.
func allowlisted(t testing.TB) []string {
	out := make([]string, 8)
	for i := range out {
		seed := sha256.Sum256([]byte(fmt.Sprintf("custos itest payee %d", i)))
		key, _ := btcec.PrivKeyFromBytes(seed[:])
		out[i] = p2wpkh(t, key)
	}
	return out
}

// payeesUsed counts, per test, the allowlisted payees handed out.
var payeesUsed sync.Map

// externalAddress is the next allowlisted payee for this test: outside
// the reserve, and paid with the tier's approvals alone.
func externalAddress(t *testing.T) string {
	n, _ := payeesUsed.LoadOrStore(t.Name(), new(int))
	i := n.(*int)
	list := allowlisted(t)
	require.Less(t, *i, len(list), "the test uses more allowlisted payees than the policy has")
	a := list[*i]
	*i++
	return a
}

// proposeOnly proposes a payment and returns it waiting for approvals.
func (c *custosd) proposeOnly(t *testing.T, feeRate int, pays ...payment) proposalOut {
	t.Helper()
	args := []string{"spend", "propose", "--feerate", itoa(feeRate), "--memo", "itest"}
	for _, p := range pays {
		args = append(args, "--to", p.address+"="+reserve.FormatBTC(p.amount))
	}
	var p proposalOut
	c.ctlJSON(&p, args...)
	require.Equal(t, "PENDING_APPROVAL", p.State)
	return p
}

// propose proposes a small payment to allowlisted payees and has alice
// and bob approve it, which releases it to the signers at once.
func (c *custosd) propose(t *testing.T, feeRate int, pays ...payment) proposalOut {
	t.Helper()
	p := c.proposeOnly(t, feeRate, pays...)
	require.Equal(t, 2, p.ApprovalsNeeded)
	p = c.approve(t, p.ID, officers[0], officers[1])
	require.Equal(t, "SIGNING", p.State)
	return p
}

func (c *custosd) show(t *testing.T, id string) proposalOut {
	t.Helper()
	var p proposalOut
	c.ctlJSON(&p, "spend", "show", id)
	return p
}

func (c *custosd) export(t *testing.T, id string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".psbt")
	_, err := c.ctl("spend", "export", id, "--out", path)
	require.NoError(t, err)
	return path
}

// importSigned imports a signed file and returns how many signatures it
// added.
func (c *custosd) importSigned(t *testing.T, id, path string) int {
	t.Helper()
	var out struct {
		Added int `json:"signatures_added"`
	}
	c.ctlJSON(&out, "spend", "import", id, path)
	return out.Added
}

func (c *custosd) waitState(t *testing.T, id, state string) proposalOut {
	t.Helper()
	return c.waitStateWithin(t, id, state, 60*time.Second)
}

func (c *custosd) waitStateWithin(t *testing.T, id, state string, within time.Duration) proposalOut {
	t.Helper()
	var p proposalOut
	waitFor(t, within, id+" "+state, func() bool {
		p = c.show(t, id)
		return p.State == state
	})
	return p
}

// sign has the signer sign the PSBT file in, as its operator would on
// the air-gapped machine, and returns the signed file's path.
func (s *signer) sign(t *testing.T, in string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "signed.psbt")
	s.run(t, "", "sign", "--in", in, "--out", out, "--yes")
	return out
}

func (s *signer) signErr(t *testing.T, in string) error {
	t.Helper()
	out := filepath.Join(t.TempDir(), "signed.psbt")
	_, err := s.runErr("", "sign", "--in", in, "--out", out, "--yes")
	return err
}

// fund pays the reserve amounts to fresh addresses, mines them and waits
// for the daemon.
func fund(t *testing.T, h *harness, amounts ...int64) {
	t.Helper()
	for _, a := range amounts {
		addr, _ := h.custos.newAddress("funding")
		h.funder.pay(h.node, payment{addr, a})
	}
	h.funder.mine(h.node, 1)
	h.custos.waitSynced()
}

// spendFlow runs the whole job for an m-of-n reserve: propose two payees,
// export once, every signer signs its copy, import in the given order
// (the first m complete it), broadcast, confirm; then the surplus
// signatures are accepted harmlessly.
func spendFlow(t *testing.T, h *harness, m, n int, order []int) {
	c := h.custos
	_, signers := createReserve(t, c, m, n)
	fund(t, h, 300_000_000, 200_000_000)
	before := c.balance().ConfirmedSat
	require.Equal(t, int64(500_000_000), before)

	a, b := externalAddress(t), externalAddress(t)
	p := c.propose(t, 5, payment{a, 120_000_000}, payment{b, 80_000_000})
	require.Equal(t, m, p.SignaturesNeeded)
	require.GreaterOrEqual(t, p.FeeSat, 5*p.VSize)
	psbtFile := c.export(t, p.ID)

	signed := make([]string, n)
	for _, i := range order {
		signed[i] = signers[i].sign(t, psbtFile)
	}
	for k, i := range order {
		added := c.importSigned(t, p.ID, signed[i])
		require.Positive(t, added, "signer %d", i)
		// Importing the same file again changes nothing.
		require.Zero(t, c.importSigned(t, p.ID, signed[i]))
		if k < m-1 {
			require.Equal(t, "SIGNING", c.show(t, p.ID).State)
		}
		if k == m-1 {
			got := c.waitState(t, p.ID, "BROADCAST")
			require.Contains(t, h.node.mempool(), got.Txid)
		}
	}
	h.funder.mine(h.node, 1)
	c.waitSynced()
	done := c.waitState(t, p.ID, "CONFIRMED")
	require.Len(t, done.Signers, len(order), "surplus signers are recorded too")
	// ... but only the first m made the transaction: a late signature is
	// evidence, not part of it.
	for k, i := range order {
		idx := slices.IndexFunc(done.Signers, func(s signerOut) bool { return s.Cosigner == i })
		require.GreaterOrEqual(t, idx, 0, "cosigner %d", i)
		require.NotNil(t, done.Signers[idx].InTransaction, "cosigner %d", i)
		require.Equal(t, k < m, *done.Signers[idx].InTransaction, "cosigner %d, signed %d-th", i, k+1)
	}

	// The payees got exactly their amounts; the reserve kept the change.
	tx := h.node.findTx(done.Txid)
	paid := map[string]int64{}
	for _, out := range tx.TxOut {
		paid[scriptAddress(t, out.PkScript)] += out.Value
	}
	require.Equal(t, int64(120_000_000), paid[a])
	require.Equal(t, int64(80_000_000), paid[b])
	require.Equal(t, balanceOut{ConfirmedSat: before - 200_000_000 - done.FeeSat, SyncedHeight: h.node.height()}, c.balance())
	require.Equal(t, done.InputSat-200_000_000-done.FeeSat, done.Change.AmountSat)
}

func testSpend2of3(t *testing.T, h *harness) { spendFlow(t, h, 2, 3, []int{2, 0, 1}) }
func testSpend3of5(t *testing.T, h *harness) { spendFlow(t, h, 3, 5, []int{4, 1, 3, 0}) }

func testCancelRespend(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	first := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	// The only coin is reserved: a second proposal cannot have it.
	_, err := c.ctl("spend", "propose", "--to", externalAddress(t)+"=0.1", "--feerate", "3")
	require.ErrorContains(t, err, "insufficient funds")

	var cancelled proposalOut
	c.ctlJSON(&cancelled, "spend", "cancel", first.ID, "--reason", "wrong payee")
	require.Equal(t, "CANCELLED", cancelled.State)
	// Cancelled proposals cannot be exported or signed into.
	_, err = c.ctl("spend", "export", first.ID, "--out", filepath.Join(t.TempDir(), "x"))
	require.ErrorContains(t, err, "FailedPrecondition")

	second := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	file := c.export(t, second.ID)
	c.importSigned(t, second.ID, signers[0].sign(t, file))
	c.importSigned(t, second.ID, signers[1].sign(t, file))
	c.waitState(t, second.ID, "BROADCAST")
	// Broadcast proposals cannot be cancelled.
	_, err = c.ctl("spend", "cancel", second.ID)
	require.ErrorContains(t, err, "FailedPrecondition")
	h.funder.mine(h.node, 1)
	c.waitState(t, second.ID, "CONFIRMED")
	require.Equal(t, "CANCELLED", c.show(t, first.ID).State)
}

// testCrashEveryStep kills custosd with SIGKILL between every two steps
// of the flow and restarts it; the flow must complete with nothing lost or
// duplicated.
func testCrashEveryStep(t *testing.T, h *harness) {
	c := h.custos
	crash := func() {
		c.kill()
		c.start()
	}
	_, signers := createReserve(t, c, 2, 3)
	crash()
	fund(t, h, 150_000_000)
	crash()
	p := c.propose(t, 4, payment{externalAddress(t), 50_000_000})
	crash()
	file := c.export(t, p.ID)
	crash()
	s0, s1 := signers[0].sign(t, file), signers[1].sign(t, file)
	c.importSigned(t, p.ID, s0)
	crash()
	require.Equal(t, "SIGNING", c.show(t, p.ID).State)
	c.importSigned(t, p.ID, s1)
	crash()
	c.waitState(t, p.ID, "BROADCAST")
	crash()
	h.funder.mine(h.node, 1)
	c.waitSynced()
	crash()
	done := c.waitState(t, p.ID, "CONFIRMED")

	var list []proposalOut
	c.ctlJSON(&list, "spend", "list")
	require.Len(t, list, 1, "no duplicated proposal")
	require.Len(t, done.Signers, 2)
	require.Equal(t, balanceOut{ConfirmedSat: 150_000_000 - 50_000_000 - done.FeeSat, SyncedHeight: h.node.height()}, c.balance())
	utxos := c.utxos()
	require.Len(t, utxos, 1, "only the change is left")
	require.Equal(t, "change", utxos[0].Branch)
}

// testDoubleSpend has the ministries' signatures for a cancelled proposal
// broadcast outside Custos: the next proposal over the same coin is
// refused by the node while the conflict is in the mempool, and a
// proposal still collecting signatures fails as a double spend once the
// conflict confirms.
func testDoubleSpend(t *testing.T, h *harness) {
	c, n := h.custos, h.node
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	first := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	file := c.export(t, first.ID)
	s0, s1 := signers[0].sign(t, file), signers[1].sign(t, file)
	c.ctlJSON(&first, "spend", "cancel", first.ID)

	// The next proposal takes the same (only) coin.
	second := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	secondFile := c.export(t, second.ID)
	c.importSigned(t, second.ID, signers[2].sign(t, secondFile))

	// Someone finalizes the first proposal's signatures by hand and
	// broadcasts them.
	conflict := finalizeOutside(t, w.Descriptor, file, s0, s1)
	n.send(conflict)

	// Completing the second now makes the node refuse it; but a conflict
	// only in the mempool may yet be replaced or dropped, so the signed
	// second transaction stays FINALIZED, holding its coin, and is tried
	// again.
	c.importSigned(t, second.ID, signers[0].sign(t, secondFile))
	require.Equal(t, "FINALIZED", c.waitState(t, second.ID, "FINALIZED").State)
	_, err := c.ctl("spend", "propose", "--to", externalAddress(t)+"=0.1", "--feerate", "3")
	require.ErrorContains(t, err, "insufficient funds")

	// Once the conflicting spend confirms, the second can never confirm:
	// FAILED, saying so, and the change of the conflicting spend is ours.
	h.funder.mine(n, 1)
	c.waitSynced()
	failed := c.waitState(t, second.ID, "FAILED")
	require.NotEmpty(t, failed.FailReason)
	require.Equal(t, "CANCELLED", c.show(t, first.ID).State)
	third := c.propose(t, 3, payment{externalAddress(t), 5_000_000})
	require.Equal(t, "SIGNING", third.State)
}

// testDoubleSpendWhileSigning: a proposal collecting signatures whose
// coin is spent by a confirmed transaction fails as a double spend.
func testDoubleSpendWhileSigning(t *testing.T, h *harness) {
	c, n := h.custos, h.node
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	first := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	file := c.export(t, first.ID)
	s0, s1 := signers[0].sign(t, file), signers[1].sign(t, file)
	c.ctlJSON(&first, "spend", "cancel", first.ID)
	second := c.propose(t, 3, payment{externalAddress(t), 20_000_000})

	n.send(finalizeOutside(t, w.Descriptor, file, s0, s1))
	h.funder.mine(n, 1)
	failed := c.waitState(t, second.ID, "FAILED")
	require.Contains(t, failed.FailReason, "double spend")
}

// testImportFinalized: a co-signer that finalizes once it sees the
// threshold (Electrum's default, Core's walletprocesspsbt with finalize)
// returns final witnesses instead of partial signatures. The import takes
// the signatures out of them; the unsigned export is refused, never
// "0 signatures added".
func testImportFinalized(t *testing.T, h *harness) {
	c := h.custos
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000, 50_000_000)
	p := c.propose(t, 4, payment{externalAddress(t), 120_000_000})
	file := c.export(t, p.ID)

	_, err := c.ctl("spend", "import", p.ID, file)
	require.ErrorContains(t, err, "carries no signatures")
	require.Equal(t, "SIGNING", c.show(t, p.ID).State)

	s0, s2 := signers[0].sign(t, file), signers[2].sign(t, file)
	finalized := finalizedOutside(t, w.Descriptor, file, s0, s2)
	added := c.importSigned(t, p.ID, finalized)
	// 1.2 BTC takes both coins: two signatures on each of two inputs.
	require.Equal(t, 4, added, "signatures taken from the final witnesses")
	got := c.waitState(t, p.ID, "BROADCAST")
	require.Contains(t, h.node.mempool(), got.Txid)
	require.Zero(t, c.importSigned(t, p.ID, finalized), "a repeat adds nothing")
}

// finalizedOutside is finalizeOutside's PSBT, finalized, written to a file.
func finalizedOutside(t *testing.T, descriptor string, files ...string) string {
	t.Helper()
	desc, err := multisig.ParseDescriptor(descriptor, reserve.Regtest)
	require.NoError(t, err)
	pkts := make([]*psbt.Packet, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		pkts[i], err = multisig.ParsePSBT(b)
		require.NoError(t, err)
	}
	for _, in := range pkts[1:] {
		_, err = multisig.CombinePSBT(pkts[0], in, desc, 1)
		require.NoError(t, err)
	}
	_, err = multisig.FinalizePSBT(pkts[0], desc)
	require.NoError(t, err)
	raw, err := multisig.SerializePSBT(pkts[0])
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "finalized.psbt")
	require.NoError(t, os.WriteFile(out, raw, 0o600))
	return out
}

// finalizeOutside combines signed PSBT files and finalizes them without
// Custos, as a rogue operator holding m signatures could.
func finalizeOutside(t *testing.T, descriptor string, files ...string) *wire.MsgTx {
	t.Helper()
	desc, err := multisig.ParseDescriptor(descriptor, reserve.Regtest)
	require.NoError(t, err)
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	canonical, err := multisig.ParsePSBT(read(files[0]))
	require.NoError(t, err)
	for _, f := range files[1:] {
		in, err := multisig.ParsePSBT(read(f))
		require.NoError(t, err)
		_, err = multisig.CombinePSBT(canonical, in, desc, 1)
		require.NoError(t, err)
	}
	tx, err := multisig.FinalizePSBT(canonical, desc)
	require.NoError(t, err)
	return tx
}

func scriptAddress(t *testing.T, script []byte) string {
	t.Helper()
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	if len(addrs) != 1 {
		return ""
	}
	return addrs[0].EncodeAddress()
}

// testExpiry runs a reserve whose policy expires proposals after a
// minute: a proposal nobody approved expires on its own and frees its coin
// for the next.
func testExpiry(t *testing.T, h *harness) {
	c := h.custos
	// Tier 1 (above 5 BTC) cools off for two minutes: longer than a
	// proposal lives.
	createReserveWith(t, c, 2, 3, policyParams{expiry: "1m", coolOff: "2m"})
	fund(t, h, 100_000_000, 1_000_000_000)

	// A quorum whose cool-off would outlast the proposal is refused: it
	// could never reach the signers.
	large := c.proposeOnly(t, 3, payment{externalAddress(t), 600_000_000})
	require.Equal(t, "PENDING_APPROVAL", c.approve(t, large.ID, officers[0], officers[1]).State)
	_, err := c.asOfficer(t, officers[2], "spend", "approve", large.ID)
	require.ErrorContains(t, err, "could never go to the signers")
	require.Equal(t, "PENDING_APPROVAL", c.show(t, large.ID).State)

	first := c.proposeOnly(t, 3, payment{externalAddress(t), 10_000_000})

	expired := c.waitStateWithin(t, first.ID, "EXPIRED", 90*time.Second)
	require.Equal(t, "EXPIRED", expired.History[len(expired.History)-1].State)
	// Signatures for an expired proposal are refused; its coin is free.
	file := filepath.Join(t.TempDir(), "late.psbt")
	_, err = c.ctl("spend", "export", first.ID, "--out", file)
	require.ErrorContains(t, err, "FailedPrecondition")
	second := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	require.Equal(t, "SIGNING", second.State)
}

// testSpendRefusals sends the daemon bad spend requests and tampered
// signed files; each gets the error kind that names the problem, and
// nothing changes.
func testSpendRefusals(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	ext := externalAddress(t)

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"mainnet address", []string{"--to", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq=1", "--feerate", "2"}, "InvalidArgument: payees[0]"},
		{"garbage address", []string{"--to", "nonsense=1", "--feerate", "2"}, "InvalidArgument: payees[0]"},
		{"dust amount", []string{"--to", ext + "=0.00000100", "--feerate", "2"}, "dust"},
		{"fee rate too high", []string{"--to", ext + "=1", "--feerate", "20000"}, "InvalidArgument: fee_rate"},
		{"more than the reserve holds", []string{"--to", ext + "=2", "--feerate", "2"}, "insufficient funds"},
		{"zero amount", []string{"--to", ext + "=0", "--feerate", "2"}, "more than zero"},
		{"no fee rate", []string{"--to", ext + "=1"}, "--feerate"},
	}
	for _, b := range bad {
		_, err := c.ctl(append([]string{"spend", "propose"}, b.args...)...)
		require.ErrorContains(t, err, b.want, b.name)
	}
	for _, args := range [][]string{{"show", "P999999"}, {"export", "P999999", "--out", filepath.Join(t.TempDir(), "x")}, {"cancel", "P999999"}} {
		_, err := c.ctl(append([]string{"spend"}, args...)...)
		require.ErrorContains(t, err, "NotFound", args[0])
	}
	_, err := c.ctl("spend", "show", "P0;DROP")
	require.ErrorContains(t, err, "InvalidArgument: id")
	var none []proposalOut
	c.ctlJSON(&none, "spend", "list")
	require.Empty(t, none, "no refused request created a proposal")

	p := c.propose(t, 3, payment{ext, 30_000_000})
	file := c.export(t, p.ID)
	good := signers[0].sign(t, file)
	tamper := func(name string, edit func(raw []byte) []byte) string {
		raw, err := os.ReadFile(good)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, edit(raw), 0o600))
		return path
	}
	editPSBT := func(fn func(pkt *psbt.Packet)) func([]byte) []byte {
		return func(raw []byte) []byte {
			pkt, err := multisig.ParsePSBT(raw)
			require.NoError(t, err)
			fn(pkt)
			out, err := multisig.SerializePSBT(pkt)
			require.NoError(t, err)
			return out
		}
	}
	foreign, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	files := []struct {
		name string
		path string
		want string
	}{
		{"truncated", tamper("truncated", func(raw []byte) []byte { return raw[:len(raw)/2] }), "InvalidArgument"},
		{"not a PSBT, refused by custosctl", tamper("garbage", func([]byte) []byte { return []byte("this is not a psbt") }), "is neither a binary PSBT nor base64"},
		{"base64 of no PSBT, refused by the daemon", tamper("garbage64", func([]byte) []byte { return []byte("aGVsbG8gd29ybGQ=") }), "InvalidArgument: psbt: malformed PSBT"},
		{"altered amount", tamper("altered", editPSBT(func(pkt *psbt.Packet) { pkt.UnsignedTx.TxOut[0].Value-- })), "different transaction"},
		{"altered locktime", tamper("locktime", editPSBT(func(pkt *psbt.Packet) { pkt.UnsignedTx.LockTime++ })), "different transaction"},
		{"invalid signature", tamper("badsig", editPSBT(func(pkt *psbt.Packet) {
			sig := pkt.Inputs[0].PartialSigs[0].Signature
			sig[len(sig)/2] ^= 0x01
		})), "InvalidArgument: input[0]"},
		{"key not in the wallet", tamper("foreign", editPSBT(func(pkt *psbt.Packet) {
			ps := pkt.Inputs[0].PartialSigs[0]
			ps.PubKey = foreign.PubKey().SerializeCompressed()
		})), "InvalidArgument: input[0]"},
	}
	for _, f := range files {
		_, err := c.ctl("spend", "import", p.ID, f.path)
		require.ErrorContains(t, err, f.want, f.name)
		got := c.show(t, p.ID)
		require.Equal(t, "SIGNING", got.State, f.name)
		require.Empty(t, got.Signers, "%s: nothing stored", f.name)
	}

	// Roles: an auditor may read but not propose, export or import.
	cert, key, err := issueIdentity(c.dir, "auditor-1", "auditor")
	require.NoError(t, err)
	_, err = c.ctl("spend", "propose", "--to", ext+"=0.1", "--feerate", "2", "--tlscert", cert, "--tlskey", key)
	require.ErrorContains(t, err, "PermissionDenied")
	_, err = c.ctl("spend", "import", p.ID, good, "--tlscert", cert, "--tlskey", key)
	require.ErrorContains(t, err, "PermissionDenied")
	_, err = c.ctl("spend", "show", p.ID, "--tlscert", cert, "--tlskey", key)
	require.NoError(t, err)

	// The untampered file still imports.
	require.Positive(t, c.importSigned(t, p.ID, good))
	require.Len(t, c.show(t, p.ID).Signers, 1)
}
