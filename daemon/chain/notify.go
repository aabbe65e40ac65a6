package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Notifications wake the follower; they are never read as facts. A block
// or transaction announced by the node only makes the follower poll at
// once: it still reads the chain by RPC, in order, from where it stopped,
// so a notification that lies, repeats, comes out of order or never comes
// changes nothing but how soon the wallet sees the news. Polling goes on
// underneath at Config.PollInterval, and at NotifyConfig.DownPoll at most
// while the notifications are down.
//
// btcd announces blocks and transactions on its websocket JSON-RPC
// endpoint (notifyblocks, notifynewtransactions: notify_btcd.go); bitcoind
// publishes them over ZMQ when started with -zmqpubhashblock and
// -zmqpubhashtx (notify_zmq.go).

// NotifyMode is --node.notify: whether the follower listens for the
// node's notifications.
type NotifyMode string

const (
	// NotifyAuto listens where the node offers notifications: btcd's
	// websocket always, bitcoind's ZMQ when NotifyConfig.ZMQBlock is set.
	NotifyAuto NotifyMode = "auto"
	// NotifyOff only polls.
	NotifyOff NotifyMode = "off"
)

// ParseNotifyMode reads --node.notify.
func ParseNotifyMode(s string) (NotifyMode, error) {
	switch NotifyMode(s) {
	case NotifyAuto, NotifyOff:
		return NotifyMode(s), nil
	}
	return "", fmt.Errorf("unknown notification mode %q (want auto or off)", s)
}

// Defaults of NotifyConfig.
const (
	DefaultNotifyDownPoll   = time.Second
	DefaultNotifyMinBackoff = 250 * time.Millisecond
	DefaultNotifyMaxBackoff = 30 * time.Second
	DefaultNotifyPing       = 30 * time.Second
	DefaultNotifyTxEvery    = 250 * time.Millisecond
)

// NotifyConfig says how the follower hears of new blocks and transactions
// without asking. The zero value is off.
type NotifyConfig struct {
	Mode NotifyMode
	// ZMQBlock is bitcoind's -zmqpubhashblock address, tcp://host:port;
	// without it auto means no notifications from bitcoind.
	ZMQBlock string
	// ZMQTx is bitcoind's -zmqpubhashtx address (optional; the same
	// address as ZMQBlock shares one connection): new mempool
	// transactions wake the follower too.
	ZMQTx string
	// DownPoll is the longest wait between polls while notifications are
	// configured but not connected (default 1s, never above
	// PollInterval): a follower told to poll hourly because it is woken
	// by the node must not go deaf for an hour when the channel drops.
	DownPoll time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (defaults 250ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// Ping is how often btcd's websocket is pinged; a connection silent
	// for twice as long is dropped and reconnected (default 30s).
	Ping time.Duration
	// TxEvery is the shortest time between two wakes by transaction
	// notifications (default 250ms): a busy mempool coalesces into one
	// poll per interval instead of one per transaction. Blocks wake at
	// once.
	TxEvery time.Duration
}

func (c *NotifyConfig) defaults() {
	if c.Mode == "" {
		c.Mode = NotifyOff
	}
	if c.DownPoll <= 0 {
		c.DownPoll = DefaultNotifyDownPoll
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultNotifyMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultNotifyMaxBackoff
	}
	if c.Ping <= 0 {
		c.Ping = DefaultNotifyPing
	}
	if c.TxEvery <= 0 {
		c.TxEvery = DefaultNotifyTxEvery
	}
}

// Check refuses a configuration the node kind cannot serve: an unknown
// mode, ZMQ for btcd or while off, a transaction address without the
// block address, an address that is not tcp://host:port.
func (c NotifyConfig) Check(kind Kind) error {
	if c.Mode == "" {
		c.Mode = NotifyOff
	}
	if _, err := ParseNotifyMode(string(c.Mode)); err != nil {
		return err
	}
	if c.ZMQBlock == "" && c.ZMQTx == "" {
		return nil
	}
	if kind != KindBitcoind {
		return fmt.Errorf("ZMQ notifications are bitcoind's; btcd's come over its websocket (node kind %s)", kind)
	}
	if c.Mode == NotifyOff {
		return errors.New("a ZMQ address is set but notifications are off")
	}
	if c.ZMQBlock == "" {
		return errors.New("a ZMQ transaction address needs the block address too")
	}
	for _, addr := range []string{c.ZMQBlock, c.ZMQTx} {
		if addr == "" {
			continue
		}
		if err := checkZMQAddr(addr); err != nil {
			return err
		}
	}
	return nil
}

// checkZMQAddr accepts tcp://host:port, as bitcoind's -zmqpub options
// write it.
func checkZMQAddr(addr string) error {
	hostport, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return fmt.Errorf("ZMQ address %q is not tcp://host:port", addr)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("ZMQ address %q is not tcp://host:port", addr)
	}
	return nil
}

// event is what a notification announces.
type event uint8

const (
	eventBlock event = iota + 1
	eventTx
	// eventNone is a message that announces nothing the follower acts on.
	eventNone
)

// subscription is one connection to the node's notifications.
type subscription interface {
	// receive blocks until the next message; an error means the
	// connection is gone.
	receive() (event, error)
	// close ends the connection and makes receive return.
	close() error
}

// notifier keeps one subscription alive, reconnecting with backoff, and
// turns what it announces into wakes of the follower.
type notifier struct {
	name string
	dial func(ctx context.Context) (subscription, error)
	cfg  NotifyConfig
	log  *slog.Logger
	// block wakes the follower now; tx wakes it at most every TxEvery.
	block func()
	tx    *throttle

	up atomic.Bool
	// connects counts connections made, for tests.
	connects atomic.Uint64
}

// run connects and listens until ctx ends. While the connection is down
// the follower polls (Follower.pollWait); each connect and each drop wakes
// it, since news may have been missed in between.
func (n *notifier) run(ctx context.Context) {
	var backoff time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		sub, err := n.dial(ctx)
		if err == nil {
			n.connects.Add(1)
			n.up.Store(true)
			n.log.Info("node notifications connected", "via", n.name)
			n.block()
			err = n.listen(ctx, sub)
			n.up.Store(false)
			n.block()
		}
		if ctx.Err() != nil {
			return
		}
		// A connection that lived long earns a quick retry; one that
		// keeps failing at once backs off.
		if time.Since(start) > n.cfg.MaxBackoff {
			backoff = 0
		}
		backoff = min(max(2*backoff, n.cfg.MinBackoff), n.cfg.MaxBackoff)
		n.log.Warn("node notifications down; polling meanwhile", "via", n.name, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listen wakes the follower for every announcement until the connection
// fails or ctx ends.
func (n *notifier) listen(ctx context.Context, sub subscription) error {
	stop := context.AfterFunc(ctx, func() { _ = sub.close() })
	defer func() {
		stop()
		_ = sub.close()
	}()
	for {
		ev, err := sub.receive()
		if err != nil {
			return err
		}
		switch ev {
		case eventBlock:
			n.log.Debug("node announced a block", "via", n.name)
			n.block()
		case eventTx:
			n.tx.fire()
		case eventNone:
		}
	}
}

// throttle calls wake at most once per every; calls in between are
// coalesced into one at the end of the interval.
type throttle struct {
	every time.Duration
	wake  func()

	mu      sync.Mutex
	last    time.Time
	pending bool
}

func (t *throttle) fire() {
	t.mu.Lock()
	if t.pending {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	if wait := t.every - now.Sub(t.last); wait > 0 {
		t.pending = true
		t.mu.Unlock()
		time.AfterFunc(wait, func() {
			t.mu.Lock()
			t.pending = false
			t.last = time.Now()
			t.mu.Unlock()
			t.wake()
		})
		return
	}
	t.last = now
	t.mu.Unlock()
	t.wake()
}

// newNotifiers makes the notifiers cfg asks for on node, none when off or
// when the node offers none.
func newNotifiers(node *Node, cfg NotifyConfig, log *slog.Logger, block, tx func()) ([]*notifier, error) {
	cfg.defaults()
	if err := cfg.Check(node.Kind()); err != nil {
		return nil, err
	}
	if cfg.Mode == NotifyOff {
		return nil, nil
	}
	mk := func(name string, dial func(context.Context) (subscription, error)) *notifier {
		return &notifier{
			name: name, dial: dial, cfg: cfg, log: log, block: block,
			tx: &throttle{every: cfg.TxEvery, wake: tx},
		}
	}
	switch node.Kind() {
	case KindBtcd:
		return []*notifier{mk("websocket", func(ctx context.Context) (subscription, error) {
			return dialWebsocket(ctx, node, cfg.Ping)
		})}, nil
	case KindBitcoind:
		if cfg.ZMQBlock == "" {
			return nil, nil
		}
		topics := map[string][]string{cfg.ZMQBlock: {zmqHashBlock}}
		if cfg.ZMQTx != "" {
			topics[cfg.ZMQTx] = append(topics[cfg.ZMQTx], zmqHashTx)
		}
		var out []*notifier
		for _, addr := range []string{cfg.ZMQBlock, cfg.ZMQTx} {
			t, ok := topics[addr]
			if !ok {
				continue
			}
			delete(topics, addr)
			out = append(out, mk("zmq "+addr, func(ctx context.Context) (subscription, error) {
				return dialZMQ(ctx, addr, t)
			}))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown node kind %q", node.Kind())
}
