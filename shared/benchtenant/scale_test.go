package benchtenant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/benchtenant"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// childEnv makes the test binary a scan in a process of its own: the
// benchmark serves the tenant from the fake in its process and runs the
// scan in a child, so the child's peak RSS, CPU time and allocations are
// the scan's alone, not the fake's.
const childEnv = "IDPKEEPER_SCALE_CHILD"

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		os.Exit(runChild(job))
	}
	os.Exit(m.Run())
}

// childJob is what the benchmark asks the child to do.
type childJob struct {
	Addr   string    `json:"addr"`
	CAFile string    `json:"caFile"`
	Config string    `json:"config"`
	Now    time.Time `json:"now"`
}

// childResult is what the child measured.
type childResult struct {
	Error        string  `json:"error,omitempty"`
	WallSeconds  float64 `json:"wallSeconds"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	PeakRSSMB    float64 `json:"peakRssMB"`
	Mallocs      uint64  `json:"mallocs"`
	AllocMB      float64 `json:"allocMB"`
	Findings     int     `json:"findings"`
	Federations  int     `json:"federations"`
	Secrets      int     `json:"secrets"`
	Gaps         int     `json:"gaps"`
	HTMLMB       float64 `json:"htmlMB"`
	HTMLSeconds  float64 `json:"htmlSeconds"`
	HTMLPeakMB   float64 `json:"htmlPeakRssMB"`
	JSONMB       float64 `json:"jsonMB"`
	ClientStats  string  `json:"clientStats,omitempty"`
	Throttled429 int     `json:"throttled429"`
}

func rusage() (cpu time.Duration, peakMB float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, float64(ru.Maxrss) / 1024 // Linux: kilobytes
}

func runChild(raw string) int {
	var job childJob
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		_ = out.Encode(childResult{Error: err.Error()})
		return 1
	}
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		return fail(err)
	}
	pem, err := os.ReadFile(job.CAFile)
	if err != nil {
		return fail(err)
	}
	transport, err := azurefake.DialTransport(job.Addr, pem)
	if err != nil {
		return fail(err)
	}
	cfg, err := config.Load(job.Config)
	if err != nil {
		return fail(err)
	}
	cpu0, _ := rusage()
	start := time.Now()
	res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Now: job.Now,
		Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: transport}})
	wall := time.Since(start)
	if err != nil {
		return fail(err)
	}
	cpu1, peak := rusage()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := childResult{
		WallSeconds: wall.Seconds(), CPUSeconds: (cpu1 - cpu0).Seconds(), PeakRSSMB: peak,
		Mallocs: ms.Mallocs, AllocMB: float64(ms.TotalAlloc) / (1 << 20),
		Findings: len(res.Findings), Federations: len(res.Inventory.Federations), Secrets: len(res.Inventory.Secrets), Gaps: len(res.Inventory.Gaps),
		ClientStats: scan.Summary(res.Report.Read), Throttled429: res.Read.Throttled(),
	}
	var buf bytes.Buffer
	htmlStart := time.Now()
	if err := report.Write(&buf, res.Report, report.FormatHTML); err != nil {
		return fail(err)
	}
	r.HTMLSeconds = time.Since(htmlStart).Seconds()
	r.HTMLMB = float64(buf.Len()) / (1 << 20)
	_, r.HTMLPeakMB = rusage()
	buf.Reset()
	if err := report.Write(&buf, res.Report, report.FormatJSON); err != nil {
		return fail(err)
	}
	r.JSONMB = float64(buf.Len()) / (1 << 20)
	_ = out.Encode(r)
	return 0
}

// tenants are the benchmark tenants with their config files.
func tenants(b *testing.B) []*benchtenant.Tenant {
	ex, err := benchtenant.Example()
	if err != nil {
		b.Fatal(err)
	}
	_, cfgPath := benchtenant.ExampleFiles()
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	s := &benchtenant.Tenant{Spec: benchtenant.Spec{Name: "S", GraphSize: azurefake.TenantSmall}, Fake: ex, Config: cfg}
	return []*benchtenant.Tenant{s, benchtenant.Generate(benchtenant.M), benchtenant.Generate(benchtenant.L)}
}

// BenchmarkScanScale scans S, M and L served by the fake with Graph's
// latency (40–120 ms per request) and the published throttling limits
// (azurefake.DocumentedLimits), the scan in a child process, and prints one
// line per tenant: wall time, requests (Graph HTTP requests, the requests
// inside them, Key Vault), 429s, the critical path and wall/critical path,
// the child's peak RSS, CPU time and allocations, and the HTML report's
// size.
//
//	make bench-scale
//	go test -run='^$' -bench=ScanScale -benchtime=1x ./shared/benchtenant/
//
// IDPKEEPER_SCALE_TENANTS=S,M limits the tenants; IDPKEEPER_SCALE_EMPTY=1
// starts every bucket empty (another app just used the budget).
func BenchmarkScanScale(b *testing.B) {
	only := os.Getenv("IDPKEEPER_SCALE_TENANTS")
	dir := b.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, azurefake.CAPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	latency := azurefake.Latency{Min: 40 * time.Millisecond, Max: 120 * time.Millisecond}
	const graphPage = 100
	for _, tn := range tenants(b) {
		if only != "" && !strings.Contains(","+only+",", ","+tn.Spec.Name+",") {
			continue
		}
		b.Run(tn.Spec.Name, func(b *testing.B) {
			cfgFile := filepath.Join(dir, tn.Spec.Name+".yaml")
			if err := os.WriteFile(cfgFile, tn.Config, 0o600); err != nil {
				b.Fatal(err)
			}
			srv := azurefake.NewServer(tn.Fake)
			defer srv.Close()
			srv.PageSize = graphPage
			limits := azurefake.DocumentedLimits(tn.Spec.GraphSize)
			limits.StartEmpty = os.Getenv("IDPKEEPER_SCALE_EMPTY") == "1"
			shape := benchtenant.ShapeOf(tn.Fake, graphPage)
			job, _ := json.Marshal(childJob{Addr: srv.Listener.Addr().String(), CAFile: caFile, Config: cfgFile, Now: benchtenant.Base})
			var res childResult
			var st azurefake.Stats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				srv.SetConditions(azurefake.Conditions{Latency: latency, Throttling: &limits, Seed: 15})
				b.StartTimer()
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"="+string(job))
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				b.StopTimer()
				lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
				if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil || res.Error != "" || err != nil {
					b.Fatalf("scan of %s: %v %s\n%s\n%s", tn.Spec.Name, err, res.Error, stdout.String(), stderr.String())
				}
				st = srv.Stats()
				b.StartTimer()
			}
			b.StopTimer()
			served := map[string]float64{}
			graphInner, kv, throttled := 0, 0, 0
			var families []string
			for f, fs := range st.Families {
				served[f] = fs.Cost
				throttled += fs.Throttled
				switch {
				case strings.HasPrefix(f, azurefake.FamilyKeyVaultPrefix):
					kv += fs.Requests
				default:
					graphInner += fs.Requests
				}
				families = append(families, fmt.Sprintf("%s=%d/%d", f, fs.Requests, fs.Throttled))
			}
			sort.Strings(families)
			cp := benchtenant.CriticalPath(shape, latency.Mean(), &limits, served)
			graphHTTP := st.HTTPRequests[azurefake.ServiceGraph]
			ratio := res.WallSeconds / cp.Seconds()
			b.ReportMetric(res.WallSeconds, "wall-s")
			b.ReportMetric(cp.Seconds(), "critical-s")
			b.ReportMetric(ratio, "wall/critical")
			b.ReportMetric(float64(graphHTTP), "graph-http")
			b.ReportMetric(float64(graphInner), "graph-requests")
			b.ReportMetric(float64(kv), "kv-requests")
			b.ReportMetric(float64(throttled), "429s")
			b.ReportMetric(res.PeakRSSMB, "peak-rss-MB")
			b.ReportMetric(res.CPUSeconds, "cpu-s")
			b.ReportMetric(float64(res.Mallocs), "allocs")
			b.ReportMetric(res.AllocMB, "alloc-MB")
			fmt.Printf("scale %s: wall %.2fs critical %.2fs ratio %.2f | graph %d http, %d requests | keyvault %d | 429s %d (scan saw %d) | peak RSS %.0f MB (html %.0f MB) | cpu %.2fs | allocs %d (%.0f MB) | findings %d | html %.2f MB in %.2fs, json %.2f MB | %s\n",
				tn.Spec.Name, res.WallSeconds, cp.Seconds(), ratio, graphHTTP, graphInner, kv, throttled, res.Throttled429, res.PeakRSSMB, res.HTMLPeakMB, res.CPUSeconds,
				res.Mallocs, res.AllocMB, res.Findings, res.HTMLMB, res.HTMLSeconds, res.JSONMB, strings.Join(families, " "))
			if res.ClientStats != "" {
				fmt.Printf("scale %s: scan: %s\n", tn.Spec.Name, res.ClientStats)
			}
		})
	}
}
