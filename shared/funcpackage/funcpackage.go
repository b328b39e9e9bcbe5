// Package funcpackage lays out the Azure Functions app — the script root the
// host runs — and writes its deployment zip.
//
// The Functions host discovers functions one folder below host.json and
// starts the custom handler named by host.json's
// customHandler.description.defaultExecutablePath, resolved against the
// script root (azure-functions-host src/WebJobs.Script/Workers/Http/
// HttpWorkerDescription.cs). The repository keeps its functions under
// functions/<Name>/function.json, so the app is staged:
//
//	host.json
//	idpkeeper                  the handler (linux/amd64 for Azure; host-native, idpkeeper.exe on Windows, locally)
//	<Name>/function.json       one folder per function
//	config/                    the starting config (IDPKEEPER_CONFIG=config/idpkeeper.yaml)
//	examples/                  the demo snapshot (IDPKEEPER_SNAPSHOT=examples/tenant)
//	local.settings.json        local stage only; never zipped
//
// The zip is written here, with archive/zip, rather than by a zip tool or by
// azd: Flex Consumption runs the package as it is unpacked, and the handler
// must carry the executable bit. azd marks files executable only for its
// own Go language (Azure/azure-dev cli/azd/pkg/project/project_utils.go),
// and a zip made on Windows carries no Unix modes at all, so every entry
// here gets an explicit Unix mode (0755 for the handler and folders, 0644
// for the rest), as Core Tools does for defaultExecutablePath
// (Azure/azure-functions-core-tools src/Cli/func/Helpers/ZipHelper.cs).
package funcpackage

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ExecutablePathOverride is the app setting that overrides host.json's
// customHandler.description.defaultExecutablePath (the host reads
// AzureFunctionsJobHost__<path> settings over host.json). The local stage
// sets it to the host-native binary's name in local.settings.json.
const ExecutablePathOverride = "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath"

// Layout says what goes into the script root.
type Layout struct {
	// Repo is the repository root: host.json, functions/, and Folders.
	Repo string
	// Binary is the built handler; it is copied in as BinaryName.
	Binary     string
	BinaryName string
	// Folders are copied in whole (relative to Repo): "config", "examples".
	Folders []string
	// LocalSettings, when set, is written as local.settings.json (local
	// stage only; Zip leaves it out).
	LocalSettings []byte
}

// excluded are never part of the script root's package.
var excluded = map[string]bool{"local.settings.json": true, ".idpkeeper-state": true, "outbox": true}

// Functions lists the function folders of the repository: the folders
// under functions/ that hold a function.json.
func Functions(repo string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(repo, "functions", "*", "function.json"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no functions/*/function.json under %s", repo)
	}
	return names, nil
}

// DefaultExecutable reads customHandler.description.defaultExecutablePath
// from host.json.
func DefaultExecutable(hostJSON []byte) (string, error) {
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(hostJSON, &h); err != nil {
		return "", fmt.Errorf("host.json: %w", err)
	}
	if h.CustomHandler.Description.DefaultExecutablePath == "" {
		return "", errors.New("host.json: customHandler.description.defaultExecutablePath is empty")
	}
	return h.CustomHandler.Description.DefaultExecutablePath, nil
}

// Stage writes the script root into dir, which it empties first.
func Stage(dir string, l Layout) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(l.Repo, "host.json"), filepath.Join(dir, "host.json"), 0o644); err != nil {
		return err
	}
	names, err := Functions(l.Repo)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := copyFile(filepath.Join(l.Repo, "functions", n, "function.json"), filepath.Join(dir, n, "function.json"), 0o644); err != nil {
			return err
		}
	}
	for _, f := range l.Folders {
		if err := copyTree(filepath.Join(l.Repo, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	if l.BinaryName == "" || strings.ContainsAny(l.BinaryName, `/\`) {
		return fmt.Errorf("binary name %q", l.BinaryName)
	}
	if err := copyFile(l.Binary, filepath.Join(dir, l.BinaryName), 0o755); err != nil {
		return err
	}
	if l.LocalSettings != nil {
		if err := os.WriteFile(filepath.Join(dir, "local.settings.json"), l.LocalSettings, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Zip writes the staged script root dir as a deployment zip: entries sorted,
// paths with forward slashes, a fixed timestamp (the same input gives the
// same zip), Unix modes set explicitly — 0755 for folders and for the
// handler named executable, 0644 for everything else — and
// local.settings.json and local state left out.
func Zip(w io.Writer, dir, executable string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if excluded[path.Base(rel)] && !strings.Contains(rel, "/") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link; the package holds files only", rel)
		}
		if d.IsDir() {
			files = append(files, rel+"/")
		} else {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	found := false
	zw := zip.NewWriter(w)
	for _, name := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime}
		switch {
		case strings.HasSuffix(name, "/"):
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
		case name == executable:
			h.SetMode(0o755)
			found = true
		default:
			h.SetMode(0o644)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("the handler %q (host.json defaultExecutablePath) is not in %s", executable, dir)
	}
	return zw.Close()
}

// fixedTime stamps every entry, so that the zip depends on content only.
var fixedTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// LocalSettings returns local.settings.json for a host-native stage: the
// given settings file (the repository's local.settings.json, or the
// sample) with the executable override set to binaryName — which differs
// from host.json's only on Windows (idpkeeper.exe).
func LocalSettings(settings []byte, binaryName string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(settings, &doc); err != nil {
		return nil, fmt.Errorf("local settings: %w", err)
	}
	values, _ := doc["Values"].(map[string]any)
	if values == nil {
		values = map[string]any{}
		doc["Values"] = values
	}
	values[ExecutablePathOverride] = binaryName
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func copyFile(from, to string, mode fs.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		return err
	}
	return os.Chmod(to, mode) // WriteFile keeps an existing file's mode
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(to, rel), 0o644)
	})
}
