package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// GeneratorVersion names what Generate writes: the cache under .bench/ is
// keyed by it, so change it whenever the generator's output changes.
const GeneratorVersion = 2

// Size is what a fixture holds.
type Size struct {
	// Coins is the number of unspent wallet outputs at the end.
	Coins int
	// Addresses is the number of issued receive addresses.
	Addresses int
	// Proposals is the number of proposals, every one in an end state.
	Proposals int
	// Audit is the number of audit entries at the end (at least what the
	// other records append).
	Audit int
}

// SizeFor is the fixture of the growth curves at coins coins: twice as
// many addresses, a proposal per five coins, twenty audit entries per
// coin; 50,000 coins is the issue's reserve (100,000 addresses, 10,000
// proposals, 1,000,000 audit entries).
func SizeFor(coins int) Size {
	return Size{Coins: coins, Addresses: 2 * coins, Proposals: coins / 5, Audit: 20 * coins}
}

// Summary is what a generated fixture holds, read back from the store.
type Summary struct {
	Version    int            `json:"generator_version"`
	Size       Size           `json:"size"`
	Height     int32          `json:"height"`
	BalanceSat int64          `json:"balance_sat"`
	Unspent    int            `json:"unspent"`
	Issued     int            `json:"issued_addresses"`
	States     map[string]int `json:"proposal_states"`
	AuditSize  int64          `json:"audit_size"`
	AuditRoot  string         `json:"audit_root"`
	Payee      string         `json:"payee"`
	WalletID   string         `json:"wallet_id"`
}

const (
	depositsPerBlock  = 100
	confirmsPerBlock  = 100
	gapLimit          = 20
	proposalVSize     = 140
	proposalFeeRate   = 2
	firstBlockTime    = 1_700_000_000
	blockInterval     = 600
	clockStep         = 10 * time.Second
	fixtureNetwork    = reserve.Regtest
	fundingTag        = "custos bench-scale funding"
	payeeTag          = "custos bench-scale payee"
	seedTag           = "custos bench-scale cosigner "
	generatorRandSeed = 15
)

// endStates is the end state of proposal k: k%10 picks one, so every end
// state is present at every size; four in ten confirm on chain.
var endStates = [10]reserve.State{
	reserve.StateConfirmed, reserve.StateConfirmed, reserve.StateConfirmed, reserve.StateConfirmed,
	reserve.StateCancelled, reserve.StateCancelled, reserve.StateExpired, reserve.StateRejected,
	reserve.StateFailed, reserve.StateReplaced,
}

// gen is one run of the generator: the store, the wallet and a clock and
// random source that depend on nothing but the size.
type gen struct {
	db     *store.DB
	desc   *multisig.Descriptor
	wallet reserve.Wallet
	size   Size
	now    time.Time
	rng    *rand.Rand
	params *chaincfg.Params

	height int32
	tip    chainhash.Hash
	coins  []reserve.UTXO // every coin credited, in order
	txs    map[chainhash.Hash]*wire.MsgTx
	payee  payee
}

type payee struct {
	address string
	script  []byte
}

// Generate writes a fixture of size sz into a new store at path, through
// the store's own API, deterministically.
func Generate(ctx context.Context, path string, sz Size) (Summary, error) {
	g := &gen{size: sz, now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		rng: rand.New(rand.NewPCG(generatorRandSeed, uint64(sz.Coins))), params: &chaincfg.RegressionNetParams,
		txs: make(map[chainhash.Hash]*wire.MsgTx)}
	db, err := store.Open(path, store.Options{Now: g.clock})
	if err != nil {
		return Summary{}, err
	}
	defer db.Close()
	g.db = db
	g.payee = g.foreign(payeeTag, 0)

	admin := reserve.WithActor(ctx, reserve.Actor{Name: "admin", Role: "admin", Serial: "01"})
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"wallet", g.makeWallet},
		{"addresses", g.issueAddresses},
		{"deposits", g.deposit},
		{"proposals", g.proposals},
		{"audit events", g.events},
	}
	for _, s := range steps {
		if err := s.fn(admin); err != nil {
			return Summary{}, fmt.Errorf("fixture %s: %w", s.what, err)
		}
	}
	sum, err := Summarize(ctx, db)
	sum.Size, sum.Payee = sz, g.payee.address
	return sum, err
}

// clock is the store's clock: each reading is clockStep after the last,
// so the records' times are the same in every run.
func (g *gen) clock() time.Time {
	g.now = g.now.Add(clockStep)
	return g.now
}

// makeWallet creates a 2-of-3 wallet of three fixed-seed cosigners, as
// custosctl wallet create does.
func (g *gen) makeWallet(ctx context.Context) error {
	var keys []reserve.Cosigner
	for _, name := range []string{"finance", "interior", "defence"} {
		seed := sha256.Sum256([]byte(seedTag + name))
		c, xprv, err := multisig.DeriveAccount(seed[:], fixtureNetwork, 0)
		if err != nil {
			return err
		}
		xprv.Zero()
		keys = append(keys, c)
	}
	desc, err := multisig.NewDescriptor(fixtureNetwork, 2, keys)
	if err != nil {
		return err
	}
	g.desc = desc
	g.wallet = reserve.Wallet{
		ID: desc.WalletID(), Name: "bench-scale reserve", Network: fixtureNetwork, Threshold: 2,
		Cosigners: desc.Cosigners(), Descriptor: desc.String(), GapLimit: gapLimit, BirthdayHeight: 0,
		CreatedAt: g.clock(),
	}
	look, err := g.derive(reserve.BranchReceive, 0, gapLimit)
	if err != nil {
		return err
	}
	change, err := g.derive(reserve.BranchChange, 0, gapLimit)
	if err != nil {
		return err
	}
	return g.db.CreateWallet(ctx, g.wallet, append(look, change...))
}

// derive derives the wallet's addresses [from, to) on branch b, spread
// over the cores first.
func (g *gen) derive(b reserve.Branch, from, to uint32) ([]reserve.Address, error) {
	if err := g.desc.Prederive(b, from, to); err != nil {
		return nil, err
	}
	out := make([]reserve.Address, 0, to-from)
	for i := from; i < to; i++ {
		d, err := g.desc.Derive(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, reserve.Address{Branch: b, Index: i, Address: d.Address, Script: d.PkScript, CreatedAt: g.now})
	}
	return out, nil
}

// issueAddresses issues sz.Addresses receive addresses one at a time, as
// custosctl address new does: each issue is followed by the follower's
// EnsureLookahead, which keeps gapLimit addresses derived past the
// horizon (PutAddresses of the one that became needed). Keys are derived
// ahead in chunks over the cores (Prederive), which changes nothing
// stored.
func (g *gen) issueAddresses(ctx context.Context) error {
	const chunk = 1000
	for i := 0; i < g.size.Addresses; i++ {
		next := uint32(i) + gapLimit
		if (next-gapLimit)%chunk == 0 {
			if err := g.desc.Prederive(reserve.BranchReceive, next, next+chunk); err != nil {
				return err
			}
		}
		if _, err := g.db.IssueAddress(ctx, fmt.Sprintf("depositor %d", i)); err != nil {
			return err
		}
		addrs, err := g.derive(reserve.BranchReceive, next, next+1)
		if err != nil {
			return err
		}
		if err := g.db.PutAddresses(ctx, addrs); err != nil {
			return err
		}
	}
	return nil
}

// deposit credits sz.Coins coins, plus one per proposal that confirms
// (those spend them), depositsPerBlock to a block, each a real
// transaction paying an issued address and a foreign change output.
func (g *gen) deposit(ctx context.Context) error {
	total := g.size.Coins + confirmedCount(g.size.Proposals)
	var txs []*wire.MsgTx
	var credits []reserve.UTXO
	for j := 0; j < total; j++ {
		index := uint32((j * 7919) % g.size.Addresses)
		d, err := g.desc.Derive(reserve.BranchReceive, index)
		if err != nil {
			return err
		}
		amount := 10_000 + g.rng.Int64N(100_000_000)
		tx := wire.NewMsgTx(2)
		in := wire.NewTxIn(&wire.OutPoint{Hash: chainhash.HashH(fmt.Appendf(nil, "%s %d", fundingTag, j))}, nil,
			wire.TxWitness{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{0x02}, 33)})
		tx.AddTxIn(in)
		tx.AddTxOut(wire.NewTxOut(amount, d.PkScript))
		tx.AddTxOut(wire.NewTxOut(50_000+g.rng.Int64N(1_000_000), g.foreign(fundingTag, j).script))
		txs = append(txs, tx)
		credits = append(credits, reserve.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash(), Index: 0}, AmountSat: amount,
			Script: d.PkScript, Branch: reserve.BranchReceive, Index: index})
		if len(txs) == depositsPerBlock || j == total-1 {
			if err := g.block(ctx, txs, credits, nil); err != nil {
				return err
			}
			g.coins = append(g.coins, credits...)
			for _, tx := range txs {
				g.txs[tx.TxHash()] = tx
			}
			txs, credits = nil, nil
		}
	}
	return nil
}

// block applies a block holding txs, as the follower does after
// filtering a node's block to the wallet's transactions.
func (g *gen) block(ctx context.Context, txs []*wire.MsgTx, credits []reserve.UTXO, debits []reserve.Debit) error {
	utxs := make([]*btcutil.Tx, len(txs))
	for i, tx := range txs {
		utxs[i] = btcutil.NewTx(tx)
	}
	var root chainhash.Hash
	if len(utxs) > 0 {
		root = blockchain.CalcMerkleRoot(utxs, false)
	}
	h := wire.BlockHeader{Version: 0x20000000, PrevBlock: g.tip, MerkleRoot: root,
		Timestamp: time.Unix(firstBlockTime+int64(g.height+1)*blockInterval, 0), Bits: 0x207fffff}
	b := reserve.BlockUpdate{Height: g.height + 1, Hash: h.BlockHash(), Prev: g.tip, Credits: credits, Debits: debits, Txs: txs}
	if g.height == 0 {
		b.Prev = chainhash.Hash{}
	}
	if err := g.db.ApplyBlock(ctx, b); err != nil {
		return err
	}
	g.height, g.tip = b.Height, b.Hash
	return nil
}

// foreign is a P2WPKH output nobody in the wallet controls.
func (g *gen) foreign(tag string, i int) payee {
	h := sha256.Sum256(fmt.Appendf(nil, "%s %d", tag, i))
	a, err := btcutil.NewAddressWitnessPubKeyHash(h[:20], g.params)
	if err != nil {
		panic(err) // 20 bytes are always a valid witness program
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		panic(err)
	}
	return payee{address: a.EncodeAddress(), script: script}
}

func confirmedCount(proposals int) int {
	n := 0
	for k := 0; k < proposals; k++ {
		if endStates[k%len(endStates)] == reserve.StateConfirmed {
			n++
		}
	}
	return n
}

// proposals makes sz.Proposals proposals and walks each to its end state
// with the transitions the daemon makes; those that confirm spend the
// extra coins in blocks (a CONFIRMED proposal keeps its reservations, as
// in the daemon).
func (g *gen) proposals(ctx context.Context) error {
	conf := g.size.Coins
	type pending struct {
		id    string
		tx    *wire.MsgTx
		input wire.OutPoint
	}
	var broadcast []pending
	for k := 0; k < g.size.Proposals; k++ {
		end := endStates[k%len(endStates)]
		coin := g.coins[k%g.size.Coins]
		if end == reserve.StateConfirmed {
			coin = g.coins[conf]
			conf++
		}
		p, tx, err := g.proposal(coin, end)
		if err != nil {
			return err
		}
		p, err = g.db.CreateProposal(ctx, p)
		if err != nil {
			return err
		}
		path := map[reserve.State][]reserve.State{
			reserve.StateConfirmed: {reserve.StateFinalized, reserve.StateBroadcast},
			reserve.StateCancelled: {reserve.StateCancelled},
			reserve.StateExpired:   {reserve.StateExpired},
			reserve.StateRejected:  {reserve.StateRejected},
			reserve.StateFailed:    {reserve.StateFailed},
			reserve.StateReplaced:  {reserve.StateFinalized, reserve.StateBroadcast, reserve.StateReplaced},
		}[end]
		for _, next := range path {
			if err := g.move(ctx, p.ID, next, nil); err != nil {
				return err
			}
		}
		if end == reserve.StateConfirmed {
			broadcast = append(broadcast, pending{id: p.ID, tx: tx, input: coin.OutPoint})
		}
	}

	// The node confirms the broadcast ones; the follower marks them.
	for len(broadcast) > 0 {
		n := min(confirmsPerBlock, len(broadcast))
		batch := broadcast[:n]
		broadcast = broadcast[n:]
		var txs []*wire.MsgTx
		var debits []reserve.Debit
		for _, b := range batch {
			txs = append(txs, b.tx)
			debits = append(debits, reserve.Debit{OutPoint: b.input, SpentBy: b.tx.TxHash()})
		}
		if err := g.block(ctx, txs, nil, debits); err != nil {
			return err
		}
		for _, b := range batch {
			h := g.height
			if err := g.move(ctx, b.id, reserve.StateConfirmed, func(p *reserve.Proposal) { p.ConfirmedHeight = h }); err != nil {
				return err
			}
		}
	}
	return nil
}

// proposal is a one-input, one-payee proposal spending coin with the
// PSBT multisig.CreatePSBT builds for the daemon, made as under no
// approval policy (it starts SIGNING), or waiting for approval when it is
// to be rejected.
func (g *gen) proposal(coin reserve.UTXO, end reserve.State) (reserve.Proposal, *wire.MsgTx, error) {
	fee := int64(proposalVSize * proposalFeeRate)
	in := reserve.Input{OutPoint: coin.OutPoint, AmountSat: coin.AmountSat, Branch: coin.Branch, Index: coin.Index}
	pkt, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: g.desc, Inputs: []reserve.Input{in},
		PrevTxs:  map[chainhash.Hash]*wire.MsgTx{coin.OutPoint.Hash: g.txs[coin.OutPoint.Hash]},
		Outputs:  []multisig.Output{{Script: g.payee.script, AmountSat: coin.AmountSat - fee}},
		LockTime: uint32(g.height),
	})
	if err != nil {
		return reserve.Proposal{}, nil, err
	}
	raw, err := multisig.SerializePSBT(pkt)
	if err != nil {
		return reserve.Proposal{}, nil, err
	}
	var unsigned bytes.Buffer
	if err := pkt.UnsignedTx.SerializeNoWitness(&unsigned); err != nil {
		return reserve.Proposal{}, nil, err
	}
	start := reserve.StateSigning
	if end == reserve.StateRejected {
		start = reserve.StatePendingApproval
	}
	at := g.now
	return reserve.Proposal{
		WalletID: g.wallet.ID,
		State:    start,
		Payees:   []reserve.Payee{{Address: g.payee.address, Script: g.payee.script, AmountSat: coin.AmountSat - fee}},
		Memo:     fmt.Sprintf("invoice %s", hex.EncodeToString(coin.OutPoint.Hash[:4])),
		FeeRate:  proposalFeeRate, FeeSat: fee, VSize: proposalVSize,
		Inputs:     []reserve.Input{in},
		UnsignedTx: unsigned.Bytes(),
		PSBT:       raw,
		Txid:       pkt.UnsignedTx.TxHash(),
		CreatedBy:  "admin",
		CreatedAt:  at,
		ExpiresAt:  at.Add(168 * time.Hour),
		History:    []reserve.Transition{{State: start, At: at, Actor: "admin", Note: "proposed"}},
	}, pkt.UnsignedTx, nil
}

// move makes one transition of proposal id, with also's other changes,
// as the daemon's workflow does through UpdateProposal.
func (g *gen) move(ctx context.Context, id string, next reserve.State, also func(p *reserve.Proposal)) error {
	actor := map[reserve.State]string{
		reserve.StateFinalized: "daemon", reserve.StateBroadcast: "admin", reserve.StateConfirmed: "node",
		reserve.StateCancelled: "admin", reserve.StateExpired: "daemon", reserve.StateRejected: "carol",
		reserve.StateFailed: "daemon", reserve.StateReplaced: "node",
	}[next]
	at := g.now
	_, err := g.db.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
		if next == reserve.StateFinalized {
			p.FinalTx = p.UnsignedTx
		}
		if also != nil {
			also(p)
		}
		return p.Move(next, at, actor, "bench-scale")
	})
	return err
}

// events appends the security events that change no state (the bulk of a
// real log: refused handshakes and calls, exports, console sessions,
// backups), as the daemon does with AppendEvent, up to sz.Audit entries.
func (g *gen) events(ctx context.Context) error {
	size, _, err := g.db.AuditTree(ctx)
	if err != nil {
		return err
	}
	kinds := []string{daemon.AuditAuthFailed, daemon.AuditAuthDenied, daemon.AuditPSBTExport,
		daemon.AuditConsoleLogin, daemon.AuditConsoleLogout, daemon.AuditBackupTaken}
	auditor := reserve.WithActor(ctx, reserve.Actor{Name: "audrey", Role: "auditor", Serial: "02"})
	for i := size; i < int64(g.size.Audit); i++ {
		kind := kinds[i%int64(len(kinds))]
		c, ids, detail := auditor, map[string]string(nil), ""
		switch kind {
		case daemon.AuditAuthFailed:
			c, detail = ctx, fmt.Sprintf("peer=127.0.0.1:%d reason=%q", 40000+i%20000, "certificate signed by unknown authority")
		case daemon.AuditAuthDenied:
			detail = fmt.Sprintf("method=/custos.v1.SpendService/ApproveProposal n=%d", i)
		case daemon.AuditPSBTExport:
			c, ids, detail = ctx, map[string]string{"proposal": fmt.Sprintf("P%06d", 1+i%int64(max(1, g.size.Proposals)))}, "bytes=1024"
		default:
			detail = fmt.Sprintf("n=%d", i)
		}
		if err := g.db.AppendEvent(c, kind, ids, detail); err != nil {
			return err
		}
	}
	return nil
}

// Summarize reads back what a fixture holds: the figures the invariants
// test and the script's report compare.
func Summarize(ctx context.Context, db *store.DB) (Summary, error) {
	s := Summary{Version: GeneratorVersion, States: map[string]int{}}
	w, err := db.Wallet(ctx)
	if err != nil {
		return s, err
	}
	s.WalletID = w.ID
	bal, height, err := db.Balance(ctx)
	if err != nil {
		return s, err
	}
	s.BalanceSat, s.Height = bal.ConfirmedSat, height
	utxos, err := db.UTXOs(ctx, false)
	if err != nil {
		return s, err
	}
	s.Unspent = len(utxos)
	addrs, err := db.Addresses(ctx, reserve.BranchReceive)
	if err != nil {
		return s, err
	}
	for _, a := range addrs {
		if a.Issued {
			s.Issued++
		}
	}
	counts, err := db.ProposalCounts(ctx)
	if err != nil {
		return s, err
	}
	for st, n := range counts {
		s.States[st.String()] = n
	}
	size, root, err := db.AuditTree(ctx)
	if err != nil {
		return s, err
	}
	s.AuditSize, s.AuditRoot = size, hex.EncodeToString(root[:])
	return s, nil
}
