package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/replicator"
	"github.com/p2psync/libp2psync/engine/syncproto"
	"github.com/p2psync/libp2psync/engine/tlsid"
)

// TestEverySentinelMapped parses every engine package that capi imports and fails if
// one of its exported sentinels (var ErrX = errors.New("...")) has no row in statusFor.
func TestEverySentinelMapped(t *testing.T) {
	mapped := map[string]bool{}
	for _, e := range statusFor {
		mapped[e.target.Error()] = true
	}
	const module = "github.com/p2psync/libp2psync/"
	checked := 0
	for _, pkg := range importedEnginePackages(t, module) {
		dir := filepath.Join("..", strings.TrimPrefix(pkg, module))
		for name, msg := range sentinels(t, dir) {
			checked++
			if !mapped[msg] {
				t.Errorf("%s.%s (%q) has no row in statusFor (capi/errors.go)", filepath.Base(dir), name, msg)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no engine sentinels at all: the parser is not looking in the right place")
	}
}

func importedEnginePackages(t *testing.T, module string) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var pkgs []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module+"engine/") && !seen[path] {
				seen[path] = true
				pkgs = append(pkgs, path)
			}
		}
	}
	return pkgs
}

// sentinels returns name -> message of the package-level `ErrX = errors.New("msg")`.
func sentinels(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, file := range pkg.Files {
			for _, decl := range file.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.VAR {
					continue
				}
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !strings.HasPrefix(name.Name, "Err") || !name.IsExported() || i >= len(vs.Values) {
							continue
						}
						if sel, ok := vs.Values[i].(*ast.SelectorExpr); ok {
							// A re-export (ErrX = otherpkg.ErrY) is the same value as the
							// sentinel it names: check that one's message instead.
							if msg, ok := reexported(t, file, sel); ok {
								out[name.Name] = msg
								continue
							}
						}
						call, ok := vs.Values[i].(*ast.CallExpr)
						if !ok || len(call.Args) != 1 {
							t.Errorf("%s: sentinel %s is not errors.New(\"...\"); map it by hand and extend this test", dir, name.Name)
							continue
						}
						lit, ok := call.Args[0].(*ast.BasicLit)
						if !ok {
							t.Errorf("%s: sentinel %s has a non-literal message", dir, name.Name)
							continue
						}
						out[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	return out
}

// reexported resolves `otherpkg.ErrY` (otherpkg an engine package imported by file) to
// the message of that package's sentinel.
func reexported(t *testing.T, file *ast.File, sel *ast.SelectorExpr) (string, bool) {
	t.Helper()
	pkgIdent, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	const module = "github.com/p2psync/libp2psync/"
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := filepath.Base(path)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name != pkgIdent.Name || !strings.HasPrefix(path, module+"engine/") {
			continue
		}
		msg, ok := sentinels(t, filepath.Join("..", strings.TrimPrefix(path, module)))[sel.Sel.Name]
		return msg, ok
	}
	return "", false
}

// TestEveryHeaderCodeHasARow fails when include/p2psync.h defines a P2P_ERR_* code that
// no row of statusFor produces, so that Go, the header and the bindings (whose tests
// check the same header) know the same codes.
func TestEveryHeaderCodeHasARow(t *testing.T) {
	header, err := os.ReadFile(filepath.Join("..", "include", "p2psync.h"))
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[int32]bool{}
	for _, e := range statusFor {
		inTable[int32(e.status)] = true
	}
	defines := regexp.MustCompile(`(?m)^#define (P2P_ERR_\w+)\s+(-\d+)`).FindAllStringSubmatch(string(header), -1)
	if len(defines) < 20 {
		t.Fatalf("found %d P2P_ERR_* codes in the header: the pattern is wrong", len(defines))
	}
	for _, d := range defines {
		code, _ := strconv.Atoi(d[2])
		if !inTable[int32(code)] {
			t.Errorf("%s (%d) has no row in statusFor (capi/errors.go)", d[1], code)
		}
	}
}

// TestCodesGroupByPrimary holds the header's code scheme: a primary code is -1..-255, an
// extended code is -(primary | n<<8) of a primary code the header defines, and no two
// codes share a value.
func TestCodesGroupByPrimary(t *testing.T) {
	header, err := os.ReadFile(filepath.Join("..", "include", "p2psync.h"))
	if err != nil {
		t.Fatal(err)
	}
	defines := regexp.MustCompile(`(?m)^#define (P2P_ERR_\w+)\s+(-\d+)`).FindAllStringSubmatch(string(header), -1)
	byCode := map[int]string{}
	for _, d := range defines {
		code, _ := strconv.Atoi(d[2])
		if other, dup := byCode[code]; dup {
			t.Errorf("%s and %s share the code %d", d[1], other, code)
		}
		byCode[code] = d[1]
	}
	extended := 0
	for code, name := range byCode {
		if -code <= 0xff {
			continue
		}
		extended++
		primary := -(-code & 0xff)
		if _, ok := byCode[primary]; !ok {
			t.Errorf("%s (%d) refines primary code %d, which the header does not define", name, code, primary)
		}
	}
	for name, want := range map[string]string{"P2P_ERR_TLS_EXPIRED": "P2P_ERR_TLS", "P2P_ERR_TLS_PIN_MISMATCH": "P2P_ERR_TLS", "P2P_ERR_WRONG_PASSWORD": "P2P_ERR_AUTH"} {
		for code, n := range byCode {
			if n == name && byCode[-(-code&0xff)] != want {
				t.Errorf("%s: primary is %s, want %s", name, byCode[-(-code&0xff)], want)
			}
		}
	}
	if extended < 7 {
		t.Fatalf("found %d extended codes, want at least 7 (the TLS family and WRONG_PASSWORD)", extended)
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int32
	}{
		{"invalid argument", fmt.Errorf("%w: path is NULL", errInvalidArgument), -1},
		{"wrapped twice", fmt.Errorf("open: %w", fmt.Errorf("%w: x", errInvalidHandle)), -2},
		{"busy", errBusy, -5},
		{"cancelled", fmt.Errorf("wait: %w", context.Canceled), -12},
		{"timeout", context.DeadlineExceeded, -13},
		{"unsupported", errUnsupported, -14},
		{"unknown error is internal", errors.New("surprise"), -99},
		{"forked (produced in C, known here too)", errForked, -22},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := int32(statusOf(tt.err)); got != tt.want {
				t.Fatalf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestPeerAndSecurityErrors(t *testing.T) {
	pinned := fmt.Errorf("%w: %w", replicator.ErrTLS, tlsid.ErrPinMismatch)
	refused := fmt.Errorf("%w: %w", replicator.ErrUnauthorized, &blip.HTTPError{Status: 401})
	tests := []struct {
		name              string
		err               error
		status, dom, code int32
	}{
		{"pin mismatch beats the generic TLS failure", pinned, -1033, 1, -1033},
		{"untrusted", tlsid.ErrUntrustedCertificate, -265, 1, -265},
		{"client certificate refused", tlsid.ErrClientCertUntrusted, -1289, 1, -1289},
		{"wrong keystore password", fmt.Errorf("open keystore: %w", tlsid.ErrWrongPassword), -266, 1, -266},
		{"401 keeps the HTTP status", refused, -10, 4, 401},
		{"403 without a sentinel", &blip.HTTPError{Status: 403}, -10, 4, 403},
		{"404 upgrade", &blip.HTTPError{Status: 404}, -3, 4, 404},
		{"503 is retried network trouble", &blip.HTTPError{Status: 503}, -8, 4, 503},
		{"policy close is a protocol error", &blip.CloseError{Code: 1008, Remote: true}, -11, 4, 1008},
		{"listener going away", &blip.CloseError{Code: 4001, Remote: true}, -8, 4, 4001},
		{"per-document conflict", &syncproto.DocError{Domain: "HTTP", Code: 409}, -4, 4, 409},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), -8, 2, int32(syscall.ECONNREFUSED)},
		{"port in use", fmt.Errorf("listen: %w", syscall.EADDRINUSE), -6, 2, int32(syscall.EADDRINUSE)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorObject(tt.err)
			if e.Status != tt.status || e.Domain != tt.dom || e.Code != tt.code {
				t.Fatalf("errorObject(%v) = {status %d, domain %d, code %d}, want {%d, %d, %d}",
					tt.err, e.Status, e.Domain, e.Code, tt.status, tt.dom, tt.code)
			}
		})
	}
	if errorObject(nil) != nil {
		t.Fatal("errorObject(nil) is not nil")
	}
}
