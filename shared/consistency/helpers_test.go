package consistency

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// root is the repository root (the folder holding go.mod), or
// $CONSISTENCY_ROOT — a copy of the tree to try a drift on.
var root = sync.OnceValue(func() string {
	if dir := os.Getenv("CONSISTENCY_ROOT"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("consistency: no go.mod above the test directory")
		}
		dir = parent
	}
})

// read returns a repository file's text, failing the test when it is absent.
func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return string(b)
}

// readJSON decodes a repository JSON file into v.
func readJSON(t *testing.T, rel string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(read(t, rel)), v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// exists reports whether a repository path exists.
func exists(rel string) bool {
	_, err := os.Stat(filepath.Join(root(), filepath.FromSlash(rel)))
	return err == nil
}

// ---------------------------------------------------------------- functions

type binding map[string]any

func (b binding) str(key string) string {
	for k, v := range b {
		if strings.EqualFold(k, key) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

type function struct {
	Name     string
	Path     string
	Bindings []binding
}

// trigger returns the function's one trigger binding (type ending in "Trigger").
func (f function) trigger() binding {
	for _, b := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(b.str("type")), "trigger") {
			return b
		}
	}
	return nil
}

// functions reads every functions/<Name>/function.json.
func functions(t *testing.T) []function {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root(), "functions", "*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatal("no functions/*/function.json found")
	}
	var out []function
	for _, m := range matches {
		rel, _ := filepath.Rel(root(), m)
		rel = filepath.ToSlash(rel)
		var doc struct {
			Bindings []binding `json:"bindings"`
		}
		readJSON(t, rel, &doc)
		out = append(out, function{Name: filepath.Base(filepath.Dir(m)), Path: rel, Bindings: doc.Bindings})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var settingRef = regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_]*)%`)

// settingRefs returns the app settings a string value refers to as %NAME%.
func settingRefs(s string) []string {
	var out []string
	for _, m := range settingRef.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// resolve replaces a whole-value %NAME% by the local sample's value.
func resolve(t *testing.T, value string, local map[string]string, where string) string {
	t.Helper()
	refs := settingRefs(value)
	if len(refs) == 0 {
		return value
	}
	if value != "%"+refs[0]+"%" {
		t.Fatalf("%s: %q mixes text and a %%setting%%; expected exactly %%NAME%%", where, value)
	}
	v, ok := local[refs[0]]
	if !ok {
		t.Fatalf("%s refers to %%%s%%, which local.settings.sample.json does not set", where, refs[0])
	}
	return v
}

// localSettings returns local.settings.sample.json's Values.
func localSettings(t *testing.T) map[string]string {
	t.Helper()
	var doc struct {
		Values map[string]string `json:"Values"`
	}
	readJSON(t, "local.settings.sample.json", &doc)
	return doc.Values
}

// ---------------------------------------------------------------- Bicep (as text)

// stripBicepComments removes // and /* */ comments outside strings, so
// commented-out names never count.
func stripBicepComments(src string) string {
	var b strings.Builder
	inString, lineComment, blockComment := false, false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case lineComment:
			if c == '\n' {
				lineComment = false
				b.WriteByte(c)
			}
		case blockComment:
			if c == '*' && i+1 < len(src) && src[i+1] == '/' {
				blockComment = false
				i++
			} else if c == '\n' {
				b.WriteByte(c)
			}
		case inString:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(src) {
				b.WriteByte(src[i+1])
				i++
			} else if c == '\'' {
				inString = false
			}
		case c == '\'':
			inString = true
			b.WriteByte(c)
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			lineComment = true
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			blockComment = true
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// bicep reads an infra file without its comments.
func bicep(t *testing.T, rel string) string {
	t.Helper()
	return stripBicepComments(read(t, rel))
}

// block returns the text between the brace (or bracket) that follows the
// first match of re and its partner; strings are skipped.
func block(t *testing.T, src string, re *regexp.Regexp, where string) string {
	t.Helper()
	loc := re.FindStringIndex(src)
	if loc == nil {
		t.Fatalf("%s: no match for %s", where, re)
	}
	start := -1
	for i := loc[1] - 1; i < len(src); i++ {
		if src[i] == '{' || src[i] == '[' {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s: no block after %s", where, re)
	}
	depth, inString := 0, false
	for i := start; i < len(src); i++ {
		c := src[i]
		if inString {
			if c == '\'' {
				inString = false
			}
			continue
		}
		switch c {
		case '\'':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return src[start+1 : i]
			}
		}
	}
	t.Fatalf("%s: unbalanced block after %s", where, re)
	return ""
}

var quoted = regexp.MustCompile(`'([^'\\]*)'`)

// stringsIn returns the single-quoted strings in a Bicep fragment.
func stringsIn(src string) []string {
	var out []string
	for _, m := range quoted.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

// objectStrings reads `key: 'value'` pairs of a Bicep object body.
func objectStrings(src string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*'([^']*)'`).FindAllStringSubmatch(src, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// bicepProperty returns the literal value of `name: value` (the first one) in src.
func bicepProperty(t *testing.T, src, name, where string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s*:\s*('[^']*'|[A-Za-z0-9_.]+)`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no property %s", where, name)
	}
	return strings.Trim(m[1], "'")
}

// infraAppSettings reads the function app's app settings from
// infra/modules/functionapp.bicep.
func infraAppSettings(t *testing.T) map[string]string {
	t.Helper()
	const rel = "infra/modules/functionapp.bicep"
	src := bicep(t, rel)
	body := block(t, src, regexp.MustCompile(`appSettings\s*:`), rel)
	re := regexp.MustCompile(`\{\s*name\s*:\s*'([^']+)'\s*,?\s*value\s*:\s*([^}\n]+?)\s*\}`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		if _, dup := out[m[1]]; dup {
			t.Errorf("%s: app setting %s is set twice", rel, m[1])
		}
		out[m[1]] = strings.TrimSpace(m[2])
	}
	if len(out) == 0 {
		t.Fatalf("%s: no { name: '…', value: … } entries under appSettings", rel)
	}
	return out
}

// ---------------------------------------------------------------- Go (as text)

// goSources returns the non-test .go files under dir (repository-relative),
// or nil when dir does not exist.
func goSources(t *testing.T, dir string) map[string]string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(root(), filepath.FromSlash(dir), "*.go"))
	out := map[string]string{}
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		rel, _ := filepath.Rel(root(), m)
		out[filepath.ToSlash(rel)] = read(t, filepath.ToSlash(rel))
	}
	return out
}

// goStringConsts returns `Name = "value"` constants (and vars) in Go sources.
func goStringConsts(srcs map[string]string) map[string]string {
	re := regexp.MustCompile(`(?m)^\s*(?:const\s+|var\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:string\s*)?=\s*"([^"]*)"`)
	out := map[string]string{}
	for _, src := range srcs {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			out[m[1]] = m[2]
		}
	}
	return out
}

// ---------------------------------------------------------------- durations

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// duration parses the ISO 8601 durations Service Bus uses (days and time).
func duration(t *testing.T, s, where string) time.Duration {
	t.Helper()
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		t.Fatalf("%s: %q is not an ISO 8601 duration (PnDTnHnMnS)", where, s)
	}
	n := func(i int) time.Duration {
		if m[i] == "" {
			return 0
		}
		v, _ := strconv.Atoi(m[i])
		return time.Duration(v)
	}
	return n(1)*24*time.Hour + n(2)*time.Hour + n(3)*time.Minute + n(4)*time.Second
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func set(items ...string) map[string]bool {
	out := map[string]bool{}
	for _, s := range items {
		out[s] = true
	}
	return out
}
