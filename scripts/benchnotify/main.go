// Command benchnotify holds the measurement of scripts/bench-notify.sh,
// which checks issue 15's "a new block reflected in status within 100 ms
// of the node accepting it".
//
//	benchnotify -rpcserver H:P -rpcuser U -rpcpass P -blocks N -metrics NAME=H:P [-metrics NAME=H:P ...]
//
// N times, each after a random pause below -jitter (without it every
// block would come just after the polling daemon's last poll, as the
// previous block was found by it): asks the regtest btcd to `generate 1`, takes the time its
// answer arrives (the node has accepted the block), then reads each
// custosd's Prometheus metrics every -every until its custos_sync_height
// is the new height, and records how long that took. Every custosd is
// measured on the same blocks. It prints the median, p99 and maximum of
// each, and exits 1 when the first named one's median or p99 is over
// -goal.
//
// The follower's height is read from the metrics because they ask the
// node nothing: a GetStatus call would itself wake the follower (it asks
// the node's tip and kicks a poll when behind), measuring the client's
// own wake instead of the daemon's. It only reads: it starts no process.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchnotify:", err)
		if errors.Is(err, errOverGoal) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errOverGoal is the measured failure, told apart from a broken
// measurement.
var errOverGoal = errors.New("over the goal")

type target struct{ name, addr string }

type targets []target

func (t *targets) String() string { return fmt.Sprint(*t) }
func (t *targets) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("-metrics %q is not NAME=host:port", v)
	}
	*t = append(*t, target{name, addr})
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchnotify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("rpcserver", "", "btcd JSON-RPC host:port")
	user := fs.String("rpcuser", "", "btcd RPC user")
	pass := fs.String("rpcpass", "", "btcd RPC password")
	blocks := fs.Int("blocks", 40, "blocks to generate, one at a time")
	every := fs.Duration("every", 2*time.Millisecond, "how often each custosd's metrics are read")
	limit := fs.Duration("timeout", 10*time.Second, "give up on a block after this long")
	jitter := fs.Duration("jitter", time.Second, "wait a random time below this before each block, so that no block falls at a fixed point of a daemon's poll cycle")
	goal := fs.Duration("goal", 100*time.Millisecond, "the first custosd's median and p99 must be within this")
	var ts targets
	fs.Var(&ts, "metrics", "NAME=host:port of a custosd's --metrics.listen (repeatable; the first is held to -goal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || len(ts) == 0 {
		return errors.New("-rpcserver and at least one -metrics are required")
	}
	node := &rpc{url: "http://" + *server, user: *user, pass: *pass}
	client := &http.Client{Timeout: 5 * time.Second}
	ctx := context.Background()

	lat := make([][]time.Duration, len(ts))
	for i := range *blocks {
		if *jitter > 0 {
			time.Sleep(rand.N(*jitter))
		}
		if _, err := node.call(ctx, "generate", 1); err != nil {
			return err
		}
		accepted := time.Now()
		var height int64
		raw, err := node.call(ctx, "getblockcount")
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &height); err != nil {
			return fmt.Errorf("getblockcount: %w", err)
		}
		// Each custosd in turn, from the same instant: while one is read
		// the others run on and are found at once if already there.
		pending := make(map[int]bool, len(ts))
		for j := range ts {
			pending[j] = true
		}
		for len(pending) > 0 {
			if time.Since(accepted) > *limit {
				return fmt.Errorf("block %d: not followed within %s by %d of %d", height, *limit, len(pending), len(ts))
			}
			for j := range pending {
				h, err := syncHeight(client, ts[j].addr)
				if err != nil {
					return fmt.Errorf("%s: %w", ts[j].name, err)
				}
				if h >= height {
					lat[j] = append(lat[j], time.Since(accepted))
					delete(pending, j)
				}
			}
			time.Sleep(*every)
		}
		fmt.Fprintf(stderr, "block %d/%d (height %d):", i+1, *blocks, height)
		for j := range ts {
			fmt.Fprintf(stderr, " %s %s", ts[j].name, ms(lat[j][len(lat[j])-1]))
		}
		fmt.Fprintln(stderr)
	}

	fmt.Fprintf(stdout, "%-24s %8s %8s %8s %8s\n", "custosd", "blocks", "median", "p99", "max")
	var over error
	for j, t := range ts {
		d := lat[j]
		slices.Sort(d)
		med, p99, mx := pct(d, 50), pct(d, 99), d[len(d)-1]
		fmt.Fprintf(stdout, "%-24s %8d %8s %8s %8s\n", t.name, len(d), ms(med), ms(p99), ms(mx))
		if j == 0 && (med > *goal || p99 > *goal) {
			over = fmt.Errorf("%s: median %s, p99 %s: %w of %s", t.name, ms(med), ms(p99), errOverGoal, *goal)
		}
	}
	fmt.Fprintf(stdout, "(time from `generate 1` returning to custos_sync_height at the new height; metrics read every %s)\n", *every)
	return over
}

// pct is the p-th percentile of sorted d (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	i := (p*len(d) + 99) / 100
	return d[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

var syncLine = regexp.MustCompile(`(?m)^custos_sync_height ([^ \n]+)$`)

// syncHeight reads custos_sync_height from a custosd's metrics.
func syncHeight(c *http.Client, addr string) (int64, error) {
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := syncLine.FindSubmatch(body)
	if m == nil {
		return 0, errors.New("no custos_sync_height in the metrics")
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return int64(v), err
}

// rpc is a bare JSON-RPC 1.0 client of the node.
type rpc struct{ url, user, pass string }

func (r *rpc) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(r.user, r.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: status %d: %w", method, resp.StatusCode, err)
	}
	if out.Error != nil {
		return nil, fmt.Errorf("%s: %d: %s", method, out.Error.Code, out.Error.Message)
	}
	return out.Result, nil
}
