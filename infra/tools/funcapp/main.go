// Command funcapp builds, stages and packages the IdP Keeper Functions app,
// and runs the azd hooks of azure.yaml. It is Go so that it behaves the same
// from macOS, Linux and Windows (azd runs hooks with sh or PowerShell, and a
// zip written on Windows would lose the handler's executable bit).
//
//	go run ./infra/tools/funcapp stage   [-dir build/app]                 linux/amd64 script root (what Azure runs)
//	go run ./infra/tools/funcapp stage   -native [-dir build/local]       host-native script root for `func start`
//	go run ./infra/tools/funcapp package [-o build/idpkeeper.zip]         the deployment zip azd deploys
//	go run ./infra/tools/funcapp postdeploy                               azd hook: Ack URL, second provision
//	go run ./infra/tools/funcapp postdown                                 azd hook: fresh vault name, reset phase
//
// Run it from the repository root (azd runs hooks there).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/funcpackage"
)

// folders are copied into the script root next to the functions.
var folders = []string{"config", "examples"}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: funcapp stage|package|postdeploy|postdown [flags]")
		return 2
	}
	repo, err := repoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "funcapp:", err)
		return 2
	}
	var cmdErr error
	switch args[0] {
	case "stage":
		fs := flag.NewFlagSet("stage", flag.ContinueOnError)
		native := fs.Bool("native", false, "build for this machine (local runs) instead of linux/amd64 (Azure)")
		dir := fs.String("dir", "", "script root to write (default build/app, or build/local with -native)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *dir == "" {
			*dir = filepath.Join("build", map[bool]string{true: "local", false: "app"}[*native])
		}
		cmdErr = stage(ctx, repo, *dir, *native, stdout)
	case "package":
		fs := flag.NewFlagSet("package", flag.ContinueOnError)
		out := fs.String("o", filepath.Join("build", "idpkeeper.zip"), "zip to write")
		dir := fs.String("dir", filepath.Join("build", "deploy"), "script root staged on the way")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		cmdErr = pack(ctx, repo, *dir, *out, stdout)
	case "postdeploy":
		cmdErr = postdeploy(ctx, osEnv{}, execRunner{stdout: stdout, stderr: stderr}, stdout)
	case "postdown":
		cmdErr = postdown(ctx, osEnv{}, execRunner{stdout: stdout, stderr: stderr}, stdout)
	default:
		fmt.Fprintf(stderr, "funcapp: unknown command %q\n", args[0])
		return 2
	}
	if cmdErr != nil {
		fmt.Fprintln(stderr, "funcapp "+args[0]+":", cmdErr)
		return 1
	}
	return 0
}

// repoRoot is the nearest folder above the working directory holding
// go.mod and host.json.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if exists(filepath.Join(dir, "go.mod")) && exists(filepath.Join(dir, "host.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from the IdP Keeper repository (no go.mod and host.json above %s)", dir)
		}
		dir = parent
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// target is what the handler is built for.
type target struct{ goos, goarch string }

// azure is what Flex Consumption runs: Linux only, x64.
var azure = target{"linux", "amd64"}

func native() target { return target{runtime.GOOS, runtime.GOARCH} }

// binaryName is the handler's file name for t: host.json's
// defaultExecutablePath, plus .exe on Windows (which the host does not add:
// HttpWorkerDescription resolves the exact file name).
func binaryName(defaultExecutable string, t target) string {
	if t.goos == "windows" && !strings.HasSuffix(strings.ToLower(defaultExecutable), ".exe") {
		return defaultExecutable + ".exe"
	}
	return defaultExecutable
}

// buildArgs is the go build of the handler for t: static (no cgo), no
// local paths or symbols in the binary.
func buildArgs(out string) []string {
	return []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./functions"}
}

func buildEnv(t target) []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.goos, "GOARCH="+t.goarch)
}

func build(ctx context.Context, repo string, t target, stdout io.Writer) (string, error) {
	tmp, err := os.MkdirTemp("", "idpkeeper-build-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "idpkeeper")
	cmd := exec.CommandContext(ctx, "go", buildArgs(out)...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = repo, buildEnv(t), stdout, os.Stderr
	fmt.Fprintf(stdout, "building the handler for %s/%s\n", t.goos, t.goarch)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return out, nil
}

func layout(ctx context.Context, repo string, t target, stdout io.Writer) (funcpackage.Layout, func(), error) {
	host, err := os.ReadFile(filepath.Join(repo, "host.json"))
	if err != nil {
		return funcpackage.Layout{}, nil, err
	}
	exe, err := funcpackage.DefaultExecutable(host)
	if err != nil {
		return funcpackage.Layout{}, nil, err
	}
	bin, err := build(ctx, repo, t, stdout)
	if err != nil {
		return funcpackage.Layout{}, nil, err
	}
	cleanup := func() { os.RemoveAll(filepath.Dir(bin)) }
	return funcpackage.Layout{Repo: repo, Binary: bin, BinaryName: binaryName(exe, t), Folders: folders}, cleanup, nil
}

func stage(ctx context.Context, repo, dir string, nativeBuild bool, stdout io.Writer) error {
	t := azure
	if nativeBuild {
		t = native()
	}
	l, cleanup, err := layout(ctx, repo, t, stdout)
	if err != nil {
		return err
	}
	defer cleanup()
	if nativeBuild {
		// local.settings.json: the repository's, or the sample; the
		// executable override names this machine's binary.
		src := filepath.Join(repo, "local.settings.json")
		if !exists(src) {
			src = filepath.Join(repo, "local.settings.sample.json")
		}
		settings, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if l.LocalSettings, err = funcpackage.LocalSettings(settings, l.BinaryName); err != nil {
			return err
		}
	}
	if err := funcpackage.Stage(abs(repo, dir), l); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "staged %s (%s/%s handler %s)\n", dir, t.goos, t.goarch, l.BinaryName)
	if nativeBuild {
		fmt.Fprintf(stdout, "run: func start --script-root %s\n", dir)
	}
	return nil
}

func pack(ctx context.Context, repo, dir, out string, stdout io.Writer) error {
	l, cleanup, err := layout(ctx, repo, azure, stdout)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := funcpackage.Stage(abs(repo, dir), l); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := funcpackage.Zip(&buf, abs(repo, dir), l.BinaryName); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(abs(repo, out)), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(abs(repo, out), buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes; %s mode 0755)\n", out, buf.Len(), l.BinaryName)
	return nil
}

func abs(repo, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(repo, p)
}
