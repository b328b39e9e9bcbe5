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
	prev int32
	// slot is the prefix's slot (see nsScope).
	slot int32
}

// nsScope is the stack of in-scope namespace declarations. top maps each
// prefix with a binding in scope to its slot, a small number the prefix
// keeps while any binding of it is in scope, and inner[slot] is the index
// in b of the prefix's innermost binding. So a lookup costs one hash
// however many declarations are in scope (a document with thousands of
// them must not make every element and attribute pay for each), and
// whoever has looked a prefix up once (checkAttrs) can hand its slot on,
// letting the canonicaliser keep per-prefix state in a slice instead of
// hashing the prefix again and again (an element may carry a thousand
// prefixed attributes).
type nsScope struct {
	b     []binding
	marks []int
	top   map[string]int32
	inner []int32
	free  []int32 // slots no prefix holds
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
		s.top = make(map[string]int32)
	}
	slot, ok := s.top[prefix]
	prev := int32(-1)
	if ok {
		prev = s.inner[slot]
	} else {
		if n := len(s.free); n > 0 {
			slot = s.free[n-1]
			s.free = s.free[:n-1]
		} else {
			slot = int32(len(s.inner))
			s.inner = append(s.inner, 0)
		}
		s.top[prefix] = slot
	}
	s.inner[slot] = int32(len(s.b))
	s.b = append(s.b, binding{prefix: prefix, uri: uri, prev: prev, slot: slot})
}

func (s *nsScope) pop() {
	n := len(s.marks) - 1
	m := s.marks[n]
	for i := len(s.b) - 1; i >= m; i-- {
		if b := s.b[i]; b.prev < 0 {
			delete(s.top, b.prefix)
			s.free = append(s.free, b.slot)
		} else {
			s.inner[b.slot] = b.prev
		}
	}
	s.b = s.b[:m]
	s.marks = s.marks[:n]
}

// lookup returns the URI bound to prefix ("" for the default namespace; an
// empty URI means no default namespace).
func (s *nsScope) lookup(prefix string) (string, bool) {
	uri, _, ok := s.lookupSlot(prefix)
	return uri, ok
}

// lookupSlot is lookup that also returns the prefix's slot, -1 when no
// binding of it is in scope (the xml prefix, an undeclared default
// namespace, an unbound prefix).
func (s *nsScope) lookupSlot(prefix string) (string, int32, bool) {
	if prefix == "xml" {
		return nsXML, -1, true
	}
	if len(s.b) <= 8 { // the usual case: a short scan beats hashing
		for i := len(s.b) - 1; i >= 0; i-- {
			if s.b[i].prefix == prefix {
				return s.b[i].uri, s.b[i].slot, true
			}
		}
		return "", -1, prefix == ""
	}
	if slot, ok := s.top[prefix]; ok {
		return s.b[s.inner[slot]].uri, slot, true
	}
	return "", -1, prefix == ""
}

// innermost reports whether s.b[i] is the innermost binding of its prefix.
func (s *nsScope) innermost(i int) bool { return s.inner[s.b[i].slot] == int32(i) }

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

// renderedScope is the stack of namespace declarations a canonicaliser has
// written, indexed by the slots of the scope it reads (its source): a
// prefix can only have been rendered at an element where a binding of it
// was in scope, and that binding stays in scope (so the prefix keeps its
// slot) until after the element's rendered frame is popped.
type renderedScope struct {
	b      []binding // prefix, uri, prev (index in b), slot (the source's)
	marks  []int
	bySlot []int32 // source slot -> index in b of its innermost rendering, -1 none
}

func (r *renderedScope) open() { r.marks = append(r.marks, len(r.b)) }

func (r *renderedScope) declare(prefix, uri string, slot int32) {
	prev := int32(-1)
	if slot >= 0 {
		for int(slot) >= len(r.bySlot) {
			r.bySlot = append(r.bySlot, -1)
		}
		prev = r.bySlot[slot]
		r.bySlot[slot] = int32(len(r.b))
	}
	r.b = append(r.b, binding{prefix: prefix, uri: uri, prev: prev, slot: slot})
}

func (r *renderedScope) pop() {
	n := len(r.marks) - 1
	m := r.marks[n]
	for i := len(r.b) - 1; i >= m; i-- {
		if b := r.b[i]; b.slot >= 0 {
			r.bySlot[b.slot] = b.prev
		}
	}
	r.b = r.b[:m]
	r.marks = r.marks[:n]
}

// lookupSlot returns the URI rendered for prefix (whose slot in the
// source scope is slot), as nsScope.lookup does: "" and true for the
// default namespace when none was rendered. Should the slot's rendering
// not be of this prefix, which the invariant above rules out, it counts
// as not rendered: a declaration too many fails the digest, closed.
func (r *renderedScope) lookupSlot(prefix string, slot int32) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	if slot >= 0 && int(slot) < len(r.bySlot) {
		if i := r.bySlot[slot]; i >= 0 && int(i) < len(r.b) && r.b[i].slot == slot && r.b[i].prefix == prefix {
			return r.b[i].uri, true
		}
	}
	return "", prefix == ""
}

// declared reports whether prefix was rendered on the innermost element,
// and the URI.
func (r *renderedScope) declared(prefix string) (string, bool) {
	if len(r.marks) == 0 {
		return "", false
	}
	for _, b := range r.b[r.marks[len(r.marks)-1]:] {
		if b.prefix == prefix {
			return b.uri, true
		}
	}
	return "", false
}

// isDeclaration reports whether attribute name n is a namespace declaration.
func isDeclaration(n xml.Name) bool {
	_, ok := declaredPrefix(n)
	return ok
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
	rendered renderedScope
	depth    int
	// xmlAttrs are xml:* attributes of the apex's ancestors, inherited by
	// the apex in inclusive C14N.
	xmlAttrs []xml.Attr
	err      error

	scratchNS    []binding
	scratchAttr  []canonAttr
	scratchNames resolvedAttrs
	nsOrder      []int32
	sorter       nameSorter
	sortNames    []xml.Name
}

// canonAttr is an attribute to write: its namespace URI (for the order)
// and the attribute itself.
type canonAttr struct {
	space string
	attr  *xml.Attr
}

// resolvedAttrs is what is known of an element's attributes once their
// prefixes have been looked up (checkAttrs does it for the reader).
type resolvedAttrs struct {
	// names[i] is el.Attr[i]'s namespace URI ("" unprefixed) and local
	// name; a declaration's is {nsXMLNS, the prefix it declares}.
	names []xml.Name
	// slots[i] is the scope slot of el.Attr[i]'s prefix; -1 when
	// unprefixed or a declaration.
	slots []int32
	// order, when not nil, lists the indexes of el.Attr sorted by names:
	// the canonical attribute order.
	order []int32
}

// resolve fills r for attrs from scope. It returns the index of the
// first attribute whose prefix is not bound, -1 when there is none.
func (r *resolvedAttrs) resolve(scope *nsScope, attrs []xml.Attr) int {
	r.names, r.slots, r.order = r.names[:0], r.slots[:0], nil
	unbound := -1
	for i, a := range attrs {
		n, slot := xml.Name{Local: a.Name.Local}, int32(-1)
		if p, isDecl := declaredPrefix(a.Name); isDecl {
			n = xml.Name{Space: nsXMLNS, Local: p}
		} else if a.Name.Space != "" {
			var ok bool
			n.Space, slot, ok = scope.lookupSlot(a.Name.Space)
			if !ok && unbound < 0 {
				unbound = i
			}
		}
		r.names = append(r.names, n)
		r.slots = append(r.slots, slot)
	}
	return unbound
}

func compareNames(a, b xml.Name) int {
	if a.Space != b.Space {
		return strings.Compare(a.Space, b.Space)
	}
	return strings.Compare(a.Local, b.Local)
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
func (c *canonicalizer) start(el xml.StartElement) {
	c.scratchNames.resolve(c.scope, el.Attr)
	c.startResolved(el, &c.scratchNames)
}

// startResolved is start with el.Attr already resolved against the
// scope, so that no attribute's prefix is looked up again.
func (c *canonicalizer) startResolved(el xml.StartElement, ra *resolvedAttrs) {
	apex := c.depth == 0
	c.depth++
	// ns gathers the declarations to render: prefix, URI and the
	// prefix's slot in c.scope, by which c.rendered is indexed.
	ns := c.scratchNS[:0]
	// candidate adds a binding to the declarations to render, unless the
	// nearest output ancestor already rendered the same binding.
	candidate := func(prefix, uri string, slot int32) {
		if prefix == "xml" {
			return // the xml namespace is never declared in canonical form
		}
		have, ok := c.rendered.lookupSlot(prefix, slot)
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
		ns = append(ns, binding{prefix: prefix, uri: uri, slot: slot})
	}
	candidatePrefix := func(prefix string) {
		uri, slot, _ := c.scope.lookupSlot(prefix)
		candidate(prefix, uri, slot)
	}
	switch {
	case c.mode.exclusive:
		candidatePrefix(el.Name.Space)
		for i, a := range el.Attr {
			if p, isDecl := declaredPrefix(a.Name); isDecl {
				// A PrefixList prefix is treated as in inclusive
				// C14N: below the apex its binding can only change
				// where it is declared.
				if !apex && c.mode.inclusiveSet[p] {
					candidatePrefix(p)
				}
			} else if a.Name.Space != "" {
				candidate(a.Name.Space, ra.names[i].Space, ra.slots[i])
			}
		}
		if apex {
			for _, p := range c.mode.inclusivePrefixes {
				candidatePrefix(p)
			}
		}
	case apex:
		for i, b := range c.scope.b {
			if c.scope.innermost(i) {
				candidate(b.prefix, b.uri, b.slot)
			}
		}
	default:
		for _, a := range el.Attr {
			if p, isDecl := declaredPrefix(a.Name); isDecl {
				candidatePrefix(p)
			}
		}
	}
	// Render in prefix order, each prefix once (a prefix used by several
	// attributes is a candidate for each).
	order := c.nsOrder[:0]
	for i := range ns {
		order = append(order, int32(i))
	}
	c.sortByPrefix(ns, order)
	c.rendered.open()
	w := 0
	for _, i := range order {
		if w > 0 && ns[i].prefix == ns[order[w-1]].prefix {
			continue
		}
		order[w] = i
		w++
		c.rendered.declare(ns[i].prefix, ns[i].uri, ns[i].slot)
	}
	order = order[:w]
	c.scratchNS, c.nsOrder = ns, order

	attrs := c.scratchAttr[:0]
	sorted := ra.order != nil
	if sorted {
		for _, i := range ra.order {
			if !isDeclaration(el.Attr[i].Name) {
				attrs = append(attrs, canonAttr{ra.names[i].Space, &el.Attr[i]})
			}
		}
	} else {
		for i := range el.Attr {
			if !isDeclaration(el.Attr[i].Name) {
				attrs = append(attrs, canonAttr{ra.names[i].Space, &el.Attr[i]})
			}
		}
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
				sorted = false
			}
		}
	}
	byName := func(a, b canonAttr) int {
		if a.space != b.space {
			return strings.Compare(a.space, b.space)
		}
		return strings.Compare(a.attr.Name.Local, b.attr.Name.Local)
	}
	if !sorted && !slices.IsSortedFunc(attrs, byName) {
		slices.SortFunc(attrs, byName)
	}
	c.scratchAttr = attrs

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, el.Name)
	for _, i := range order {
		b := &ns[i]
		if b.prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, " xmlns:"...)
			c.buf = append(c.buf, b.prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.attrValue(b.uri)
		c.buf = append(c.buf, '"')
	}
	for _, a := range attrs {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, a.attr.Name)
		c.buf = append(c.buf, `="`...)
		c.attrValue(a.attr.Value)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')
	c.flushIfFull()
}

// segment is how much of a long value or text is escaped into buf at a
// time: buf stays bounded whatever the token (up to MaxTokenBytes).
const segment = 16 << 10

func (c *canonicalizer) attrValue(v string) {
	for len(v) > segment {
		c.buf = appendEscapedAttr(c.buf, v[:segment])
		v = v[segment:]
		c.flushIfFull()
	}
	c.buf = appendEscapedAttr(c.buf, v)
}

// sortByPrefix sorts order, indexes of ns, by prefix.
func (c *canonicalizer) sortByPrefix(ns []binding, order []int32) {
	if len(order) <= 8 {
		for i := 1; i < len(order); i++ { // insertion sort: few, usually in order
			for j := i; j > 0 && ns[order[j]].prefix < ns[order[j-1]].prefix; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
		return
	}
	names := c.sortNames[:0]
	for _, b := range ns {
		names = append(names, xml.Name{Space: b.prefix})
	}
	c.sorter.sort(order, names)
	clear(names) // hold no strings
	c.sortNames = names
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
	for len(t) > segment {
		c.buf = appendEscapedText(c.buf, t[:segment])
		t = t[segment:]
		c.flushIfFull()
	}
	c.buf = appendEscapedText(c.buf, t)
	c.flushIfFull()
}

// verbatim writes t as it is; a long t goes straight to the writer.
func (c *canonicalizer) verbatim(t []byte) {
	if len(t) > segment {
		c.flush()
		if c.err == nil {
			_, c.err = c.w.Write(t)
		}
		return
	}
	c.buf = append(c.buf, t...)
}

func (c *canonicalizer) comment(t []byte) {
	if !c.mode.comments {
		return
	}
	c.buf = append(c.buf, "<!--"...)
	c.verbatim(t)
	c.buf = append(c.buf, "-->"...)
	c.flushIfFull()
}

func (c *canonicalizer) procInst(p xml.ProcInst) {
	c.buf = append(c.buf, "<?"...)
	c.buf = append(c.buf, p.Target...)
	if len(p.Inst) > 0 {
		c.buf = append(c.buf, ' ')
		c.verbatim(p.Inst)
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
