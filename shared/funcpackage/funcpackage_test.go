package funcpackage_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/funcpackage"
)

const repo = "../.."

// stageRepo stages this repository's app with a stand-in handler binary
// (the layout and modes do not depend on what the binary contains).
func stageRepo(t *testing.T, local []byte) (string, string) {
	t.Helper()
	host, err := os.ReadFile(filepath.Join(repo, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	exe, err := funcpackage.DefaultExecutable(host)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "built")
	os.WriteFile(bin, []byte("\x7fELF stand-in"), 0o600) // a build leaves whatever mode
	dir := filepath.Join(t.TempDir(), "app")
	l := funcpackage.Layout{Repo: repo, Binary: bin, BinaryName: exe, Folders: []string{"config", "examples"}, LocalSettings: local}
	if err := funcpackage.Stage(dir, l); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

// The deployment zip: host.json at the root, one folder per function with
// its function.json, the handler at the root with mode 0755 and a Unix
// "made by" (so Linux keeps the bit, even when zipped on Windows), the
// config and examples, and no local settings or state.
func TestZipLayoutAndModes(t *testing.T) {
	dir, exe := stageRepo(t, []byte(`{"Values":{}}`))
	os.MkdirAll(filepath.Join(dir, ".idpkeeper-state"), 0o755)
	os.WriteFile(filepath.Join(dir, ".idpkeeper-state", "x.json"), []byte("{}"), 0o644)
	var buf bytes.Buffer
	if err := funcpackage.Zip(&buf, dir, exe); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
		if strings.Contains(f.Name, `\`) || strings.HasPrefix(f.Name, "/") || strings.Contains(f.Name, "..") {
			t.Errorf("entry %q is not a clean relative path", f.Name)
		}
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%s: made by %d, want 3 (Unix) so unzip applies the mode", f.Name, f.CreatorVersion>>8)
		}
		want := fs.FileMode(0o644)
		switch {
		case strings.HasSuffix(f.Name, "/"):
			want = fs.ModeDir | 0o755
		case f.Name == exe:
			want = 0o755
		}
		if got := f.Mode(); got != want {
			t.Errorf("%s: mode %v, want %v", f.Name, got, want)
		}
	}
	functions, _ := funcpackage.Functions(repo)
	if len(functions) != 9 {
		t.Fatalf("functions %v", functions)
	}
	for _, name := range append([]string{"host.json", exe, "config/idpkeeper.yaml", "examples/tenant/snapshot.json"}, prefix(functions, "/function.json")...) {
		if entries[name] == nil {
			t.Errorf("the zip has no %s", name)
		}
	}
	for name := range entries {
		if strings.Contains(name, "local.settings.json") || strings.HasPrefix(name, ".idpkeeper-state") {
			t.Errorf("the zip carries %s", name)
		}
		// Functions are discovered one folder below host.json: every
		// function.json must sit exactly there.
		if strings.HasSuffix(name, "function.json") && strings.Count(name, "/") != 1 {
			t.Errorf("%s is not one folder below host.json", name)
		}
	}
	// The handler's bytes are the built binary's.
	rc, _ := entries[exe].Open()
	var got bytes.Buffer
	got.ReadFrom(rc)
	rc.Close()
	if got.String() != "\x7fELF stand-in" {
		t.Error("the handler in the zip is not the built binary")
	}

	// Same input, same zip.
	var again bytes.Buffer
	funcpackage.Zip(&again, dir, exe)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("zipping the same folder twice gave different bytes")
	}
	// A stage without the handler is refused rather than deployed.
	os.Remove(filepath.Join(dir, exe))
	if err := funcpackage.Zip(&bytes.Buffer{}, dir, exe); err == nil {
		t.Error("a package without the handler was written")
	}
}

func prefix(names []string, suffix string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+suffix)
	}
	sort.Strings(out)
	return out
}

// The local stage names this machine's binary in local.settings.json, over
// host.json's linux name: idpkeeper.exe on Windows.
func TestLocalSettingsOverrideTheExecutable(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(repo, "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := funcpackage.LocalSettings(sample, "idpkeeper.exe")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Values map[string]string }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Values[funcpackage.ExecutablePathOverride] != "idpkeeper.exe" || doc.Values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Errorf("values %v", doc.Values)
	}
	dir, exe := stageRepo(t, out)
	if info, err := os.Stat(filepath.Join(dir, exe)); err != nil || info.Mode().Perm()&0o100 == 0 {
		t.Errorf("the staged handler is not executable: %v %v", info, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "local.settings.json")); !bytes.Equal(data, out) {
		t.Error("the local stage has not the local settings")
	}
}
