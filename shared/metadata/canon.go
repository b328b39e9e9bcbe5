package metadata

import (
	"encoding/xml"
	"io"
	"slices"
	"strings"
)

// This file is a streaming XML canonicaliser (C14N 1.0 and Exclusive C14N
// 1.0, with or without comments) driven by encoding/xml raw tokens. It exists
// because the signature on a federation aggregate covers the whole document:
// building a DOM of a 50 MB aggregate (etree) and letting goxmldsig copy it
// twice costs gigabytes (see doc.go for the figures). Canonicalising token by
// token into the hash keeps memory flat. Its output is checked against
// goxmldsig's canonicalisers in the tests (real corpus and generated
// documents).

const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// binding is one namespace declaration: prefix "" is the default namespace.
type binding struct {
	prefix, uri string
	// prev is the index in nsScope.b of the binding this one shadows, -1
	// when none.
	prev int
}

// nsScope is the stack of in-scope namespace declarations. top maps each
// prefix to its innermost binding, so a lookup costs the same however many
// declarations are in scope (a document with thousands of them must not
// make every element and attribute pay for each).
type nsScope struct {
	b     []binding
	marks []int
	top   map[string]int
}

// push opens an element and records the declarations among its attributes.
func (s *nsScope) push(attrs []xml.Attr) {
	s.open()
	for _, a := range attrs {
		if p, ok := declaredPrefix(a.Name); ok {
			s.declare(p, a.Value)
		}
	}
}

// open starts a frame without declarations; declare adds to it.
func (s *nsScope) open() { s.marks = append(s.marks, len(s.b)) }

func (s *nsScope) declare(prefix, uri string) {
	if s.top == nil {
		s.top = make(map[string]int)
	}
	prev, ok := s.top[prefix]
	if !ok {
		prev = -1
	}
	s.top[prefix] = len(s.b)
	s.b = append(s.b, binding{prefix, uri, prev})
}

func (s *nsScope) pop() {
	n := len(s.marks) - 1
	m := s.marks[n]
	for i := len(s.b) - 1; i >= m; i-- {
		if b := s.b[i]; b.prev < 0 {
			delete(s.top, b.prefix)
		} else {
			s.top[b.prefix] = b.prev
		}
	}
	s.b = s.b[:m]
	s.marks = s.marks[:n]
}

// lookup returns the URI bound to prefix ("" for the default namespace; an
// empty URI means no default namespace).
func (s *nsScope) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	if len(s.b) <= 8 { // the usual case: a short scan beats hashing
		for i := len(s.b) - 1; i >= 0; i-- {
			if s.b[i].prefix == prefix {
				return s.b[i].uri, true
			}
		}
		return "", prefix == ""
	}
	if i, ok := s.top[prefix]; ok {
		return s.b[i].uri, true
	}
	return "", prefix == ""
}

// declared reports whether prefix is declared in the innermost frame, and
// the URI.
func (s *nsScope) declared(prefix string) (string, bool) {
	if len(s.marks) == 0 {
		return "", false
	}
	for _, b := range s.b[s.marks[len(s.marks)-1]:] {
		if b.prefix == prefix {
			return b.uri, true
		}
	}
	return "", false
}

// declaredPrefix reports whether attribute name n is a namespace
// declaration and which prefix it declares.
func declaredPrefix(n xml.Name) (string, bool) {
	switch {
	case n.Space == "xmlns":
		return n.Local, true
	case n.Space == "" && n.Local == "xmlns":
		return "", true
	}
	return "", false
}

// c14nMode is one canonicalisation algorithm.
type c14nMode struct {
	exclusive bool
	comments  bool
	// c14n11 is Canonical XML 1.1: as 1.0 for a whole subtree; on an apex
	// with ancestors xml:id is not inherited (and xml:base, whose fix-up
	// is not implemented, is not either: such a signature fails closed).
	c14n11 bool
	// inclusivePrefixes is Exclusive C14N's InclusiveNamespaces PrefixList
	// without repeats; "" stands for #default. inclusiveSet holds the same.
	inclusivePrefixes []string
	inclusiveSet      map[string]bool
}

func (m *c14nMode) setPrefixList(list string) {
	m.inclusivePrefixes, m.inclusiveSet = nil, nil
	for _, p := range strings.Fields(list) {
		if p == "#default" {
			p = ""
		}
		if m.inclusiveSet == nil {
			m.inclusiveSet = map[string]bool{}
		}
		if !m.inclusiveSet[p] {
			m.inclusiveSet[p] = true
			m.inclusivePrefixes = append(m.inclusivePrefixes, p)
		}
	}
}

// Algorithm identifiers this package canonicalises with.
const (
	algC14N10             = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	algC14N10WithComments = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
	algExcC14N            = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algExcC14NWithComment = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	algC14N11             = "http://www.w3.org/2006/12/xml-c14n11"
	algC14N11WithComments = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
	algEnveloped          = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
)

func modeFor(alg, prefixList string) (c14nMode, bool) {
	var m c14nMode
	switch alg {
	case algC14N10:
	case algC14N10WithComments:
		m.comments = true
	case algC14N11:
		m.c14n11 = true
	case algC14N11WithComments:
		m.c14n11, m.comments = true, true
	case algExcC14N:
		m.exclusive = true
	case algExcC14NWithComment:
		m.exclusive, m.comments = true, true
	default:
		return m, false
	}
	if m.exclusive {
		m.setPrefixList(prefixList)
	}
	return m, true
}

// canonicalizer writes the canonical form of the element subtree whose tokens
// it is given. The caller keeps scope (push before start, pop after end) so
// the reader and the canonicalizer share one view of the namespaces.
type canonicalizer struct {
	mode  c14nMode
	scope *nsScope
	w     io.Writer
	buf   []byte
	// rendered is the stack of namespace declarations written to the output.
	rendered nsScope
	depth    int
	// xmlAttrs are xml:* attributes of the apex's ancestors, inherited by
	// the apex in inclusive C14N.
	xmlAttrs []xml.Attr
	err      error

	scratchNS       []binding
	scratchPrefixes []string
	scratchAttr     []canonAttr
}

// canonAttr is an attribute to write: its namespace URI (for the order)
// and the attribute itself.
type canonAttr struct {
	space string
	attr  *xml.Attr
}

func newCanonicalizer(w io.Writer, mode c14nMode, scope *nsScope) *canonicalizer {
	return &canonicalizer{mode: mode, scope: scope, w: w, buf: make([]byte, 0, 32<<10)}
}

func (c *canonicalizer) flushIfFull() {
	if len(c.buf) >= 28<<10 {
		c.flush()
	}
}

func (c *canonicalizer) flush() error {
	if len(c.buf) > 0 && c.err == nil {
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
	return c.err
}

// start writes a start tag. The element's declarations must already be
// pushed on scope. Its cost is linear in the element's attributes (plus,
// on the apex, the declarations in scope), whatever the document holds.
func (c *canonicalizer) start(el xml.StartElement) { c.startResolved(el, nil) }

// startResolved is start with the expanded names of el.Attr already
// known (names[i] for el.Attr[i]), so they are not looked up again.
func (c *canonicalizer) startResolved(el xml.StartElement, names []xml.Name) {
	apex := c.depth == 0
	c.depth++
	// The prefixes to declare are gathered as strings and sorted with
	// the ordered sort, several times faster than sorting bindings (an
	// element may carry a thousand prefixed attributes).
	prefixes := c.scratchPrefixes[:0]
	// candidate adds prefix to the declarations to render, unless the
	// nearest output ancestor already rendered the same binding.
	candidateURI := func(prefix, uri string) {
		if prefix == "xml" {
			return // the xml namespace is never declared in canonical form
		}
		have, ok := c.rendered.lookup(prefix)
		if prefix == "" {
			// xmlns="" is output only to undo a default namespace
			// that an output ancestor rendered.
			if uri == have {
				return
			}
			if uri == "" && (!ok || have == "") {
				return
			}
		} else if ok && have == uri {
			return
		} else if uri == "" {
			return // not in scope (a PrefixList entry)
		}
		prefixes = append(prefixes, prefix)
	}
	candidate := func(prefix string) {
		uri, _ := c.scope.lookup(prefix)
		candidateURI(prefix, uri)
	}
	// attrURI is the namespace of el.Attr[i] ("" when unprefixed).
	attrURI := func(i int) string {
		if names != nil {
			return names[i].Space
		}
		if el.Attr[i].Name.Space == "" {
			return ""
		}
		uri, _ := c.scope.lookup(el.Attr[i].Name.Space)
		return uri
	}
	switch {
	case c.mode.exclusive:
		candidate(el.Name.Space)
		for i, a := range el.Attr {
			if p, isDecl := declaredPrefix(a.Name); isDecl {
				// A PrefixList prefix is treated as in inclusive
				// C14N: below the apex its binding can only change
				// where it is declared.
				if !apex && c.mode.inclusiveSet[p] {
					candidate(p)
				}
			} else if a.Name.Space != "" {
				candidateURI(a.Name.Space, attrURI(i))
			}
		}
		if apex {
			for _, p := range c.mode.inclusivePrefixes {
				candidate(p)
			}
		}
	case apex:
		for i, b := range c.scope.b {
			if j, ok := c.scope.top[b.prefix]; !ok || j == i { // innermost only
				candidate(b.prefix)
			}
		}
	default:
		for _, a := range el.Attr {
			if p, isDecl := declaredPrefix(a.Name); isDecl {
				candidate(p)
			}
		}
	}
	if len(prefixes) > 1 && !slices.IsSorted(prefixes) {
		slices.Sort(prefixes)
	}
	prefixes = slices.Compact(prefixes)
	c.scratchPrefixes = prefixes
	ns := c.scratchNS[:0]
	c.rendered.open()
	for _, p := range prefixes {
		uri, _ := c.scope.lookup(p)
		ns = append(ns, binding{prefix: p, uri: uri})
		c.rendered.declare(p, uri)
	}
	c.scratchNS = ns

	attrs := c.scratchAttr[:0]
	for i := range el.Attr {
		a := &el.Attr[i]
		if _, isDecl := declaredPrefix(a.Name); isDecl {
			continue
		}
		attrs = append(attrs, canonAttr{attrURI(i), a})
	}
	if apex && !c.mode.exclusive && len(c.xmlAttrs) > 0 {
		own := map[string]bool{}
		for _, a := range attrs {
			if a.space == nsXML {
				own[a.attr.Name.Local] = true
			}
		}
		for i := range c.xmlAttrs {
			x := &c.xmlAttrs[i]
			if c.mode.c14n11 && (x.Name.Local == "id" || x.Name.Local == "base") {
				continue
			}
			if !own[x.Name.Local] {
				attrs = append(attrs, canonAttr{nsXML, x})
			}
		}
	}
	byName := func(a, b canonAttr) int {
		if a.space != b.space {
			return strings.Compare(a.space, b.space)
		}
		return strings.Compare(a.attr.Name.Local, b.attr.Name.Local)
	}
	if !slices.IsSortedFunc(attrs, byName) {
		slices.SortFunc(attrs, byName)
	}
	c.scratchAttr = attrs

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, el.Name)
	for _, b := range ns {
		if b.prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, " xmlns:"...)
			c.buf = append(c.buf, b.prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.buf = appendEscapedAttr(c.buf, b.uri)
		c.buf = append(c.buf, '"')
	}
	for _, a := range attrs {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, a.attr.Name)
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscapedAttr(c.buf, a.attr.Value)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')
	c.flushIfFull()
}

func (c *canonicalizer) end(name xml.Name) {
	c.depth--
	c.rendered.pop()
	c.buf = append(c.buf, "</"...)
	c.buf = appendQName(c.buf, name)
	c.buf = append(c.buf, '>')
	c.flushIfFull()
}

func (c *canonicalizer) text(t []byte) {
	c.buf = appendEscapedText(c.buf, t)
	c.flushIfFull()
}

func (c *canonicalizer) comment(t []byte) {
	if !c.mode.comments {
		return
	}
	c.buf = append(c.buf, "<!--"...)
	c.buf = append(c.buf, t...)
	c.buf = append(c.buf, "-->"...)
	c.flushIfFull()
}

func (c *canonicalizer) procInst(p xml.ProcInst) {
	c.buf = append(c.buf, "<?"...)
	c.buf = append(c.buf, p.Target...)
	if len(p.Inst) > 0 {
		c.buf = append(c.buf, ' ')
		c.buf = append(c.buf, p.Inst...)
	}
	c.buf = append(c.buf, "?>"...)
	c.flushIfFull()
}

// prologPI and epilogPI write a processing instruction before or after the
// root element of a whole-document canonical form (C14N 1.0 §2.3: a line
// feed separates it from the root).
func (c *canonicalizer) prologPI(p xml.ProcInst) {
	c.procInst(p)
	c.buf = append(c.buf, '\n')
}

func (c *canonicalizer) epilogPI(p xml.ProcInst) {
	c.buf = append(c.buf, '\n')
	c.procInst(p)
}

// token feeds any raw token (start/end tags must be bracketed by the
// caller's scope push/pop).
func (c *canonicalizer) token(tok xml.Token) {
	switch t := tok.(type) {
	case xml.StartElement:
		c.start(t)
	case xml.EndElement:
		c.end(t.Name)
	case xml.CharData:
		c.text(t)
	case xml.Comment:
		c.comment(t)
	case xml.ProcInst:
		c.procInst(t)
	}
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func appendQName(b []byte, n xml.Name) []byte {
	if n.Space != "" {
		b = append(b, n.Space...)
		b = append(b, ':')
	}
	return append(b, n.Local...)
}

func appendEscapedText(b []byte, s []byte) []byte {
	start := 0
	for i, ch := range s {
		var esc string
		switch ch {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}

func appendEscapedAttr(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
