package proof

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"time"
)

// ReportData is what the HTML report shows.
type ReportData struct {
	File   *File
	Result Result
	// Err is why the proof failed, nil when it passed.
	Err error
	// At is when the verification ran.
	At time.Time
	// Node names the node the chain check asked (host:port).
	Node string
}

// FormatBTC writes sats as BTC with 8 decimals ("12.34567890").
func FormatBTC(sat int64) string {
	sign := ""
	if sat < 0 {
		sign, sat = "-", -sat
	}
	return fmt.Sprintf("%s%d.%08d", sign, sat/1e8, sat%1e8)
}

// WriteReport writes the self-contained HTML report of a verification:
// no script, no external resource, every value escaped by html/template.
func WriteReport(w io.Writer, d ReportData) error {
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, d); err != nil {
		return fmt.Errorf("unable to render the proof report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"btc":      FormatBTC,
	"subtract": func(a, b int) int { return a - b },
	"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Proof of reserves — {{if .Err}}FAILED{{else}}verified{{end}}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232a;background:#f4f5f7;margin:0}
main{max-width:920px;margin:2rem auto;background:#fff;border:1px solid #d8dce1;border-radius:6px;padding:2rem 2.5rem}
h1{font-size:1.5rem;margin:0 0 .25rem}
.sub{color:#5b6672;margin:0 0 1.5rem}
.verdict{padding:1rem 1.25rem;border-radius:4px;font-weight:600;margin-bottom:1.5rem}
.ok{background:#e6f4ea;border:1px solid #7cc08e;color:#17522a}
.bad{background:#fbe9e9;border:1px solid #d98080;color:#7a1616}
.verdict .why{font-weight:400;display:block;margin-top:.35rem;word-break:break-word}
table{border-collapse:collapse;width:100%}
th{text-align:left;vertical-align:top;width:13rem;color:#5b6672;font-weight:500;padding:.45rem .75rem .45rem 0}
td{padding:.45rem 0;word-break:break-all}
tr+tr th,tr+tr td{border-top:1px solid #eceef1}
.amount{font-size:1.35rem;font-weight:600}
.msg{white-space:pre-wrap;word-break:break-word;font-size:1.05rem}
code{font:13px ui-monospace,"SFMono-Regular",Menlo,monospace}
.warn{background:#fff6e0;border:1px solid #e2c268;border-radius:4px;padding:.5rem .75rem;margin:.5rem 0 0;color:#614a00;font-size:.9rem}
footer{color:#5b6672;font-size:.85rem;margin-top:1.5rem}
</style>
</head>
<body>
<main>
<h1>Proof of reserves</h1>
<p class="sub">A BIP-322 proof: the reserve's signers signed a transaction spending every listed coin that can never be mined, committing to the message below.</p>
{{if .Err}}<div class="verdict bad">FAILED — this proof does not prove the reserve.<span class="why">{{.Err.Error}}</span></div>
{{else}}<div class="verdict ok">VERIFIED — every signature is valid and every coin was unspent at height {{.File.Height}}.</div>
{{end}}<table>
<tr><th>Message</th><td class="msg">{{.File.Message}}</td></tr>
<tr><th>Amount</th><td>{{if .Err}}claimed {{end}}<span class="amount">{{btc .File.TotalSat}} BTC</span> <code>({{.File.TotalSat}} sat)</code></td></tr>
<tr><th>Coins</th><td>{{.File.Coins}}{{if not .Err}} ({{.Result.UnspentNow}} still unspent now, {{subtract .Result.Coins .Result.UnspentNow}} spent after the proof's height){{end}}</td></tr>
<tr><th>Block height</th><td>{{.File.Height}}</td></tr>
<tr><th>Block hash</th><td><code>{{.File.BlockHash}}</code></td></tr>
<tr><th>Network</th><td>{{.File.Network}}</td></tr>
<tr><th>Challenge address</th><td><code>{{.File.ChallengeAddress}}</code></td></tr>
<tr><th>Signing ministries</th><td>{{range $i, $s := .File.Signers}}{{if $i}}, {{end}}<code>{{$s.Fingerprint}}</code>{{if $s.Name}} {{$s.Name}}{{end}}{{end}}
<div class="sub" style="margin:.25rem 0 0;font-size:.85rem;word-break:normal">{{if .Result.Ownership.Checked}}Key fingerprints of the descriptor's cosigners whose signatures the proof carries, read from the signatures themselves; every coin's script was re-derived from the descriptor at its listed derivation.{{else if .File.Descriptor}}Key fingerprints as the coordinator lists them.{{else}}Key fingerprints as the coordinator lists them, unchecked: the descriptor is withheld, so the verifier cannot tell whose keys signed, and the coins' ownership rests on the signatures alone.{{end}}</div></td></tr>
<tr><th>Wallet descriptor</th><td>{{if .File.Descriptor}}<code>{{.File.Descriptor}}</code>
<p class="warn">Publishing the descriptor reveals every address of the reserve, past and future.</p>{{else}}withheld (the proof does not reveal the wallet's other addresses){{end}}</td></tr>
<tr><th>Verified</th><td>{{utc .At}}{{if .Node}} against the node at <code>{{.Node}}</code>{{end}}</td></tr>
</table>
<footer>Checked by custos-verify: every input's script with btcd's script engine, the message hash, the single zero-value OP_RETURN output, and each coin on the node's chain at the stated height.</footer>
</main>
</body>
</html>
`))
