package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	File  string
	Line  int    // 0 when unknown
	Field string // path such as "dependencies[2].owner"; "" for the whole file
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a config file, one per line, in file
// order.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Limits on a config file. A config is a page or two of YAML for most
// tenants, and about 0.85 MB and 70,000 nodes for one with 5,000 partners
// that each name an owner, written in flow style (the L tenant of
// shared/benchtenant); the limits are above that and far below what would
// hurt: a file over MaxFileBytes
// is refused unread, and a document whose aliases expand to more than
// MaxNodes nodes (the "billion laughs" shape, a few hundred bytes that
// expand exponentially) or nests deeper than MaxDepth is refused before
// anything walks the expansion.
const (
	MaxFileBytes = 1 << 20
	MaxNodes     = 100_000
	MaxDepth     = 64
)

// Load reads and validates a config file. The format follows the extension:
// .json is JSON, anything else YAML. Errors are *Error unless the file could
// not be read.
func Load(path string) (*Config, error) { return LoadContext(context.Background(), path) }

// LoadContext is Load that gives up when ctx is done (SIGINT/SIGTERM in the
// command line): while the file is read — a FIFO or a device may never
// deliver — and between the stages of parsing.
func LoadContext(ctx context.Context, path string) (*Config, error) {
	data, err := readBounded(ctx, path)
	if err != nil {
		return nil, err
	}
	return parse(ctx, path, data, true)
}

// readBounded reads at most MaxFileBytes of a file. A regular file's size is
// checked before reading; anything else (a pipe, /dev/stdin, a device such
// as /dev/zero) is read through a limit one byte past MaxFileBytes, so an
// endless source costs 1 MB, never more. The read runs aside so a cancelled
// ctx returns at once even when open or read blocks (a FIFO without a
// writer); the abandoned read ends with the process.
func readBounded(ctx context.Context, path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	tooLarge := func(what string) error {
		return &Error{File: path, Problems: []Problem{{File: path, Msg: fmt.Sprintf("%s: a config file may be at most %d bytes (1 MB)", what, MaxFileBytes)}}}
	}
	switch {
	case st.IsDir():
		return nil, &Error{File: path, Problems: []Problem{{File: path, Msg: "is a directory, not a config file"}}}
	case st.Mode().IsRegular() && st.Size() > MaxFileBytes:
		return nil, tooLarge(fmt.Sprintf("the file is %d bytes", st.Size()))
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
		done <- result{data, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("config %s: not read: %w", path, context.Cause(ctx))
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("config: %w", r.err)
		}
		if len(r.data) > MaxFileBytes {
			return nil, tooLarge("it holds more")
		}
		return r.data, nil
	}
}

// Parse decodes and validates a config file's content; name is used in
// messages and to pick the format (".json" → JSON, else YAML) and to resolve
// relative paths.
//
// JSON is decoded with the YAML decoder (JSON is YAML 1.2 flow syntax), which
// gives JSON files the same strict field checking and line numbers. Raw tabs
// can only be whitespace in valid JSON, and the YAML scanner rejects them in
// some positions, so they are turned into spaces first (line numbers are
// unchanged).
//
// Parse does not touch the file system; Load also checks that files the
// config names (trust certificates) exist. Content over MaxFileBytes or
// expanding to more than MaxNodes nodes is refused.
func Parse(name string, data []byte) (*Config, error) {
	return parse(context.Background(), name, data, false)
}

// parse runs parseSync aside when ctx can be cancelled, and returns as soon
// as ctx is done: the YAML decoder cannot be interrupted, and a megabyte of
// hostile YAML within the limits still takes it a few seconds on a busy
// machine. The abandoned parse is bounded by the limits and notices ctx
// between its stages.
func parse(ctx context.Context, name string, data []byte, checkFiles bool) (*Config, error) {
	if ctx.Done() == nil {
		return parseSync(ctx, name, data, checkFiles)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("config %s: not parsed: %w", name, context.Cause(ctx))
	}
	type result struct {
		cfg *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := parseSync(ctx, name, data, checkFiles)
		done <- result{cfg, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("config %s: not parsed: %w", name, context.Cause(ctx))
	case r := <-done:
		return r.cfg, r.err
	}
}

func parseSync(ctx context.Context, name string, data []byte, checkFiles bool) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Problems: []Problem{{File: name, Msg: fmt.Sprintf("%d bytes: a config file may be at most %d bytes (1 MB)", len(data), MaxFileBytes)}}}
	}
	isJSON := strings.EqualFold(filepath.Ext(name), ".json")
	if isJSON {
		data = bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
	}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Problems: []Problem{syntaxProblem(name, err, isJSON)}}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &Error{File: name, Problems: []Problem{{File: name, Msg: "file is empty: at least \"version: 1\" is required"}}}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: name, Problems: []Problem{{File: name, Line: root.Content[0].Line, Msg: "the top level must be a mapping (key: value pairs)"}}}
	}
	p := checkExpansion(ctx, name, &root)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("config %s: not parsed: %w", name, context.Cause(ctx))
	}
	if p != nil {
		return nil, &Error{File: name, Problems: []Problem{*p}}
	}
	lines, byLine, present := indexNode(root.Content[0])

	cfg := Default()
	cfg.Source = name
	cfg.lines = lines
	cfg.present = present

	if ctx.Err() != nil {
		return nil, fmt.Errorf("config %s: not parsed: %w", name, context.Cause(ctx))
	}
	var problems []Problem
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if errors.Is(err, io.EOF) {
				return nil, &Error{File: name, Problems: []Problem{{File: name, Msg: "file is empty"}}}
			}
			return nil, &Error{File: name, Problems: []Problem{syntaxProblem(name, err, isJSON)}}
		}
		for _, msg := range te.Errors {
			problems = append(problems, typeProblem(name, msg, byLine))
		}
	}
	// yaml.v3 decodes "dependencies: [{...}]" entries from scratch, so
	// defaults live in accessors (Config.LeadTime, Config.Policy); only the
	// top-level defaults block was pre-filled by Default().
	// A field the decoder already complained about holds a zero value;
	// don't report it a second time as, say, "must be positive".
	typeFields := map[string]bool{}
	for _, p := range problems {
		typeFields[p.Field] = true
	}
	for _, p := range cfg.problems() {
		if p.Field == "" || !typeFields[p.Field] {
			problems = append(problems, p)
		}
	}
	if checkFiles {
		problems = append(problems, cfg.fileProblems()...)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{File: name, Problems: problems}
	}
	return cfg, nil
}

// Validate checks the whole configuration and returns an *Error listing
// every problem, or nil. Parse and Load call it; call it again after
// changing a Config in code.
func (c *Config) Validate() error {
	problems := c.problems()
	if len(problems) == 0 {
		return nil
	}
	sortProblems(problems)
	return &Error{File: c.fileName(), Problems: problems}
}

func (c *Config) fileName() string {
	if c.Source == "" {
		return "config"
	}
	return c.Source
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Line, ps[j].Line
		if a == 0 {
			a = 1 << 30
		}
		if b == 0 {
			b = 1 << 30
		}
		return a < b
	})
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxProblem(name string, err error, isJSON bool) Problem {
	msg := err.Error()
	p := Problem{File: name}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if isJSON {
		p.Msg = "not valid JSON: " + msg
	} else {
		p.Msg = "not valid YAML: " + msg
	}
	return p
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)
	// The decoder quotes the offending value; values are dropped from
	// messages because a misplaced token or URL must not be echoed.
	cannotUnmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `.*`)? into (.+)$")
)

func typeProblem(name, msg string, byLine map[int]string) Problem {
	p := Problem{File: name}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		p.Field = byLine[p.Line]
	}
	switch {
	case unknownFieldRE.MatchString(msg):
		m := unknownFieldRE.FindStringSubmatch(msg)
		p.Msg = fmt.Sprintf("unknown field %q (not a field of %s; check the spelling against docs/config.md)", m[1], describeType(m[2]))
	case cannotUnmarshalRE.MatchString(msg):
		m := cannotUnmarshalRE.FindStringSubmatch(msg)
		p.Msg = fmt.Sprintf("expected %s, found %s", describeGoType(m[2]), describeYAMLTag(m[1]))
	default:
		p.Msg = msg
	}
	return p
}

func describeType(t string) string {
	switch t {
	case "Config":
		return "the top level"
	case "Dependency":
		return "a dependency"
	case "Watch":
		return "watch"
	case "DependencyWatch":
		return "a dependency's watch"
	default:
		return strings.ToLower(t[:1]) + t[1:]
	}
}

func describeGoType(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"):
		return "a whole number"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "config."), strings.HasPrefix(t, "*config."):
		return "a mapping"
	default:
		return t
	}
}

func describeYAMLTag(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "a boolean"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "null":
		return "nothing"
	default:
		return tag
	}
}

// checkExpansion measures the document as it would be once every alias is
// expanded — its node count and its depth — without expanding anything:
// each node is measured once and the result reused wherever an alias points
// at it, so the check costs one pass over the parsed nodes however deep the
// aliasing goes. A document over MaxNodes nodes or MaxDepth levels is
// refused, naming the limit. A cancelled ctx stops the pass (the caller
// checks ctx next).
func checkExpansion(ctx context.Context, name string, root *yaml.Node) *Problem {
	type measure struct{ nodes, depth int }
	// Only an anchored node can be reached twice (through an alias), so
	// only anchored nodes are remembered; everything else is visited once.
	seen := map[*yaml.Node]measure{}
	visiting := map[*yaml.Node]bool{}
	steps := 0
	var stop, cyclic bool
	var walk func(n *yaml.Node) measure
	walk = func(n *yaml.Node) measure {
		if n == nil || stop {
			return measure{}
		}
		anchored := n.Anchor != ""
		if anchored {
			if m, ok := seen[n]; ok {
				return m
			}
			if visiting[n] {
				stop, cyclic = true, true
				return measure{}
			}
			visiting[n] = true
		}
		if steps++; steps%4096 == 0 && ctx.Err() != nil {
			stop = true
			return measure{}
		}
		m := measure{nodes: 1, depth: 1}
		children := n.Content
		if n.Kind == yaml.AliasNode {
			children = []*yaml.Node{n.Alias}
		}
		for _, c := range children {
			cm := walk(c)
			m.nodes += cm.nodes
			m.depth = max(m.depth, cm.depth+1)
			if m.nodes > MaxNodes || m.depth > MaxDepth {
				stop = true // enough to refuse
				break
			}
		}
		if anchored {
			visiting[n] = false
			seen[n] = m
		}
		return m
	}
	m := walk(root)
	switch {
	case ctx.Err() != nil:
		return nil
	case cyclic:
		return &Problem{File: name, Msg: "an alias refers to a node that contains it"}
	case m.nodes > MaxNodes:
		return &Problem{File: name, Msg: fmt.Sprintf("the document expands to more than %d YAML nodes (counting what each *alias repeats): a config file may hold at most %d", MaxNodes, MaxNodes)}
	case m.depth > MaxDepth:
		return &Problem{File: name, Msg: fmt.Sprintf("the document is nested more than %d levels deep (counting what each *alias repeats): a config file may nest at most %d", MaxDepth, MaxDepth)}
	}
	return nil
}

// indexNode walks the document and records, for every field path, the line
// of its key (mappings) or item (sequences); byLine is the reverse, used to
// name the field of a decoder message that only has a line number.
func indexNode(n *yaml.Node) (lines map[string]int, byLine map[int]string, present map[string]bool) {
	lines = map[string]int{}
	byLine = map[int]string{}
	present = map[string]bool{}
	var walk func(n *yaml.Node, path string)
	record := func(path string, line int) {
		if _, ok := lines[path]; !ok {
			lines[path] = line
		}
		// A deeper path on the same line is more specific: keep it.
		if prev, ok := byLine[line]; !ok || len(path) > len(prev) {
			byLine[line] = path
		}
		present[path] = true
	}
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				record(p, k.Line)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				record(p, item.Line)
				walk(item, p)
			}
		case yaml.AliasNode:
			if n.Alias != nil {
				walk(n.Alias, path)
			}
		}
	}
	walk(n, "")
	return lines, byLine, present
}

// line finds the line of field, or of its nearest enclosing field that the
// file spells out (a missing "dependencies[2].owner" points at
// "dependencies[2]").
func (c *Config) line(field string) int {
	for f := field; f != ""; {
		if l, ok := c.lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i <= 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// fileProblems checks what needs the file system: trust certificate files
// named relative to the config file must exist.
func (c *Config) fileProblems() []Problem {
	var ps []Problem
	dir := filepath.Dir(c.Source)
	for i, d := range c.Dependencies {
		if d.Metadata == nil || d.Metadata.Trust.CertificateFile == "" {
			continue
		}
		f := fmt.Sprintf("dependencies[%d].metadata.trust.certificateFile", i)
		path := c.ResolvePath(d.Metadata.Trust.CertificateFile)
		st, err := os.Stat(path)
		switch {
		case err != nil:
			ps = append(ps, c.problem(f, "cannot read %q (relative to %s): %v", d.Metadata.Trust.CertificateFile, dir, errors.Unwrap(err)))
		case st.IsDir():
			ps = append(ps, c.problem(f, "%q is a directory, not a PEM file", d.Metadata.Trust.CertificateFile))
		}
	}
	return ps
}

// ResolvePath resolves a path from the config file (a trust certificate,
// the outbox directory) against the config file's directory.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Source == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Source), p)
}
