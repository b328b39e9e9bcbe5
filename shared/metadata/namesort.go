package metadata

import (
	"encoding/xml"
	"slices"
)

// nameSorter puts expanded names in canonical order: by namespace URI,
// then local name, as strings.Compare orders them. An element may carry a
// thousand prefixed attributes, each sorted twice (its prefix among the
// declarations to render, its name among the attributes); comparing
// strings through a callback makes that the reader's largest cost. So
// names are sorted by 6-byte keys, packed with their position into one
// uint64 and sorted with the ordered sort, and only names whose keys tie
// are looked at again, 6 bytes further on: MSD radix sort with 48-bit
// digits.
//
// A key is read from the name's "virtual string" Space + NUL + Local,
// padded with NUL bytes. Neither part can contain NUL (it is not an XML
// character), so comparing virtual strings is comparing (Space, Local)
// pairs, and padding only ever makes keys tie, never misorders them.
type nameSorter struct {
	keys  []uint64
	tmp   []int32
	stack []keyRange
}

// keyRange is a run of order still to sort, from byte offset on.
type keyRange struct{ lo, hi, offset, level int }

const (
	keyBytes = 6
	// maxKeyLevels bounds the levels (keyBytes each) before a tied run
	// is left to a comparison sort, so a long common infix costs what a
	// comparison sort costs, never more.
	maxKeyLevels = 8
	maxKeyRun    = 1 << 16 // positions must fit the key's low 16 bits
)

// sort reorders order, indexes of names, into canonical order; indexes
// of equal names keep their relative order (so a repeat is found after
// the name it repeats).
func (s *nameSorter) sort(order []int32, names []xml.Name) {
	if len(order) < 2 {
		return
	}
	stack := append(s.stack[:0], keyRange{0, len(order), commonSpacePrefix(order, names), 0})
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		run := order[r.lo:r.hi]
		if r.level >= maxKeyLevels || len(run) > maxKeyRun {
			slices.SortStableFunc(run, func(a, b int32) int { return compareNames(names[a], names[b]) })
			continue
		}
		keys := s.keys[:0]
		ended := true // every name ends within this key
		for j, i := range run {
			n := names[i]
			keys = append(keys, nameKey(n, r.offset)<<16|uint64(j))
			if r.offset+keyBytes < len(n.Space)+1+len(n.Local) {
				ended = false
			}
		}
		s.keys = keys
		if allTie(keys) {
			if !ended {
				stack = append(stack, keyRange{r.lo, r.hi, r.offset + keyBytes, r.level + 1})
			}
			continue // else equal names, already in index order
		}
		slices.Sort(keys)
		tmp := append(s.tmp[:0], run...)
		s.tmp = tmp
		for j, k := range keys {
			run[j] = tmp[k&0xffff]
		}
		if ended {
			continue // ties are equal names, in index order
		}
		for lo := 0; lo < len(keys); {
			hi := lo + 1
			for hi < len(keys) && keys[hi]>>16 == keys[lo]>>16 {
				hi++
			}
			if hi-lo > 1 {
				stack = append(stack, keyRange{r.lo + lo, r.lo + hi, r.offset + keyBytes, r.level + 1})
			}
			lo = hi
		}
	}
	s.stack = stack
}

func allTie(keys []uint64) bool {
	for _, k := range keys[1:] {
		if k>>16 != keys[0]>>16 {
			return false
		}
	}
	return true
}

// commonSpacePrefix is the length of the prefix every name's Space
// shares: keys can start there.
func commonSpacePrefix(order []int32, names []xml.Name) int {
	first := names[order[0]].Space
	n := len(first)
	for _, i := range order[1:] {
		sp := names[i].Space
		if sp == first {
			continue // often the very same string: one comparison
		}
		if len(sp) < n {
			n = len(sp)
		}
		for j := 0; j < n; j++ {
			if sp[j] != first[j] {
				n = j
				break
			}
		}
		if n == 0 {
			break
		}
	}
	return n
}

// nameKey is keyBytes bytes of n's virtual string from offset, big-endian.
func nameKey(n xml.Name, offset int) uint64 {
	if sp := n.Space; offset+keyBytes <= len(sp) {
		_ = sp[offset+keyBytes-1]
		return uint64(sp[offset])<<40 | uint64(sp[offset+1])<<32 | uint64(sp[offset+2])<<24 |
			uint64(sp[offset+3])<<16 | uint64(sp[offset+4])<<8 | uint64(sp[offset+5])
	}
	var k uint64
	for i := offset; i < offset+keyBytes; i++ {
		var c byte
		switch {
		case i < len(n.Space):
			c = n.Space[i]
		case i == len(n.Space):
			c = 0
		case i-len(n.Space)-1 < len(n.Local):
			c = n.Local[i-len(n.Space)-1]
		}
		k = k<<8 | uint64(c)
	}
	return k
}
