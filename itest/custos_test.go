//go:build itest

package itest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/daemon"
)

// custosd is a custosd process on a data dir that outlives restarts.
type custosd struct {
	t    testing.TB
	dir  string
	node *node
	// nodeHost is where custosd reaches the node's RPC: the node itself,
	// or a proxy in front of it.
	nodeHost string
	// extra flags for custosd.
	flags []string
	cmd   *exec.Cmd
	logf  *os.File
	done  chan struct{}
}

func startCustosd(t testing.TB, n *node) *custosd {
	t.Helper()
	c := &custosd{t: t, dir: t.TempDir(), node: n, nodeHost: n.host()}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *custosd) start() {
	t := c.t
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, "custosd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	c.logf = logf
	addrFile := filepath.Join(c.dir, "custosd.addr")
	_ = os.Remove(addrFile)
	args := []string{
		"--datadir", c.dir, "--network", "regtest", "--rpclisten", "127.0.0.1:0",
		"--node.kind", c.node.kind, "--node.rpchost", c.nodeHost, "--node.rpcuser", c.node.user,
		"--poll", "200ms", "--loglevel", "debug", "--confirmations", "1",
	}
	c.cmd = exec.Command(bins.custosd, append(args, c.flags...)...)
	c.cmd.Env = append(os.Environ(), "CUSTOSD_NODE_RPCPASS="+c.node.pass)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	require.NoError(t, c.cmd.Start())
	c.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(c.cmd, c.done)
	waitFor(t, 30*time.Second, "custosd address file", func() bool {
		select {
		case <-c.done:
			t.Fatalf("custosd exited at start; log:\n%s", c.log())
		default:
		}
		_, err := os.Stat(addrFile)
		return err == nil
	})
}

// stop ends the daemon gracefully (SIGTERM), by the pid this test started.
func (c *custosd) stop() {
	c.signal(syscall.SIGTERM)
}

// kill ends the daemon without warning (SIGKILL).
func (c *custosd) kill() {
	c.signal(syscall.SIGKILL)
}

func (c *custosd) signal(sig syscall.Signal) {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
	c.logf.Close()
}

func (c *custosd) restart() {
	c.stop()
	c.start()
}

func (c *custosd) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "custosd.log"))
	return string(b)
}

// ctl runs custosctl against this daemon and returns stdout; stderr and
// the exit status come back in err.
func (c *custosd) ctl(args ...string) (string, error) {
	return c.ctlEnv(nil, args...)
}

// ctlEnv is ctl with more environment variables.
func (c *custosd) ctlEnv(env []string, args ...string) (string, error) {
	cmd := exec.Command(bins.custosctl, append(args, "--datadir", c.dir)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("custosctl %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// ctlJSON runs a command with --json and decodes its output into v.
func (c *custosd) ctlJSON(v any, args ...string) {
	c.t.Helper()
	out, err := c.ctl(append(args, "--json")...)
	require.NoError(c.t, err)
	require.NoError(c.t, json.Unmarshal([]byte(out), v), "output: %s", out)
}

type statusOut struct {
	NodeReachable bool   `json:"node_reachable"`
	NodeError     string `json:"node_error"`
	NodeHeight    int32  `json:"node_height"`
	SyncedHeight  int32  `json:"synced_height"`
	SyncedHash    string `json:"synced_hash"`
	Synced        bool   `json:"synced"`
	WalletExists  bool   `json:"wallet_exists"`
}

func (c *custosd) status() statusOut {
	var s statusOut
	c.ctlJSON(&s, "status")
	return s
}

// waitSynced waits until the daemon has processed the node's tip.
func (c *custosd) waitSynced() {
	c.t.Helper()
	want := c.node.bestHash().String()
	waitFor(c.t, 60*time.Second, "custosd synced to "+want, func() bool {
		s := c.status()
		return s.Synced && s.SyncedHash == want
	})
}

type balanceOut struct {
	ConfirmedSat   int64 `json:"confirmed_sat"`
	UnconfirmedSat int64 `json:"unconfirmed_sat"`
	ImmatureSat    int64 `json:"immature_sat"`
	SyncedHeight   int32 `json:"synced_height"`
}

func (c *custosd) balance() balanceOut {
	var b balanceOut
	c.ctlJSON(&b, "balance")
	return b
}

type utxoOut struct {
	Txid          string `json:"txid"`
	Vout          uint32 `json:"vout"`
	AmountSat     int64  `json:"amount_sat"`
	Address       string `json:"address"`
	Branch        string `json:"branch"`
	Index         uint32 `json:"index"`
	Height        int32  `json:"height"`
	Confirmations int32  `json:"confirmations"`
}

func (c *custosd) utxos() []utxoOut {
	var u struct {
		Utxos []utxoOut `json:"utxos"`
	}
	c.ctlJSON(&u, "utxos")
	return u.Utxos
}

// signer is one ministry's custos-signer data dir.
type signer struct {
	dir       string
	keyRecord string
	// errLog, when set, receives the stderr of every command run
	// (agent_test.go greps it for secrets).
	errLog string
}

const signerPassphrase = "correct horse battery staple"

// newSigner restores a ministry key from a fixed mnemonic, so runs are
// reproducible, and returns its key record.
func newSigner(t testing.TB, ministry int) *signer {
	t.Helper()
	return newSignerLogged(t, ministry, "")
}

// ministryMnemonic is ministry's fixed mnemonic.
func ministryMnemonic(t testing.TB, ministry int) string {
	t.Helper()
	entropy := sha256.Sum256([]byte(fmt.Sprintf("custos itest ministry %d", ministry)))
	mnemonic, err := bip39.NewMnemonic(entropy[:])
	require.NoError(t, err)
	return mnemonic
}

// newSignerLogged is newSigner whose commands' stderr goes to errLog
// (none when empty).
func newSignerLogged(t testing.TB, ministry int, errLog string) *signer {
	t.Helper()
	mnemonic := ministryMnemonic(t, ministry)
	s := &signer{dir: t.TempDir(), errLog: errLog}
	var out struct {
		KeyRecord string `json:"key_record"`
	}
	stdout := s.run(t, mnemonic+"\n", "init", "--network", "regtest", "--restore", "--json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.NotEmpty(t, out.KeyRecord)
	s.keyRecord = out.KeyRecord
	return s
}

func (s *signer) run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := s.runErr(stdin, args...)
	require.NoError(t, err)
	return out
}

// runErr runs custos-signer and returns stdout; stderr and the exit
// status come back in err.
func (s *signer) runErr(stdin string, args ...string) (string, error) {
	cmd := exec.Command(bins.signer, append(args, "--datadir", s.dir)...)
	cmd.Env = append(os.Environ(), "CUSTOS_SIGNER_PASSPHRASE="+signerPassphrase)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if s.errLog != "" {
		if f, ferr := os.OpenFile(s.errLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); ferr == nil {
			_, _ = f.Write(errb.Bytes())
			f.Close()
		}
	}
	if err != nil {
		return out.String(), fmt.Errorf("custos-signer %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// register pins the descriptor on the signer and returns the first
// receive address it shows.
func (s *signer) register(t testing.TB, descriptor, policyFile string) string {
	t.Helper()
	var out struct {
		FirstAddress string `json:"first_address"`
		Policy       struct {
			Hash string `json:"hash"`
		} `json:"policy"`
	}
	stdout := s.run(t, "", "register", "--descriptor", descriptor, "--policy", policyFile, "--json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.Len(t, out.Policy.Hash, 64, stdout)
	return out.FirstAddress
}

type walletOut struct {
	ID                string `json:"id"`
	Threshold         int    `json:"threshold"`
	N                 int    `json:"n"`
	Descriptor        string `json:"descriptor"`
	ReceiveDescriptor string `json:"receive_descriptor"`
	ChangeDescriptor  string `json:"change_descriptor"`
}

// createReserve makes an m-of-n reserve from fresh signers and has every
// signer pin it; each signer must show the same first address as the
// daemon's receive address 0.
func createReserve(t testing.TB, c *custosd, m, n int) (walletOut, []*signer) {
	t.Helper()
	return createReserveWith(t, c, m, n, policyParams{})
}

// createReserveWith is createReserve with the itest policy made from p:
// the admin sets it after the wallet, and every signer pins it with the
// wallet.
func createReserveWith(t testing.TB, c *custosd, m, n int, pp policyParams) (walletOut, []*signer) {
	t.Helper()
	signers := make([]*signer, n)
	for i := range signers {
		signers[i] = newSigner(t, i)
	}
	return createReserveOf(t, c, m, signers, pp), signers
}

// createReserveOf makes the m-of-len(signers) reserve of these signers
// and has every one pin it and the itest policy made from pp.
func createReserveOf(t testing.TB, c *custosd, m int, signers []*signer, pp policyParams) walletOut {
	t.Helper()
	n := len(signers)
	args := []string{"wallet", "create", "--name", "treasury reserve", "--threshold", fmt.Sprint(m)}
	for _, s := range signers {
		args = append(args, "--cosigner", s.keyRecord)
	}
	var w walletOut
	c.ctlJSON(&w, args...)
	require.Equal(t, m, w.Threshold)
	require.Equal(t, n, w.N)

	var addrs []struct {
		Index   uint32 `json:"index"`
		Address string `json:"address"`
	}
	c.ctlJSON(&addrs, "address", "list", "--all")
	require.NotEmpty(t, addrs)
	require.Equal(t, uint32(0), addrs[0].Index)
	policy := c.setPolicy(t, pp)
	for _, s := range signers {
		require.Equal(t, addrs[0].Address, s.register(t, w.Descriptor, policy), "signer's first address differs from the daemon's")
	}
	return w
}

// newAddress issues a labelled receive address.
func (c *custosd) newAddress(label string) (string, uint32) {
	var a struct {
		Address string `json:"address"`
		Index   uint32 `json:"index"`
	}
	c.ctlJSON(&a, "address", "new", "--label", label)
	return a.Address, a.Index
}

// issueIdentity signs a client certificate with the daemon's CA for a
// role and writes it beside the data dir, returning the file paths.
func issueIdentity(dataDir, name, role string) (certPath, keyPath string, err error) {
	r, err := daemon.ParseRole(role)
	if err != nil {
		return "", "", err
	}
	certPEM, keyPEM, err := daemon.IssueClientCert(dataDir, name, r, time.Now())
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dataDir, name+".pem"), filepath.Join(dataDir, name+".key")
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, os.WriteFile(keyPath, keyPEM, 0o600)
}
