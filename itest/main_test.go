//go:build itest

// Package itest runs Custos for real: a regtest node (btcd, or bitcoind
// when BITCOIND names its binary), the custosd, custosctl and
// custos-signer binaries as processes, on loopback, with fresh data dirs.
package itest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins holds the paths of the binaries built once for the whole run.
var bins struct {
	custosd, custosctl, signer string
	// verify is the public proof-of-reserves verifier.
	verify string
	// The same programs built with -tags failpoints (failpoint_test.go).
	custosdFP, custosctlFP, signerFP string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "custos-itest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for name, dst := range map[string]*string{
		"custosd": &bins.custosd, "custosctl": &bins.custosctl, "custos-signer": &bins.signer,
		"custos-verify": &bins.verify,
	} {
		*dst = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", *dst, "../cmd/"+name)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "itest: building %s: %v\n", name, err)
			return 1
		}
	}
	for name, dst := range map[string]*string{
		"custosd": &bins.custosdFP, "custosctl": &bins.custosctlFP, "custos-signer": &bins.signerFP,
	} {
		*dst = filepath.Join(dir, name+"-failpoints")
		cmd := exec.Command("go", "build", "-tags", "failpoints", "-o", *dst, "../cmd/"+name)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "itest: building %s with failpoints: %v\n", name, err)
			return 1
		}
	}
	if err := makeOfficers(dir); err != nil {
		fmt.Fprintf(os.Stderr, "itest: making officer keys: %v\n", err)
		return 1
	}
	return m.Run()
}
