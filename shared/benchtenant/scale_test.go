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
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
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
	// Timer runs what ScanTimer runs (pipeline.ScanAndQueue: scan, last
	// good metadata per partner, report and secret index stored, jobs
	// queued) with its state in the folder State.
	Timer bool   `json:"timer,omitempty"`
	State string `json:"state,omitempty"`
	// NoBatch sends Graph's reads one by one (to see what batching saves).
	NoBatch bool `json:"noBatch,omitempty"`
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
	Jobs         int     `json:"jobs"`
	ReadSeconds  float64 `json:"readSeconds"`
	// MaxHeapMB is the largest heap in use seen (sampled every 10 ms):
	// what the scan holds, against the RSS the runtime keeps around it.
	MaxHeapMB float64 `json:"maxHeapMB"`
}

// heapSampler follows the heap in use until stop is called.
func heapSampler() (stop func() float64) {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		return float64(<-result) / (1 << 20)
	}
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
	src := scan.Source{Credential: tenant.StaticCredential{}, Transport: transport}
	if job.Timer {
		return runTimerChild(out, cfg, src, job)
	}
	cpu0, _ := rusage()
	heap := heapSampler()
	start := time.Now()
	var res scan.Result
	t, err := scan.OpenContext(context.Background(), cfg, src)
	if err == nil {
		t.Reader.NoBatch = job.NoBatch
		res, err = t.Scan(context.Background(), cfg, job.Now, nil, nil)
	}
	wall := time.Since(start)
	maxHeap := heap()
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
		ClientStats: scan.Summary(res.Report.Read), Throttled429: res.Read.Throttled(), MaxHeapMB: maxHeap,
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
// starts every bucket empty (another app just used the budget);
// IDPKEEPER_SCALE_NOBATCH=1 sends Graph's reads one by one.
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
			job, _ := json.Marshal(childJob{Addr: srv.Listener.Addr().String(), CAFile: caFile, Config: cfgFile, Now: benchtenant.Base,
				NoBatch: os.Getenv("IDPKEEPER_SCALE_NOBATCH") == "1"})
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
			b.ReportMetric(res.MaxHeapMB, "heap-MB")
			b.ReportMetric(res.CPUSeconds, "cpu-s")
			b.ReportMetric(float64(res.Mallocs), "allocs")
			b.ReportMetric(res.AllocMB, "alloc-MB")
			fmt.Printf("scale %s: wall %.2fs critical %.2fs ratio %.2f | graph %d http, %d requests | keyvault %d | 429s %d (scan saw %d) | peak RSS %.0f MB (heap %.0f MB; with html %.0f MB) | cpu %.2fs | allocs %d (%.0f MB) | findings %d | html %.2f MB in %.2fs, json %.2f MB | %s\n",
				tn.Spec.Name, res.WallSeconds, cp.Seconds(), ratio, graphHTTP, graphInner, kv, throttled, res.Throttled429, res.PeakRSSMB, res.MaxHeapMB, res.HTMLPeakMB, res.CPUSeconds,
				res.Mallocs, res.AllocMB, res.Findings, res.HTMLMB, res.HTMLSeconds, res.JSONMB, strings.Join(families, " "))
			if res.ClientStats != "" {
				fmt.Printf("scale %s: scan: %s\n", tn.Spec.Name, res.ClientStats)
			}
		})
	}
}

// runTimerChild runs the ScanTimer use case once: a fresh scan, the
// partners' last good metadata from the state folder, the report and the
// secret index stored there, the jobs queued (in process).
func runTimerChild(out *json.Encoder, cfg *config.Config, src scan.Source, job childJob) int {
	state := statestore.Dir{Root: job.State}
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	p := &pipeline.Pipeline{Config: cfg, Source: src, Sender: queue, State: state,
		Metadata: scan.StateMetadataStore{State: state}, Now: func() time.Time { return job.Now }}
	cpu0, _ := rusage()
	heap := heapSampler()
	start := time.Now()
	res, queued, err := p.ScanAndQueue(context.Background(), "bench")
	wall := time.Since(start)
	maxHeap := heap()
	if err != nil {
		_ = out.Encode(childResult{Error: err.Error()})
		return 1
	}
	cpu1, peak := rusage()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_ = out.Encode(childResult{
		WallSeconds: wall.Seconds(), CPUSeconds: (cpu1 - cpu0).Seconds(), PeakRSSMB: peak,
		Mallocs: ms.Mallocs, AllocMB: float64(ms.TotalAlloc) / (1 << 20),
		Findings: len(res.Findings), Federations: len(res.Inventory.Federations), Secrets: len(res.Inventory.Secrets),
		ClientStats: scan.Summary(res.Report.Read), Throttled429: res.Read.Throttled(), Jobs: len(queued), ReadSeconds: res.Read.Duration.Seconds(),
		MaxHeapMB: maxHeap,
	})
	return 0
}

// BenchmarkScanTimerScale runs what the ScanTimer function runs for M and
// L (pipeline.ScanAndQueue, its state in a folder, jobs queued in process)
// against the same fake, and prints one line per tenant: its wall time
// against host.json's functionTimeout.
//
//	go test -run='^$' -bench=ScanTimerScale -benchtime=1x ./shared/benchtenant/
func BenchmarkScanTimerScale(b *testing.B) {
	host, err := os.ReadFile(filepath.Join(repoRoot(), "host.json"))
	if err != nil {
		b.Fatal(err)
	}
	var hj struct {
		FunctionTimeout string `json:"functionTimeout"`
	}
	if err := json.Unmarshal(host, &hj); err != nil {
		b.Fatal(err)
	}
	var h, m, sec int
	if _, err := fmt.Sscanf(hj.FunctionTimeout, "%d:%d:%d", &h, &m, &sec); err != nil {
		b.Fatalf("host.json functionTimeout %q: %v", hj.FunctionTimeout, err)
	}
	timeout := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	dir := b.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, azurefake.CAPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	only := os.Getenv("IDPKEEPER_SCALE_TENANTS")
	latency := azurefake.Latency{Min: 40 * time.Millisecond, Max: 120 * time.Millisecond}
	for _, tn := range tenants(b)[1:] {
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
			srv.PageSize = 100
			limits := azurefake.DocumentedLimits(tn.Spec.GraphSize)
			limits.StartEmpty = os.Getenv("IDPKEEPER_SCALE_EMPTY") == "1"
			var res childResult
			for i := 0; i < b.N; i++ {
				srv.SetConditions(azurefake.Conditions{Latency: latency, Throttling: &limits, Seed: 15})
				job, _ := json.Marshal(childJob{Addr: srv.Listener.Addr().String(), CAFile: caFile, Config: cfgFile, Now: benchtenant.Base,
					Timer: true, State: filepath.Join(dir, fmt.Sprintf("%s-state-%d", tn.Spec.Name, i))})
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"="+string(job))
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
				if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil || res.Error != "" || err != nil {
					b.Fatalf("timer scan of %s: %v %s\n%s\n%s", tn.Spec.Name, err, res.Error, stdout.String(), stderr.String())
				}
			}
			b.ReportMetric(res.WallSeconds, "wall-s")
			b.ReportMetric(res.WallSeconds/timeout.Seconds(), "of-functionTimeout")
			b.ReportMetric(res.PeakRSSMB, "peak-rss-MB")
			b.ReportMetric(res.MaxHeapMB, "heap-MB")
			b.ReportMetric(res.CPUSeconds, "cpu-s")
			b.ReportMetric(float64(res.Jobs), "jobs")
			fmt.Printf("scantimer %s: wall %.2fs (read %.2fs) of functionTimeout %s (%.0f%%) | jobs queued %d | findings %d | peak RSS %.0f MB (heap %.0f MB) | cpu %.2fs | allocs %d (%.0f MB) | %s\n",
				tn.Spec.Name, res.WallSeconds, res.ReadSeconds, timeout, 100*res.WallSeconds/timeout.Seconds(), res.Jobs, res.Findings, res.PeakRSSMB, res.MaxHeapMB, res.CPUSeconds, res.Mallocs, res.AllocMB, res.ClientStats)
		})
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
