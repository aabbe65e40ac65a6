package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcjson"
)

// DefaultRPCTimeout bounds one request to the node when
// NodeConfig.RPCTimeout is not set.
const DefaultRPCTimeout = 30 * time.Second

// ErrRPCTimeout is what a request to the node returns, wrapped with the
// method's name, when the node did not answer within
// NodeConfig.RPCTimeout (or the caller's context ended first, then
// wrapped with the context's error too). Callers treat it like a node that
// is down: nothing is known about the request's effect.
var ErrRPCTimeout = errors.New("node did not answer in time")

// errClosed is what a request returns once the Node is closed.
var errClosed = errors.New("node client closed")

// rpcClient speaks JSON-RPC 1.0 over HTTP POST to btcd or bitcoind, each
// request bounded by timeout and by the caller's context. It replaces
// rpcclient's HTTP POST mode, which (btcd v0.24) sends every request
// through one goroutine on an http.Client without a timeout, ignores
// contexts and retries a failed request ten times with backoff: one node
// that accepts a connection and never answers hung every later call of the
// follower and of the broadcast path.
type rpcClient struct {
	url        string
	user, pass string
	cookiePath string
	timeout    time.Duration
	http       *http.Client
	ids        atomic.Uint64

	closeOnce sync.Once
	closed    chan struct{}
}

func newRPCClient(cfg NodeConfig) *rpcClient {
	timeout := cfg.RPCTimeout
	if timeout <= 0 {
		timeout = DefaultRPCTimeout
	}
	return &rpcClient{
		url:  "http://" + cfg.Host,
		user: cfg.User, pass: cfg.Pass, cookiePath: cfg.CookiePath,
		timeout: timeout,
		// Requests are bounded by their context; the transport's own
		// defaults (no proxy from the environment: the node is local).
		http:   &http.Client{Transport: &http.Transport{}},
		closed: make(chan struct{}),
	}
}

// close makes requests under way and later ones fail.
func (c *rpcClient) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.http.CloseIdleConnections()
	})
}

// jsonRequest and jsonResponse are JSON-RPC 1.0 envelopes, as both nodes
// read and write them.
type jsonRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type jsonResponse struct {
	Result json.RawMessage   `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
	ID     *uint64           `json:"id"`
}

// call sends one request and returns its result; a refusal by the node is
// a *btcjson.RPCError.
func (c *rpcClient) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	req := c.request(method, params)
	var resp jsonResponse
	if err := c.post(ctx, method, req, &resp); err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}

// rpcResult is one answer of a batch.
type rpcResult struct {
	result json.RawMessage
	err    error
}

// batch sends one request per entry of params in one HTTP request, all
// for method, and returns their answers in order. The error is for the
// whole batch; each answer may be a refusal of its own.
func (c *rpcClient) batch(ctx context.Context, method string, params [][]any) ([]rpcResult, error) {
	reqs := make([]jsonRequest, len(params))
	index := make(map[uint64]int, len(params))
	for i, p := range params {
		reqs[i] = c.request(method, p)
		index[reqs[i].ID] = i
	}
	var resps []jsonResponse
	if err := c.post(ctx, method+" batch", reqs, &resps); err != nil {
		return nil, err
	}
	out := make([]rpcResult, len(params))
	got := 0
	for _, r := range resps {
		if r.ID == nil {
			continue
		}
		i, ok := index[*r.ID]
		if !ok {
			continue
		}
		delete(index, *r.ID)
		got++
		out[i].result = r.Result
		if r.Error != nil {
			out[i].err = r.Error
		}
	}
	if got != len(params) {
		return nil, fmt.Errorf("%s batch: the node answered %d of %d requests", method, got, len(params))
	}
	return out, nil
}

func (c *rpcClient) request(method string, params []any) jsonRequest {
	if params == nil {
		params = []any{}
	}
	return jsonRequest{JSONRPC: "1.0", ID: c.ids.Add(1), Method: method, Params: params}
}

// post sends body and decodes the answer into out, within c.timeout.
func (c *rpcClient) post(ctx context.Context, what string, body, out any) error {
	select {
	case <-c.closed:
		return fmt.Errorf("%s: %w", what, errClosed)
	default:
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("unable to encode %s: %w", what, err)
	}
	user, pass, err := c.auth()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrRPCTimeout)
	defer cancel()
	// Close interrupts the request.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-stop:
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, pass)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failed(ctx, what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return c.failed(ctx, what, err)
	}
	// Both nodes answer refusals with a JSON envelope and an HTTP error
	// status; only a body that is no envelope is an error of its own.
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: status %d, response %q", what, resp.StatusCode, truncate(raw, 200))
	}
	return nil
}

// failed names what failed and why: the bound, Close, or the transport.
func (c *rpcClient) failed(ctx context.Context, what string, err error) error {
	select {
	case <-c.closed:
		return fmt.Errorf("%s: %w", what, errClosed)
	default:
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrRPCTimeout) {
		return fmt.Errorf("%s: %w within %s", what, ErrRPCTimeout, c.timeout)
	} else if cause != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrRPCTimeout, cause)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// auth returns the credentials: User and Pass, or bitcoind's cookie file,
// read on every request since the node rewrites it when it restarts.
func (c *rpcClient) auth() (string, string, error) {
	if c.cookiePath == "" {
		return c.user, c.pass, nil
	}
	b, err := os.ReadFile(c.cookiePath)
	if err != nil {
		return "", "", fmt.Errorf("unable to read the node's cookie file: %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		return "", "", fmt.Errorf("node's cookie file %s is not user:password", c.cookiePath)
	}
	return user, pass, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
