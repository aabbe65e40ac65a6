//go:build itest

package itest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	custossigner "github.com/custos-reserve/custos/signer"
)

// Issue 12's online signer agents as processes: `custos-signer serve`
// with a signer identity issued by `custosctl identity issue`, against a
// custosd whose CA is online, on a fixed port so agents find it again
// after a restart. Every case ends by grepping the stderr of custosd and
// of every custos-signer process for the secrets the flow used.

// agentCAPassphrase unlocks the sealed CA of the agent cases' daemon.
const agentCAPassphrase = "itest agent CA passphrase"

// agentFlow is one agent case's reserve: the daemon with its CA online,
// the ministries (their commands' stderr in logs/), and the agents.
type agentFlow struct {
	t       *testing.T
	h       *harness
	c       *custosd
	signers []*signer
	logs    string
	agents  []*agentProc
}

// newAgentFlow restarts the harness's daemon with its CA online on a
// fixed port and makes a 2-of-3 reserve funded with two coins.
func newAgentFlow(t *testing.T, h *harness) *agentFlow {
	t.Helper()
	c := h.custos
	f := &agentFlow{t: t, h: h, c: c, logs: t.TempDir()}
	passFile := filepath.Join(t.TempDir(), "ca-passphrase")
	require.NoError(t, os.WriteFile(passFile, []byte(agentCAPassphrase+"\n"), 0o600))
	// The officers' certificates are issued offline (custosd issue-cert)
	// before the CA is sealed under its passphrase.
	for _, o := range officers[:2] {
		c.officerCert(t, o)
	}
	c.flags = append(c.flags, "--ca-passphrase-file", passFile, "--rpclisten", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c.restart()
	f.signers = make([]*signer, 3)
	for i := range f.signers {
		f.signers[i] = newSignerLogged(t, i, filepath.Join(f.logs, fmt.Sprintf("signer-%d.log", i)))
	}
	createReserveOf(t, c, 2, f.signers, policyParams{})
	fund(t, h, 300_000_000, 200_000_000)
	return f
}

// agentProc is one `custos-signer serve` process, ended by its pid.
type agentProc struct {
	t    *testing.T
	s    *signer
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startAgent issues ministry i a signer identity bound to its key's
// fingerprint and starts serve with it, waiting until it is connected.
func (f *agentFlow) startAgent(i int, auto bool) *agentProc {
	t := f.t
	t.Helper()
	s := f.signers[i]
	name := fmt.Sprintf("ministry-%d", i)
	idDir := filepath.Join(t.TempDir(), name)
	var issued identityOut
	f.c.ctlJSON(&issued, "identity", "issue", "--role", "signer", "--name", name, "--fingerprint", fingerprintOf(t, s), "--out", idDir)
	require.Equal(t, "signer", issued.Role)
	addr, err := os.ReadFile(filepath.Join(f.c.dir, "custosd.addr"))
	require.NoError(t, err)
	a := &agentProc{
		t: t, s: s, log: filepath.Join(f.logs, name+"-serve.log"),
		args: []string{"serve", "--daemon", strings.TrimSpace(string(addr)), "--identity", idDir, "--datadir", s.dir},
	}
	if auto {
		a.args = append(a.args, "--auto")
	}
	a.start()
	t.Cleanup(a.stop)
	f.agents = append(f.agents, a)
	a.waitLog(1, "connected to custosd")
	return a
}

func (a *agentProc) start() {
	t := a.t
	t.Helper()
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer logf.Close()
	a.cmd = exec.Command(bins.signer, a.args...)
	a.cmd.Env = append(os.Environ(), "CUSTOS_SIGNER_PASSPHRASE="+signerPassphrase)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	require.NoError(t, a.cmd.Start())
	a.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(a.cmd, a.done)
}

// stop ends serve with SIGTERM (SIGKILL after 10 s), by its pid.
func (a *agentProc) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
}

func (a *agentProc) output() string {
	b, _ := os.ReadFile(a.log)
	return string(b)
}

// waitLog waits until serve has logged msg at least n times.
func (a *agentProc) waitLog(n int, msg string) {
	a.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(a.output(), msg) < n {
		select {
		case <-a.done:
			a.t.Fatalf("serve exited; log:\n%s", a.output())
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("serve did not log %q %d times; log:\n%s", msg, n, a.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fingerprintOf is the fingerprint in a key record [fp/48'/…]tpub….
func fingerprintOf(t *testing.T, s *signer) string {
	t.Helper()
	m := regexp.MustCompile(`^\[([0-9a-f]{8})/`).FindStringSubmatch(s.keyRecord)
	require.NotNil(t, m, "key record %s", s.keyRecord)
	return m[1]
}

// ledgerLen is the number of transactions ministry s's ledger records.
func (s *signer) ledgerLen(t *testing.T) int {
	t.Helper()
	l, err := custossigner.OpenLedger(s.dir)
	require.NoError(t, err)
	es, err := l.Entries()
	require.NoError(t, err)
	return len(es)
}

// logLines are the lines of a serve log with message msg about proposal
// id.
func (a *agentProc) logLines(msg, id string) int {
	n := 0
	for _, l := range strings.Split(a.output(), "\n") {
		if strings.Contains(l, "msg="+msg+" ") && strings.Contains(l, " proposal="+id+" ") {
			n++
		}
	}
	return n
}

// testAgentsSpend: two agents started before the proposal sign a 2-of-3
// spend; the daemon is restarted while they are connected, they
// reconnect and sign the next proposal; nothing is signed twice.
func testAgentsSpend(t *testing.T, h *harness) {
	f := newAgentFlow(t, h)
	c := f.c
	a0, a1 := f.startAgent(0, true), f.startAgent(1, true)

	p1 := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	done := c.waitState(t, p1.ID, "BROADCAST")
	require.Contains(t, h.node.mempool(), done.Txid)
	requireCosigners(t, done, 0, 1)
	h.funder.mine(h.node, 1)
	c.waitState(t, p1.ID, "CONFIRMED")

	// The daemon restarts under the connected agents.
	c.restart()
	a0.waitLog(2, "connected to custosd")
	a1.waitLog(2, "connected to custosd")
	p2 := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	done = c.waitState(t, p2.ID, "BROADCAST")
	requireCosigners(t, done, 0, 1)
	for _, s := range f.signers[:2] {
		require.Equal(t, 2, s.ledgerLen(t), "one ledger entry per proposal")
	}
	require.Equal(t, 0, f.signers[2].ledgerLen(t))
	for _, a := range []*agentProc{a0, a1} {
		require.Equal(t, 1, a.logLines("signed", p1.ID), "p1 signed once: %s", a.output())
		require.Equal(t, 1, a.logLines("signed", p2.ID), "p2 signed once: %s", a.output())
	}
	f.requireNoSecrets()
}

// testAgentLateAndFile: a proposal reaches SIGNING with no agent
// running; one ministry signs the exported file air-gapped and an
// officer imports it; an agent started afterwards receives the request
// and adds the second signature.
func testAgentLateAndFile(t *testing.T, h *harness) {
	f := newAgentFlow(t, h)
	c := f.c
	p := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	require.Positive(t, c.importSigned(t, p.ID, f.signers[2].sign(t, c.export(t, p.ID))))
	require.Equal(t, "SIGNING", c.show(t, p.ID).State)

	f.startAgent(0, true)
	done := c.waitState(t, p.ID, "BROADCAST")
	require.Contains(t, h.node.mempool(), done.Txid)
	requireCosigners(t, done, 0, 2)
	require.Equal(t, 1, f.signers[0].ledgerLen(t))
	f.requireNoSecrets()
}

// testAgentOperator: without --auto a request waits for the operator:
// pending lists it, nothing is signed; a refusal reaches spend show with
// its reason; the other ministry's approve (with its passphrase) signs.
func testAgentOperator(t *testing.T, h *harness) {
	f := newAgentFlow(t, h)
	c := f.c
	a0, a1 := f.startAgent(0, false), f.startAgent(1, false)
	p := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	for i, a := range []*agentProc{a0, a1} {
		a.waitLog(1, "waits for the operator")
		var pending []struct {
			ID      string          `json:"id"`
			Summary json.RawMessage `json:"summary"`
			Error   string          `json:"error"`
		}
		out := f.signers[i].run(t, "", "pending", "--json")
		require.NoError(t, json.Unmarshal([]byte(out), &pending), out)
		require.Len(t, pending, 1, out)
		require.Equal(t, p.ID, pending[0].ID)
		require.Empty(t, pending[0].Error)
		require.NotEmpty(t, pending[0].Summary)
		require.Equal(t, 0, f.signers[i].ledgerLen(t), "nothing signed before the operator decides")
	}
	require.Empty(t, c.show(t, p.ID).Signers)

	const reason = "payee unknown to this ministry"
	f.signers[0].run(t, "", "refuse", p.ID, "--reason", reason)
	note := fmt.Sprintf("refused by the signer of cosigner %s: %s", fingerprintOf(t, f.signers[0]), reason)
	waitFor(t, 30*time.Second, "the refusal in spend show", func() bool {
		for _, e := range c.show(t, p.ID).History {
			if e.Note == note {
				return true
			}
		}
		return false
	})
	text, err := c.ctl("spend", "show", p.ID)
	require.NoError(t, err)
	require.Contains(t, text, reason)

	f.signers[1].run(t, "", "approve", p.ID)
	waitFor(t, 30*time.Second, "the approved request signed", func() bool { return len(c.show(t, p.ID).Signers) == 1 })
	requireCosigners(t, c.show(t, p.ID), 1)
	require.Equal(t, 1, f.signers[1].ledgerLen(t))
	require.Equal(t, 0, f.signers[0].ledgerLen(t))
	f.requireNoSecrets()
}

// requireCosigners checks exactly these cosigners signed p.
func requireCosigners(t *testing.T, p proposalOut, want ...int) {
	t.Helper()
	var got []int
	for _, s := range p.Signers {
		got = append(got, s.Cosigner)
	}
	require.ElementsMatch(t, want, got)
}

// requireNoSecrets greps the stderr of custosd and of every custos-signer
// process of the flow for the secrets it used: passphrases, the
// mnemonics (any three words in sequence), the seeds, the account keys
// (tprv, WIF, hex), PEM private keys, the node's RPC password.
func (f *agentFlow) requireNoSecrets() {
	t := f.t
	t.Helper()
	for _, a := range f.agents {
		a.stop()
	}
	logs := map[string]string{"custosd": f.c.log()}
	ents, err := os.ReadDir(f.logs)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(f.logs, e.Name()))
		require.NoError(t, err)
		logs[e.Name()] = string(b)
	}
	require.NotEmpty(t, logs["custosd"])
	require.Contains(t, logs["ministry-0-serve.log"], "proposal=", "the agent logs its decisions")

	secrets := map[string]string{
		"signer passphrase":      signerPassphrase,
		"officer key passphrase": officerPassphrase,
		"CA passphrase":          agentCAPassphrase,
		"node RPC password":      f.h.node.pass,
		"PEM private key":        "PRIVATE KEY",
	}
	for i := range f.signers {
		for k, v := range ministrySecrets(t, i) {
			secrets[fmt.Sprintf("ministry %d %s", i, k)] = v
		}
	}
	tprv := regexp.MustCompile(`[xt]prv[1-9A-HJ-NP-Za-km-z]{100,}`)
	for name, log := range logs {
		for _, line := range strings.Split(log, "\n") {
			for what, s := range secrets {
				require.NotContains(t, line, s, "%s in %s", what, name)
			}
			require.False(t, tprv.MatchString(line), "an extended private key in %s: %s", name, line)
		}
	}
}

// ministrySecrets are ministry i's key material: every three words of
// its mnemonic in sequence, its BIP-39 seed, its account key as tprv,
// WIF and hex.
func ministrySecrets(t *testing.T, i int) map[string]string {
	t.Helper()
	mnemonic := ministryMnemonic(t, i)
	out := map[string]string{}
	words := strings.Fields(mnemonic)
	for k := 0; k+3 <= len(words); k++ {
		out[fmt.Sprintf("mnemonic words %d-%d", k+1, k+3)] = strings.Join(words[k:k+3], " ")
	}
	seed := bip39.NewSeed(mnemonic, "")
	out["seed hex"] = hex.EncodeToString(seed)
	_, xprv, err := multisig.DeriveAccount(seed, reserve.Regtest, 0)
	require.NoError(t, err)
	defer xprv.Zero()
	out["account tprv"] = xprv.String()
	priv, err := xprv.ECPrivKey()
	require.NoError(t, err)
	wif, err := btcutil.NewWIF(priv, &chaincfg.RegressionNetParams, true)
	require.NoError(t, err)
	out["account key WIF"] = wif.String()
	out["account key hex"] = hex.EncodeToString(priv.Serialize())
	return out
}
