//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// proofOut is `custosctl reserves show --json`.
type proofOut struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Message   string `json:"message"`
	CoinCount int    `json:"coin_count"`
	TotalSat  int64  `json:"total_sat"`
	Height    int32  `json:"height"`
	BlockHash string `json:"block_hash"`
	Approvals []struct {
		Officer string `json:"officer"`
	} `json:"approvals"`
	Signers []signerOut `json:"signers"`
}

// asRole runs custosctl as officer o's identity (no officer key).
func (c *custosd) asIdentity(t testing.TB, o officerKey, args ...string) (string, error) {
	t.Helper()
	return c.ctl(append(args, c.officerCert(t, o)...)...)
}

// verifyProof runs custos-verify on file against the node; it returns
// the proven satoshis, or the error with the verifier's stderr.
func verifyProof(t *testing.T, n *node, file string) (int64, error) {
	t.Helper()
	if n.filters {
		// The verifier falls back to whole blocks while bitcoind still
		// builds its index: wait, so that the filters are what it reads.
		waitFor(t, 30*time.Second, "bitcoind's block filter index synced", func() bool {
			res, err := n.call("getindexinfo", "basic block filter index")
			var info map[string]struct {
				Synced bool  `json:"synced"`
				Height int32 `json:"best_block_height"`
			}
			if err != nil || json.Unmarshal(res, &info) != nil {
				return false
			}
			idx, ok := info["basic block filter index"]
			return ok && idx.Synced && idx.Height == n.height()
		})
	}
	pass := filepath.Join(t.TempDir(), "rpcpass")
	require.NoError(t, os.WriteFile(pass, []byte(n.pass+"\n"), 0o600))
	cmd := exec.Command(bins.verify, file, "--node.rpchost", n.host(), "--node.rpcuser", n.user,
		"--node.rpcpassfile", pass, "--node.kind", n.kind)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("custos-verify: %w: %s", err, errb.String())
	}
	m := regexp.MustCompile(`\((\d+) sat\)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "custos-verify said: %s", out.String())
	sat, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return sat, nil
}

// testProofOfReserves: an officer requests a proof over every coin, an
// officer approves its message, two ministries sign it with
// custos-signer, it is imported and finalized; custos-verify proves the
// wallet's balance at that height; the node refuses the proof transaction;
// after a spend the old proof still verifies at its height and the same
// proof claiming a later height fails. Bad requests are refused naming
// the field.
func testProofOfReserves(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 300_000_000, 200_000_000, 50_000_000)
	balance := c.balance()
	require.Equal(t, int64(550_000_000), balance.ConfirmedSat)
	alice, bob := officers[0], officers[1]

	// Refusals, each naming what is wrong.
	_, err := c.ctl("reserves", "prove", "--message", "by the admin")
	require.ErrorContains(t, err, "role admin may not request a proof")
	_, err = c.asIdentity(t, alice, "reserves", "prove", "--message", strings.Repeat("x", 4097))
	require.ErrorContains(t, err, "message")
	_, err = c.asIdentity(t, alice, "reserves", "prove", "--message", "bell\a")
	require.ErrorContains(t, err, "message")
	foreign := wire.OutPoint{Index: 7}
	foreign.Hash[0] = 1
	_, err = c.asIdentity(t, alice, "reserves", "prove", "--message", "m", "--utxos", foreign.String())
	require.ErrorContains(t, err, "outpoints[0]")
	require.ErrorContains(t, err, "not an output of the wallet")
	_, err = c.ctl("reserves", "show", "R000042")
	require.ErrorContains(t, err, "NotFound")

	// Request, approve.
	message := "Custos reserve audit 2030-01-01, challenge 7f3a"
	var p proofOut
	out, err := c.asIdentity(t, alice, "reserves", "prove", "--message", message, "--json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &p), out)
	require.Equal(t, "PENDING_APPROVAL", p.State)
	require.Equal(t, 3, p.CoinCount)
	require.Equal(t, balance.ConfirmedSat, p.TotalSat)
	require.Equal(t, h.node.height(), p.Height)
	_, err = c.ctl("reserves", "export", p.ID, "--out", filepath.Join(t.TempDir(), "early.psbt"))
	require.ErrorContains(t, err, "PENDING_APPROVAL")

	out, err = c.asOfficer(t, bob, "reserves", "approve", p.ID, "--json")
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &p), out)
	require.Equal(t, "SIGNING", p.State)
	_, err = c.asOfficer(t, bob, "reserves", "approve", p.ID)
	require.ErrorContains(t, err, "takes no approvals")

	// Two ministries sign; the proof is finalized.
	file := filepath.Join(t.TempDir(), "proof.psbt")
	_, err = c.ctl("reserves", "export", p.ID, "--out", file)
	require.NoError(t, err)
	_, err = c.ctl("reserves", "finalize", p.ID, "--out", filepath.Join(t.TempDir(), "unsigned.json"))
	require.ErrorContains(t, err, "more signatures")
	for _, s := range signers[:2] {
		_, err := c.ctl("reserves", "import", p.ID, s.sign(t, file))
		require.NoError(t, err)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	out, err = c.ctl("reserves", "finalize", p.ID, "--out", proofFile)
	require.NoError(t, err)
	require.Contains(t, out, "reveals every address")
	c.ctlJSON(&p, "reserves", "show", p.ID)
	require.Equal(t, "FINALIZED", p.State)
	require.Len(t, p.Signers, 2)

	// Anyone verifies it: the proven amount is the balance at the height.
	sat, err := verifyProof(t, h.node, proofFile)
	require.NoError(t, err)
	require.Equal(t, balance.ConfirmedSat, sat)

	// The proof transaction can never be mined: the node refuses it.
	var pf struct {
		Tx     string `json:"tx"`
		Height int64  `json:"height"`
	}
	raw, err := os.ReadFile(proofFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &pf))
	_, err = hex.DecodeString(pf.Tx)
	require.NoError(t, err)
	res, err := h.node.call("testmempoolaccept", []string{pf.Tx}, 0) // btcd takes maxfeerate too
	require.NoError(t, err, "testmempoolaccept")
	var accept []struct {
		Allowed      bool   `json:"allowed"`
		RejectReason string `json:"reject-reason"`
	}
	require.NoError(t, json.Unmarshal(res, &accept), string(res))
	require.Len(t, accept, 1)
	require.False(t, accept[0].Allowed, "the node would accept the proof transaction: %s", res)
	t.Logf("the node refuses the proof transaction: %s", accept[0].RejectReason)

	// Spend a coin: the old proof still holds at its height ...
	sp := c.propose(t, 3, payment{externalAddress(t), 100_000_000})
	spFile := c.export(t, sp.ID)
	c.importSigned(t, sp.ID, signers[0].sign(t, spFile))
	c.importSigned(t, sp.ID, signers[1].sign(t, spFile))
	c.waitState(t, sp.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	c.waitState(t, sp.ID, "CONFIRMED")
	sat, err = verifyProof(t, h.node, proofFile)
	require.NoError(t, err)
	require.Equal(t, balance.ConfirmedSat, sat)

	// ... and the same proof claiming the later height fails.
	later := strings.Replace(string(raw), fmt.Sprintf(`"height": %d`, pf.Height), fmt.Sprintf(`"height": %d`, h.node.height()), 1)
	later = strings.Replace(later, p.BlockHash, h.node.bestHash().String(), 1)
	require.NotEqual(t, string(raw), later)
	laterFile := filepath.Join(t.TempDir(), "later.json")
	require.NoError(t, os.WriteFile(laterFile, []byte(later), 0o600))
	_, err = verifyProof(t, h.node, laterFile)
	require.ErrorContains(t, err, "FAILS")
}
