package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// The events the daemon itself appends to the audit log: what changes no
// stored state but an auditor must see (docs/audit.md, "Kinds"). State
// changes are recorded by the store, in the transaction of the change.

// Audit kinds of daemon events. Persisted: never rename one.
const (
	// AuditPSBTExport is a PSBT handed to the signers: ids name the
	// proposal, its txid, the checkpoint size the PSBT carries, the
	// cosigners it carries a consistency proof for and the SHA-256 of the
	// file handed out.
	AuditPSBTExport = "proposal.export"
)

// exportPSBT is the proposal's PSBT as the signers get it (witnessPSBT),
// recorded as an export leaf before it is handed out: an export the log
// cannot record is refused, so no PSBT leaves unlogged.
func (d *Daemon) exportPSBT(ctx context.Context, p reserve.Proposal) ([]byte, error) {
	raw, c, err := d.witnessPSBT(ctx, p.PSBT)
	if err != nil {
		return nil, err
	}
	size, proofs := c.size, c.proofs
	ids := map[string]string{"proposal": p.ID, "txid": p.Txid.String(), "psbt_sha256": fmt.Sprintf("%x", sha256.Sum256(raw))}
	ids["checkpoint_size"] = strconv.FormatInt(size, 10)
	if len(proofs) > 0 {
		ids["proofs"] = reserve.Clip(strings.Join(proofs, ","), audit.MaxIDLen)
	}
	detail := fmt.Sprintf("PSBT of proposal %s exported to the signers with the checkpoint of size %d and %d consistency proofs", p.ID, size, len(proofs))
	if err := d.audit.AppendEvent(context.WithoutCancel(ctx), AuditPSBTExport, ids, detail); err != nil {
		return nil, fmt.Errorf("unable to record the export of proposal %s: %w", p.ID, err)
	}
	return raw, nil
}

// recordHandshakeFailure appends an auth.failed leaf for a connection
// refused in the TLS handshake for want of a valid client certificate
// (none, one not signed by this daemon's CA, an expired one), with the
// remote address. These never reach the interceptor. They are bounded
// with the interceptor's refusals (d.refusals), since anyone who can
// connect can cause them. Failures that are not about the client's
// certificate (a port scan, another protocol, a dropped connection) are
// not authentication attempts and only logged.
func (d *Daemon) recordHandshakeFailure(addr net.Addr, err error) {
	ids := map[string]string{}
	if addr != nil {
		ids["peer"] = reserve.Clip(addr.String(), audit.MaxIDLen)
	}
	var why string
	var cve *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errNoClientCert):
		why = "no client certificate presented"
	case errors.As(err, &cve):
		why = "client certificate refused: " + cve.Err.Error()
		if len(cve.UnverifiedCertificates) > 0 {
			c := cve.UnverifiedCertificates[0]
			ids["cert_serial"] = reserve.Clip(c.SerialNumber.Text(16), audit.MaxIDLen)
			why += fmt.Sprintf(" (subject %q, not trusted)", reserve.Clip(c.Subject.CommonName, 128))
		}
	default:
		d.log.Debug("TLS handshake failed", slog.String("peer", ids["peer"]), slog.Any("err", err))
		return
	}
	ok, suppressed := d.refusals.admit(d.cfg.Now())
	if !ok {
		return
	}
	detail := "TLS handshake refused: " + why
	if suppressed > 0 {
		detail = fmt.Sprintf("%s (and %d refusals not recorded in the last %s)", detail, suppressed, refusalWindow)
	}
	ctx := reserve.WithActor(context.Background(), reserve.Actor{Name: "unauthenticated", Role: "none"})
	if aerr := d.audit.AppendEvent(ctx, AuditAuthFailed, ids, reserve.Clip(detail, audit.MaxDetailLen)); aerr != nil {
		d.log.Warn("unable to record a refused handshake in the audit log", slog.String("peer", ids["peer"]), slog.Any("err", aerr))
	}
}
