// Command benchsync holds the measurements of scripts/bench-sync.sh, which
// checks issue 2: syncing 1,000 regtest blocks must not take longer than
// the node takes to serve them over RPC.
//
//	benchsync serve  -rpcserver H:P -rpcuser U -rpcpass P
//	    fetches every block from genesis to the tip, one at a time
//	    (getblockhash, then getblock with verbosity 0) with btcd's rpcclient
//	    in HTTP POST mode, and prints the seconds it took.
//	benchsync wait   -since UNIXNANOS -height N -custosctl PATH -datadir D [-log FILE]
//	    polls `custosctl status --json` until custosd reports itself synced
//	    at height N and prints the seconds since custosd was started. With
//	    -log it first waits for custosd's log line for block N (so polling
//	    takes no CPU from the sync) and also prints when custosd logged its
//	    first and last blocks.
//	benchsync report -serve S1,S2,.. -custosd C1,C2,..
//	    prints the medians and their ratio; exits 1 if custosd is slower.
//
// It only reads: it starts and stops no process but custosctl.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/rpcclient"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchsync:", err)
		if errors.Is(err, errSlower) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errSlower is the measured failure of issue 2, told apart from a broken
// measurement.
var errSlower = errors.New("custosd synced more slowly than the node served the blocks")

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchsync serve|wait|report [flags]")
	}
	fs := flag.NewFlagSet("benchsync "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "serve":
		host := fs.String("rpcserver", "", "node JSON-RPC host:port")
		user := fs.String("rpcuser", "", "node RPC user")
		pass := fs.String("rpcpass", "", "node RPC password")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serve(*host, *user, *pass, stdout, stderr)
	case "wait":
		since := fs.Int64("since", 0, "when custosd was started, in Unix nanoseconds")
		height := fs.Int("height", 0, "height custosd must report synced at")
		ctl := fs.String("custosctl", "custosctl", "custosctl binary")
		dataDir := fs.String("datadir", "", "custosd data dir")
		logPath := fs.String("log", "", "custosd's log file (optional)")
		timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return wait(time.Unix(0, *since), int32(*height), *ctl, *dataDir, *logPath, *timeout, stdout, stderr)
	case "report":
		serveList := fs.String("serve", "", "comma-separated seconds the node took to serve the blocks")
		custosdList := fs.String("custosd", "", "comma-separated seconds custosd took to sync them")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return report(*serveList, *custosdList, stdout)
	}
	return fmt.Errorf("unknown command %q (want serve, wait or report)", args[0])
}

// serve fetches blocks 0..tip sequentially and prints the seconds taken.
func serve(host, user, pass string, stdout, stderr io.Writer) error {
	client, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: host, User: user, Pass: pass, HTTPPostMode: true, DisableTLS: true,
	}, nil)
	if err != nil {
		return fmt.Errorf("unable to make RPC client: %w", err)
	}
	defer client.Shutdown()
	tip, err := client.GetBlockCount()
	if err != nil {
		return fmt.Errorf("getblockcount: %w", err)
	}
	start := time.Now()
	txs := 0
	for h := int64(0); h <= tip; h++ {
		hash, err := client.GetBlockHash(h)
		if err != nil {
			return fmt.Errorf("getblockhash %d: %w", h, err)
		}
		block, err := client.GetBlock(hash)
		if err != nil {
			return fmt.Errorf("getblock %s: %w", hash, err)
		}
		txs += len(block.Transactions)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "node served %d blocks (%d txs) in %.3fs: %.0f blocks/s\n",
		tip+1, txs, elapsed.Seconds(), float64(tip+1)/elapsed.Seconds())
	fmt.Fprintf(stdout, "%.3f\n", elapsed.Seconds())
	return nil
}

// status is the part of `custosctl status --json` waited on.
type status struct {
	NodeReachable bool  `json:"node_reachable"`
	NodeHeight    int32 `json:"node_height"`
	SyncedHeight  int32 `json:"synced_height"`
	Synced        bool  `json:"synced"`
}

// wait polls custosctl until custosd is synced at height and prints the
// seconds since start.
func wait(start time.Time, height int32, ctl, dataDir, logPath string, timeout time.Duration, stdout, stderr io.Writer) error {
	if dataDir == "" || height <= 0 || start.Unix() <= 0 {
		return errors.New("wait needs -since, -height and -datadir")
	}
	deadline := time.Now().Add(timeout)
	// Spawning custosctl every few milliseconds would take CPU from the
	// sync it measures: with a log, wait for the last block's line first.
	if logPath != "" {
		if err := waitLogLine(logPath, height, deadline); err != nil {
			return err
		}
	}
	var last status
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := exec.CommandContext(ctx, ctl, "status", "--json", "--datadir", dataDir, "--timeout", "2s").Output()
		cancel()
		seen := time.Now()
		if err == nil {
			last = status{}
			lastErr = json.Unmarshal(out, &last)
			if lastErr == nil && last.Synced && last.SyncedHeight >= height {
				synced := seen.Sub(start)
				fmt.Fprintf(stderr, "custosd reported synced at height %d %.3fs after it was started\n", last.SyncedHeight, synced.Seconds())
				if logPath != "" {
					logBlockTime(logPath, height, start, stderr)
				}
				fmt.Fprintf(stdout, "%.3f\n", synced.Seconds())
				return nil
			}
		} else {
			// Not listening yet, or its address file not written yet.
			lastErr = err
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("custosd not synced at height %d after %s (last status %+v, last error %v)", height, timeout, last, lastErr)
}

// waitLogLine waits until custosd's log has the line for the block at
// height, reading what the log gains every 20ms.
func waitLogLine(path string, height int32, deadline time.Time) error {
	want := strconv.Itoa(int(height))
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("custosd log: %w", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var line []byte
	for time.Now().Before(deadline) {
		chunk, err := r.ReadBytes('\n')
		line = append(line, chunk...)
		if err == io.EOF {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("custosd log: %w", err)
		}
		if m := blockLine.FindStringSubmatch(strings.TrimRight(string(line), "\n")); m != nil && m[2] == want {
			return nil
		}
		line = line[:0]
	}
	return fmt.Errorf("custosd's log has no line for block %d after the timeout", height)
}

// blockLine is custosd's log line for a block that paid the wallet; every
// block of the benchmark chain does.
var blockLine = regexp.MustCompile(`^time=(\S+) .*msg="block touched the wallet".* height=(\d+)( |$)`)

// logBlockTime prints when custosd's log says it recorded its first block
// and the block at height, from the log's own timestamps, which splits the
// time into start-up and scanning. A missing line is reported, not an
// error: the status poll is the measurement.
func logBlockTime(path string, height int32, start time.Time, stderr io.Writer) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "(custosd log unreadable: %v)\n", err)
		return
	}
	defer f.Close()
	var first time.Time
	firstHeight := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := blockLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			break
		}
		if first.IsZero() {
			first, firstHeight = at, m[2]
		}
		if m[2] != strconv.Itoa(int(height)) {
			continue
		}
		fmt.Fprintf(stderr, "custosd logged recording block %s %.3fs and block %d %.3fs after it was started\n",
			firstHeight, first.Sub(start).Seconds(), height, at.Sub(start).Seconds())
		return
	}
	fmt.Fprintf(stderr, "(custosd's log has no line for block %d)\n", height)
}

// report compares the medians of the two series.
func report(serveList, custosdList string, stdout io.Writer) error {
	serveSecs, err := parseSeconds(serveList)
	if err != nil {
		return fmt.Errorf("-serve: %w", err)
	}
	custosdSecs, err := parseSeconds(custosdList)
	if err != nil {
		return fmt.Errorf("-custosd: %w", err)
	}
	s, c := median(serveSecs), median(custosdSecs)
	fmt.Fprintf(stdout, "node serving the blocks:  %.3fs (median of %s)\n", s, serveList)
	fmt.Fprintf(stdout, "custosd syncing them:     %.3fs (median of %s, from process start to synced)\n", c, custosdList)
	fmt.Fprintf(stdout, "ratio custosd / node:     %.2f\n", c/s)
	if c > s {
		return errSlower
	}
	fmt.Fprintln(stdout, "PASS: custosd syncs no slower than the node serves the blocks")
	return nil
}

func parseSeconds(list string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number of seconds", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
