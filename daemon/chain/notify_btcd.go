package chain

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/gorilla/websocket"
)

// wsHandshakeTimeout bounds the websocket upgrade and the node's answers
// to the two subscriptions.
const wsHandshakeTimeout = 10 * time.Second

// wsReadLimit bounds one message from btcd: notifications of blocks and
// transactions are a few hundred bytes (no filter is loaded, so a
// filteredblockconnected carries only the header).
const wsReadLimit = 1 << 20

// btcd's notification methods (btcjson/chainsvrwsntfns.go). notifyblocks
// sends both the legacy and the filtered form of each block; either wakes
// the follower, and the second coalesces with the first.
var wsEvents = map[string]event{
	btcjson.BlockConnectedNtfnMethod:            eventBlock,
	btcjson.BlockDisconnectedNtfnMethod:         eventBlock,
	btcjson.FilteredBlockConnectedNtfnMethod:    eventBlock,
	btcjson.FilteredBlockDisconnectedNtfnMethod: eventBlock,
	btcjson.TxAcceptedNtfnMethod:                eventTx,
	btcjson.TxAcceptedVerboseNtfnMethod:         eventTx,
}

// wsSubscription is btcd's websocket JSON-RPC endpoint (/ws) after
// notifyblocks and notifynewtransactions. It replaces rpcclient's
// websocket mode for the same reasons rpc.go replaces its HTTP POST mode:
// this client is bounded by contexts and deadlines, and a connection that
// falls silent is dropped (ping every Ping, read deadline twice that).
type wsSubscription struct {
	conn *websocket.Conn
	ping time.Duration

	closeOnce sync.Once
	done      chan struct{}
}

// wsMessage is a notification (method and params) or the answer to a
// request (id, result, error).
type wsMessage struct {
	Method string            `json:"method"`
	ID     *uint64           `json:"id"`
	Error  *btcjson.RPCError `json:"error"`
}

// dialWebsocket connects to btcd's /ws with the node's credentials and
// subscribes to blocks and new mempool transactions.
func dialWebsocket(ctx context.Context, node *Node, ping time.Duration) (subscription, error) {
	user, pass, err := node.rpc.auth()
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	ctx, cancel := context.WithTimeout(ctx, wsHandshakeTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: wsHandshakeTimeout}
	url := "ws://" + node.cfg.Host + "/ws"
	conn, resp, err := d.DialContext(ctx, url, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: status %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("websocket %s: %w", url, err)
	}
	conn.SetReadLimit(wsReadLimit)
	s := &wsSubscription{conn: conn, ping: ping, done: make(chan struct{})}
	if err := s.subscribe(ctx); err != nil {
		_ = s.close()
		return nil, err
	}
	s.keepAlive()
	return s, nil
}

// subscribe asks for block and transaction notifications and waits for
// both answers. A notification that arrives before them only means the
// subscription already works.
func (s *wsSubscription) subscribe(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	_ = s.conn.SetWriteDeadline(deadline)
	_ = s.conn.SetReadDeadline(deadline)
	reqs := []jsonRequest{
		{JSONRPC: "1.0", ID: 1, Method: "notifyblocks", Params: []any{}},
		{JSONRPC: "1.0", ID: 2, Method: "notifynewtransactions", Params: []any{false}},
	}
	for _, r := range reqs {
		if err := s.conn.WriteJSON(r); err != nil {
			return fmt.Errorf("websocket %s: %w", r.Method, err)
		}
	}
	pending := map[uint64]string{1: "notifyblocks", 2: "notifynewtransactions"}
	for len(pending) > 0 {
		var m wsMessage
		if err := s.read(&m); err != nil {
			return fmt.Errorf("websocket: waiting for the answer to %d subscriptions: %w", len(pending), err)
		}
		if m.ID == nil || m.Method != "" {
			continue
		}
		method, ok := pending[*m.ID]
		if !ok {
			continue
		}
		if m.Error != nil {
			return fmt.Errorf("websocket %s: %w", method, m.Error)
		}
		delete(pending, *m.ID)
	}
	_ = s.conn.SetWriteDeadline(time.Time{})
	return s.conn.SetReadDeadline(time.Now().Add(2 * s.ping))
}

// keepAlive pings the node every s.ping; each pong or message extends the
// read deadline, so a node that stops answering fails receive.
func (s *wsSubscription) keepAlive() {
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(2 * s.ping))
	})
	go func() {
		t := time.NewTicker(s.ping)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				// WriteControl may run beside the reader.
				if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.ping)); err != nil {
					_ = s.close()
					return
				}
			}
		}
	}()
}

func (s *wsSubscription) read(m *wsMessage) error {
	typ, raw, err := s.conn.ReadMessage()
	if err != nil {
		return err
	}
	if typ != websocket.TextMessage {
		return fmt.Errorf("websocket: message of type %d, want text", typ)
	}
	if err := json.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("websocket: undecodable message %q: %w", truncate(raw, 100), err)
	}
	return nil
}

func (s *wsSubscription) receive() (event, error) {
	var m wsMessage
	if err := s.read(&m); err != nil {
		select {
		case <-s.done:
			return 0, errors.Join(errClosed, err)
		default:
		}
		return 0, err
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(2 * s.ping))
	if ev, ok := wsEvents[m.Method]; ok {
		return ev, nil
	}
	return eventNone, nil
}

func (s *wsSubscription) close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.conn.Close()
	})
	return err
}
