//go:build failpoints && unix

package failpoint

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	gofail "go.etcd.io/gofail/runtime"
)

// envChild makes the test binary, run again by TestInjectKill, inject one
// point and report if it survived.
const envChild = "CUSTOS_FAILPOINT_CHILD"

func TestInjectActions(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("child run")
	}
	registerOnce.Do(register)
	tests := []struct {
		name   string
		point  Name
		terms  string
		panics string
	}{
		{name: "disarmed point does nothing", point: StoreApplyBlockPrecommit},
		{name: "skipped hit does nothing", point: StoreApplyBlockCommitted, terms: `1*off->return("panic")`},
		{name: "panic", point: DaemonFinalized, terms: `return("panic")`, panics: "failpoint: daemon-finalized: panic"},
		{name: "unknown value is reported, not acted on", point: DaemonReleaseBefore, terms: `return("explode")`},
		{name: "unlisted name", point: "store-apply-blok-committed", panics: `failpoint: Inject("store-apply-blok-committed"): not a listed failpoint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.terms != "" {
				require.NoError(t, gofail.Enable(string(tt.point), tt.terms))
				t.Cleanup(func() { _ = gofail.Disable(string(tt.point)) })
			}
			if tt.panics != "" {
				require.PanicsWithValue(t, tt.panics, func() { Inject(tt.point) })
				return
			}
			require.NotPanics(t, func() { Inject(tt.point) })
		})
	}
}

// TestInjectKill runs this test binary again with a point armed by
// GOFAIL_FAILPOINTS: "kill" ends it by SIGKILL at the armed hit, not
// before; a name the list lacks stops it before anything runs.
func TestInjectKill(t *testing.T) {
	if os.Getenv(envChild) != "" {
		Inject(SignerLedgerWritten)
		Inject(SignerLedgerWritten)
		os.Exit(0) // survived: the parent sees exit 0
	}
	tests := []struct {
		name   string
		env    string
		killed bool
		code   int
	}{
		{name: "killed at the second hit", env: `signer-ledger-written=1*off->return("kill")`, killed: true},
		{name: "not armed far enough", env: `signer-ledger-written=2*off->return("kill")`},
		{name: "unlisted name stops the process", env: `signer-ledger-writen=return("kill")`, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestInjectKill$", "-test.count=1")
			cmd.Env = append(os.Environ(), envChild+"=1", EnvVar+"="+tt.env)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			switch {
			case tt.killed:
				require.True(t, errors.As(err, &ee), "%s", out)
				ws := ee.Sys().(syscall.WaitStatus)
				require.True(t, ws.Signaled(), "%s", out)
				require.Equal(t, syscall.SIGKILL, ws.Signal())
				require.Contains(t, string(out), "failpoint: signer-ledger-written: kill")
			case tt.code != 0:
				require.True(t, errors.As(err, &ee), "%s", out)
				require.Equal(t, tt.code, ee.ExitCode(), "%s", out)
				require.Contains(t, string(out), "not a listed failpoint")
			default:
				require.NoError(t, err, "%s", out)
			}
		})
	}
}
