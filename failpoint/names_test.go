package failpoint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listedConsts parses names.go: every constant of type Name, by
// identifier, with its value; it fails on one without a doc comment.
func listedConsts(t *testing.T) map[string]Name {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "names.go", nil, parser.ParseComments)
	require.NoError(t, err)
	out := map[string]Name{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Name" {
				continue
			}
			require.NotNil(t, vs.Doc, "%s has no comment saying what step it interrupts", vs.Names[0].Name)
			for i, n := range vs.Names {
				v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				require.NoError(t, err)
				out[n.Name] = Name(v)
			}
		}
	}
	return out
}

// TestNamesListedOnce: the constants in names.go and the list all are the
// same names, each once.
func TestNamesListedOnce(t *testing.T) {
	consts := listedConsts(t)
	seen := map[Name]bool{}
	for _, n := range All() {
		require.False(t, seen[n], "%s listed twice", n)
		seen[n] = true
	}
	values := map[Name]string{}
	for id, v := range consts {
		other, dup := values[v]
		require.False(t, dup, "%s and %s are both %q", id, other, v)
		values[v] = id
		require.True(t, seen[v], "%s (%q) is missing from all", id, v)
	}
	require.Len(t, seen, len(consts))
	require.True(t, Listed(StoreApplyBlockCommitted))
	require.False(t, Listed("store-apply-blok-committed"))
}

// dynamicInjects are the files allowed to pass a computed Name to Inject:
// the store maps each transaction to listed names (its own test checks
// every db.update call), and a failpoints build panics on anything else.
var dynamicInjects = map[string]bool{"store/failpoint.go": true}

// TestInjectNamesListed reads every Go file of the module: each call of
// failpoint.Inject must name a listed constant (failpoint.X), never a
// string or a conversion, so a typo cannot make a point that never fires.
func TestInjectNamesListed(t *testing.T) {
	bad, calls := injectProblems(t, "..", listedConsts(t))
	require.Empty(t, bad)
	require.GreaterOrEqual(t, calls, 10, "the module injects at its points")

	// The refusals, on a file written for the purpose.
	dir := t.TempDir()
	src := `package x

import "github.com/custos-reserve/custos/failpoint"

func f(n failpoint.Name) {
	failpoint.Inject(failpoint.StoreApplyBlockCommitted)
	failpoint.Inject("store-apply-blok-committed")
	failpoint.Inject(failpoint.Name("store-apply-block-committed"))
	failpoint.Inject(failpoint.NoSuchPoint)
	failpoint.Inject(n)
}
`
	require.NoError(t, writeFile(filepath.Join(dir, "x.go"), src))
	bad, calls = injectProblems(t, dir, listedConsts(t))
	require.Equal(t, 5, calls)
	require.Len(t, bad, 4, "%v", bad)
}

// injectProblems walks root's .go files and returns one line per Inject
// call that does not name a listed constant, and the number of calls.
func injectProblems(t *testing.T, root string, consts map[string]Name) ([]string, int) {
	t.Helper()
	var bad []string
	calls := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "failpoint") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Inject" {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "failpoint" {
				return true
			}
			calls++
			if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
				if pkg, ok := arg.X.(*ast.Ident); ok && pkg.Name == "failpoint" {
					if _, listed := consts[arg.Sel.Name]; listed {
						return true
					}
				}
			}
			if dynamicInjects[filepath.ToSlash(rel)] {
				if _, lit := call.Args[0].(*ast.BasicLit); !lit {
					if _, conv := call.Args[0].(*ast.CallExpr); !conv {
						return true
					}
				}
			}
			bad = append(bad, fset.Position(call.Pos()).String()+": Inject does not name a listed failpoint constant")
			return true
		})
		return nil
	})
	require.NoError(t, err)
	return bad, calls
}
