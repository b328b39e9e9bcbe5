package metadata

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Long attribute values, without encoding/xml holding them.
//
// encoding/xml reads a quoted attribute value into a buffer that doubles
// as it grows, then copies it into a string: a value of MaxTokenBytes
// (4 MiB) costs up to three times its size while it is read and twice its
// size after (the buffer is kept for the next token). A document that is
// one such value would make Read hold four times the document.
//
// So the lexFilter lets encoding/xml see only the head of a long value
// (its first spillAt bytes, up to a point where the value may be cut) and
// diverts the rest. It decodes the rest itself, a bounded chunk at a
// time, each chunk cut where the cut cannot change what it decodes to and
// decoded by encoding/xml itself (as the lone attribute of a one-tag
// document), so references, character checks and errors are exactly
// encoding/xml's. The reader then completes the value in the
// StartElement encoding/xml returns (claim).
//
// The decoded chunks are kept as they come until the value reaches bigAt;
// a shorter value is joined to its head, at its exact size, when claimed.
// A value that goes on is copied, with its head decoded once more, into a
// strings.Builder reserved for all the tag can still hold (what is left of
// MaxTokenBytes, and of the input when the reader knows: bytes.Reader,
// *os.File), and shared by the tag's later long values: a tag of long
// values is then held about once, never in a doubling buffer. Such a value
// replaces encoding/xml's when claimed, which must begin it. When the tag
// ends with most of the reservation unused, its values are copied out at
// their size and the reservation dropped.
//
// A chunk may be cut before byte c when c does not continue a UTF-8
// sequence and no reference (&name; or &#...;) is open: literal CR, LF and
// tab were already replaced by spaces, so no line-end rewriting spans the
// cut, and ]]> means nothing in a quoted value. Past spillAt, references
// are kept short so that such a point comes soon: a character reference's
// redundant leading zeros are dropped (they do not change its value), and
// a reference that can only be an error (a name longer than any of the
// five predefined ones, more significant digits than any character has)
// or four continuation bytes in a row (never UTF-8) are refused at once,
// as encoding/xml would refuse them.

// spillAt is the length from which an attribute value is diverted, and the
// size of the chunks it is decoded in.
const spillAt = 64 << 10

// bigAt is the length from which a diverted value goes into the tag's
// reservation.
const bigAt = 1 << 20

// spiller is the lexFilter's state for long values.
type spiller struct {
	at   int   // spillAt (tests use less)
	big  int   // bigAt (tests use less)
	size int64 // bytes the input had at the start; -1 unknown
	in   int64 // input bytes read before the current chunk
	tags int   // start tags seen

	ref     refTracker
	cont    int    // UTF-8 continuation bytes in a row
	valLen  int    // bytes of the current value passed to encoding/xml
	valDrop int    // bytes of it not passed (dropped or diverted)
	head    []byte // the bytes passed, until the value ends or is diverted
	on      *spilling

	// queue holds decoded values until the reader claims them (the
	// filter reads ahead of encoding/xml).
	queue []spilledValue
	// arena is the current tag's reservation for its long values (see
	// the top of the file); arenaTag is that tag, 0 none.
	arena    *strings.Builder
	arenaTag int

	// dec decodes chunks (see decode).
	dec   *xml.Decoder
	doc   []byte
	chunk chunkReader
}

// spilling is a value being diverted.
type spilling struct {
	head   []byte   // the bytes encoding/xml saw, undecoded
	raw    []byte   // the chunk not decoded yet
	chunks []string // decoded after the head, before the value reaches bigAt
	n      int      // bytes decoded after the head
	start  int      // where the value begins in the arena, -1 not in it
}

type spilledValue struct {
	tag, attr int // the start tag (from 1) and the attribute (from 0)
	// value is the whole value (whole) or what follows the head.
	value    string
	whole    bool
	diverted int  // input bytes encoding/xml did not see
	inArena  bool // value is part of the tag's reservation
}

// newSpiller enables long-value diversion; size is how many bytes r has
// left to read, -1 when unknown.
func newSpiller(size int64) *spiller {
	return &spiller{at: spillAt, big: bigAt, size: size}
}

// inputSize is what remains to be read from r, when r can say: a
// bytes.Reader or strings.Reader (Len), a regular file (size less
// position). -1 otherwise. It only sizes buffers.
func inputSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil || pos > st.Size() {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

var (
	errSpillMismatch = errors.New("long attribute value: the lexical filter and the XML decoder disagree about the document")
	errLongReference = errors.New("invalid character entity in a long attribute value")
	errUTF8          = errors.New("invalid UTF-8 in a long attribute value")
)

// attrValue is lexFilter.filter's lxAttrValue state with diversion: it
// normalises b[i:] in place (as the plain loop does) up to the end of the
// value or of b, and returns the new w and i.
func (s *spiller) attrValue(f *lexFilter, b []byte, w, i int) (int, int, error) {
	seg := w // where this call's part of the value starts in the output
	for i < len(b) {
		if s.ref.state == refNone && !f.skipLF {
			// A run of printable ASCII other than the quote and '&'
			// needs none of the work below: it is passed on or
			// gathered as it is, up to where a cut is due.
			limit := len(b)
			if s.on == nil {
				limit = min(limit, i+max(s.at-s.valLen, 0))
			} else {
				limit = min(limit, i+max(s.at-len(s.on.raw), 0))
			}
			j := i
			for j < limit {
				if c := b[j]; c < 0x20 || c >= 0x80 || c == '&' || c == f.quote {
					break
				}
				j++
			}
			if n := j - i; n > 0 {
				if s.on != nil {
					s.on.raw = append(s.on.raw, b[i:j]...)
					s.valDrop += n
				} else {
					copy(b[w:], b[i:j])
					w += n
					s.valLen += n
				}
				f.tokBytes += n
				s.cont = 0
				i = j
				continue
			}
		}
		c := b[i]
		i++
		if c == '\n' && f.skipLF {
			f.skipLF = false // the LF of a CR LF pair: dropped (as ever, not counted)
			continue
		}
		f.tokBytes++
		f.skipLF = false
		switch c {
		case '\t', '\n':
			c = ' '
		case '\r':
			c, f.skipLF = ' ', true
		case f.quote:
			if s.on != nil {
				if err := s.finish(f, f.attrs-1, int64(i-1)); err != nil {
					return w, i, err
				}
			}
			s.ref, s.cont, s.valLen, s.valDrop, s.head = refTracker{}, 0, 0, 0, s.head[:0]
			b[w] = c
			w++
			f.state = lxTag
			return w, i, nil
		}
		enforce := s.on != nil || s.valLen >= s.at
		isCont := c&0xC0 == 0x80
		if !isCont {
			s.cont = 0
		} else if s.cont++; enforce && s.cont > 3 {
			return w, i, errUTF8 // no UTF-8 sequence has four
		}
		cut := s.ref.state == refNone && !isCont
		switch {
		case s.on == nil && enforce && cut:
			s.head = append(s.head, b[seg:w]...)
			seg = w
			s.start(f)
		case s.on != nil && cut && len(s.on.raw) >= s.at:
			if err := s.decodeChunk(f, int64(i-1)); err != nil {
				return w, i, err
			}
		}
		keep, err := s.ref.step(c, enforce)
		if err != nil {
			return w, i, err
		}
		if !keep {
			s.valDrop++
			continue
		}
		if s.on != nil {
			s.on.raw = append(s.on.raw, c)
			s.valDrop++
			continue
		}
		b[w] = c
		w++
		s.valLen++
	}
	if s.on == nil {
		s.head = append(s.head, b[seg:w]...)
	}
	return w, i, nil
}

// start diverts the current value from here on.
func (s *spiller) start(f *lexFilter) {
	sp := &spilling{start: -1}
	sp.head = append(sp.head, s.head...)
	sp.raw = make([]byte, 0, s.at+64)
	s.head = s.head[:0]
	s.on = sp
}

// reserve moves the value into the tag's reservation, making one if the
// tag has none: room for the value so far and for whatever the tag and the
// input can still hold (decoded, a value is at most its bytes). at is the
// input offset (in the filter's chunk) reached.
func (s *spiller) reserve(f *lexFilter, at int64) error {
	sp := s.on
	head, err := s.decode(f.quote, sp.head)
	if err != nil {
		return err
	}
	if s.arenaTag != s.tags {
		left := int64(f.lim.MaxTokenBytes - f.tokBytes + 1)
		if s.size >= 0 {
			left = min(left, s.size-(s.in+at))
		}
		s.arena, s.arenaTag = &strings.Builder{}, s.tags
		s.arena.Grow(len(head) + sp.n + int(max(left, 0)))
	}
	sp.start = s.arena.Len()
	s.arena.WriteString(head)
	for i, c := range sp.chunks {
		s.arena.WriteString(c)
		sp.chunks[i] = ""
	}
	sp.chunks, sp.head = nil, nil
	return nil
}

// endTag runs when a start tag ends: its reservation, when mostly unused,
// is not kept alive by its values.
func (s *spiller) endTag() {
	if s.arenaTag == 0 {
		return
	}
	if s.arena.Cap() > 2*s.arena.Len() {
		for i := range s.queue {
			if v := &s.queue[i]; v.inArena && v.tag == s.arenaTag {
				v.value = strings.Clone(v.value)
			}
		}
	}
	s.arena, s.arenaTag = nil, 0
}

// decodeChunk decodes the chunk gathered in s.on.raw and adds it to the
// value; at is the input offset (in the filter's chunk) reached.
func (s *spiller) decodeChunk(f *lexFilter, at int64) error {
	sp := s.on
	if len(sp.raw) == 0 {
		return nil
	}
	v, err := s.decode(f.quote, sp.raw)
	if err != nil {
		return err
	}
	sp.raw = sp.raw[:0]
	sp.n += len(v)
	if sp.start >= 0 {
		s.arena.WriteString(v)
		return nil
	}
	sp.chunks = append(sp.chunks, v)
	if len(sp.head)+sp.n >= s.big {
		return s.reserve(f, at)
	}
	return nil
}

// decode decodes raw as encoding/xml decodes an attribute value quoted by
// quote.
func (s *spiller) decode(quote byte, raw []byte) (string, error) {
	doc := append(append(append(s.doc[:0], `<a v=`...), quote), raw...)
	doc = append(doc, quote, '/', '>')
	s.doc = doc
	if s.dec == nil {
		s.dec = xml.NewDecoder(&s.chunk)
		s.dec.Strict = true
	}
	s.chunk.b, s.chunk.i = doc, 0
	tok, err := s.dec.RawToken()
	if err != nil {
		return "", fmt.Errorf("long attribute value: %w", err)
	}
	el, ok := tok.(xml.StartElement)
	if !ok || len(el.Attr) != 1 || s.chunk.i != len(doc) {
		return "", errSpillMismatch
	}
	if _, err := s.dec.RawToken(); err != nil { // the element's end
		return "", fmt.Errorf("long attribute value: %w", err)
	}
	return el.Attr[0].Value, nil
}

// finish ends a diverted value: attribute attr of the current tag.
func (s *spiller) finish(f *lexFilter, attr int, at int64) error {
	if err := s.decodeChunk(f, at); err != nil {
		return err
	}
	sp := s.on
	v := spilledValue{tag: s.tags, attr: attr, diverted: s.valDrop}
	if sp.start >= 0 {
		v.value, v.whole, v.inArena = s.arena.String()[sp.start:], true, true
	} else {
		v.value = strings.Join(sp.chunks, "")
	}
	s.queue = append(s.queue, v)
	s.on = nil
	return nil
}

// claim puts the diverted values of start tag n (counted from 1) into el,
// and returns how many input bytes encoding/xml did not see for them.
func (s *spiller) claim(el *xml.StartElement, n int) (int, error) {
	diverted := 0
	for len(s.queue) > 0 && s.queue[0].tag <= n {
		v := s.queue[0]
		s.queue[0] = spilledValue{}
		s.queue = s.queue[1:]
		if v.tag != n || v.attr >= len(el.Attr) {
			return 0, errSpillMismatch
		}
		a := &el.Attr[v.attr]
		switch {
		case !v.whole:
			a.Value += v.value
		case strings.HasPrefix(v.value, a.Value):
			a.Value = v.value
		default:
			return 0, errSpillMismatch
		}
		diverted += v.diverted
	}
	return diverted, nil
}

// unclaimed reports values no start tag claimed.
func (s *spiller) unclaimed() bool { return len(s.queue) > 0 }

// chunkReader is a resettable io.ByteReader (so encoding/xml reads it
// without a bufio.Reader of its own, and reads no further than a chunk).
type chunkReader struct {
	b []byte
	i int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *chunkReader) ReadByte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	r.i++
	return r.b[r.i-1], nil
}

// refTracker follows references in an attribute value, to know where a
// value may be cut and to keep references short (see the top of the file).
type refTracker struct {
	state refState
	n     int  // bytes of a name, significant digits of a number
	zero  bool // a leading zero of a number was kept
}

type refState uint8

const (
	refNone refState = iota
	refAmp           // after '&'
	refHash          // after "&#"
	refDec
	refHex
	refName
)

// step takes the value's next byte; keep is false for a byte to drop (a
// redundant leading zero). With enforce, references that can only be
// errors are refused at once.
func (r *refTracker) step(c byte, enforce bool) (keep bool, err error) {
	switch r.state {
	case refNone:
		if c == '&' {
			r.state = refAmp
		}
		return true, nil
	case refAmp:
		switch c {
		case '#':
			r.state = refHash
		case ';':
			r.state = refNone // "&;": encoding/xml refuses it
		default:
			r.state, r.n = refName, 1
		}
		return true, nil
	case refName:
		if c == ';' {
			r.state = refNone
			return true, nil
		}
		// A predefined entity's name has at most 4 bytes; encoding/xml
		// (Strict, no Entity map) knows no other.
		if r.n++; enforce && r.n > 16 {
			return false, errLongReference
		}
		return true, nil
	case refHash:
		if c == 'x' {
			r.state, r.n, r.zero = refHex, 0, false
			return true, nil
		}
		r.state, r.n, r.zero = refDec, 0, false
	}
	// refDec, refHex
	digit := '0' <= c && c <= '9' || r.state == refHex && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')
	if !digit {
		r.state = refNone // ';' ends it; anything else encoding/xml refuses
		if c == '&' {
			r.state = refAmp
		}
		return true, nil
	}
	if c == '0' && r.n == 0 {
		if r.zero && enforce {
			return false, nil
		}
		r.zero = true
		return true, nil
	}
	// No character has more than 7 significant digits (0x10FFFF,
	// 1114111): a longer number is refused by encoding/xml.
	if r.n++; enforce && r.n > 8 {
		return false, errLongReference
	}
	return true, nil
}
