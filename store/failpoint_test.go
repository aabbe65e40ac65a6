package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/failpoint"
)

func TestTxKind(t *testing.T) {
	tests := []struct {
		name      string
		what      string
		precommit failpoint.Name
		committed failpoint.Name
	}{
		{name: "proposal update", what: "update proposal p-7", precommit: failpoint.StoreUpdateProposalPrecommit, committed: failpoint.StoreUpdateProposalCommitted},
		{name: "network before addresses", what: "record network regtest", precommit: failpoint.StoreRecordNetworkPrecommit, committed: failpoint.StoreRecordNetworkCommitted},
		{name: "addresses", what: "record 20 addresses", precommit: failpoint.StoreRecordAddressesPrecommit, committed: failpoint.StoreRecordAddressesCommitted},
		{name: "witnesses before addresses", what: "record witnesses", precommit: failpoint.StoreRecordWitnessesPrecommit, committed: failpoint.StoreRecordWitnessesCommitted},
		{name: "restore", what: "mark store restored", precommit: failpoint.StoreRestorePrecommit, committed: failpoint.StoreRestoreCommitted},
		{name: "block", what: "apply block 00ff at height 7", precommit: failpoint.StoreApplyBlockPrecommit, committed: failpoint.StoreApplyBlockCommitted},
		{name: "unknown transaction is other", what: "rename wallet", precommit: failpoint.StoreOtherPrecommit, committed: failpoint.StoreOtherCommitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := txKind(tt.what)
			require.Equal(t, tt.precommit, k.precommit)
			require.Equal(t, tt.committed, k.committed)
			require.True(t, failpoint.Listed(k.precommit))
			require.True(t, failpoint.Listed(k.committed))
		})
	}
}

// TestTxKindsCoverUpdates reads the store's source: every db.update call
// must map to failpoints of its own, never to the generic "other" pair,
// so a crash test can target each kind of transaction.
func TestTxKindsCoverUpdates(t *testing.T) {
	whats := updateWhats(t, ".")
	require.GreaterOrEqual(t, len(whats), len(txKinds), "every kind is used")
	for _, w := range whats {
		require.NotEqual(t, failpoint.StoreOtherPrecommit, txKind(w).precommit,
			"db.update(ctx, %q, …) matches no txKinds prefix: add its failpoints to failpoint/names.go and txKinds", w)
	}
	// The refusal: a call this table does not know is caught.
	require.Equal(t, failpoint.StoreOtherPrecommit, txKind("rewrite history").precommit)
}

// updateWhats returns, for each db.update call in dir's non-test files,
// the constant start of its what argument: a literal, the literal on the
// left of a +, the format of fmt.Sprintf, or what a local variable of the
// function was set to.
func updateWhats(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	fset := token.NewFileSet()
	var whats []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || fn.Name.Name == "update" {
				continue
			}
			locals := map[string]ast.Expr{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
					for i, l := range as.Lhs {
						if id, ok := l.(*ast.Ident); ok {
							locals[id.Name] = as.Rhs[i]
						}
					}
				}
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 3 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "update" {
					return true
				}
				w, ok := constPrefix(call.Args[1], locals)
				require.True(t, ok, "%s: db.update's what has no constant start", fset.Position(call.Pos()))
				whats = append(whats, w)
				return true
			})
		}
	}
	return whats
}

func constPrefix(e ast.Expr, locals map[string]ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		return constPrefix(e.X, locals)
	case *ast.CallExpr:
		if len(e.Args) > 0 {
			return constPrefix(e.Args[0], locals)
		}
	case *ast.Ident:
		if v, ok := locals[e.Name]; ok {
			delete(locals, e.Name) // no loops on what := what
			return constPrefix(v, locals)
		}
	}
	return "", false
}
