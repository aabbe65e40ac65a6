// Command benchscale holds the Go side of scripts/bench-scale.sh (issue
// 15): it writes the scale fixture, a reserve of years of history, into a
// store file.
//
//	benchscale gen -coins 50000 -out custos.db [-summary fixture.json]
//
// The fixture is written through the store's own API (store.DB's
// CreateWallet, PutAddresses, IssueAddress, ApplyBlock, CreateProposal,
// UpdateProposal, AppendEvent): the code paths, checks and audit appends
// of the daemon and its chain follower, from a deterministic generator
// (fixed seeds and clock), so the same size gives the same records and
// the same audit root. scripts/bench-scale.sh says what it skips.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "benchscale: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchscale gen|node|wait|rss|version ...")
	}
	switch args[0] {
	case "gen":
		return runGen(ctx, args[1:], stdout)
	case "node":
		return runNode(ctx, args[1:], stdout)
	case "wait":
		return runWait(ctx, args[1:], stdout)
	case "rss":
		return runRSS(args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, GeneratorVersion)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func runGen(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	coins := fs.Int("coins", 1000, "unspent coins (addresses, proposals and audit entries scale with it: SizeFor)")
	out := fs.String("out", "", "the store file to write (must not exist)")
	summary := fs.String("summary", "", "where to write what the fixture holds, as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the generator here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *coins < 10 {
		return errors.New("need -out and -coins of 10 or more")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: the generator writes a new store only", *out)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	sum, err := Generate(ctx, *out, SizeFor(*coins))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if *summary != "" {
		if err := os.WriteFile(*summary, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s\nbuilt in %s\n", b, time.Since(start).Round(time.Millisecond))
	return nil
}
