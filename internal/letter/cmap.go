package letter

import (
	"encoding/binary"
	"errors"
	"sync"
)

// coverage says which runes a TrueType font has glyphs for. fpdf prints a
// rune without a glyph as an empty box and says nothing; in an address that
// is a letter the post cannot deliver, so Check asks this first.
type coverage struct {
	// format 12 groups, or format 4 segments turned into runs of mapped
	// runes: sorted, not overlapping.
	runs [][2]rune
}

func (c *coverage) has(r rune) bool {
	lo, hi := 0, len(c.runs)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < c.runs[m][0]:
			hi = m
		case r > c.runs[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

var (
	coverOnce          sync.Once
	coverReg, coverBld *coverage
)

// covers reports whether the font of style has a glyph for every rune of s
// and, if not, the first rune without one.
func covers(style, s string) (rune, bool) {
	coverOnce.Do(func() {
		var err error
		if coverReg, err = parseCmap(fontRegular); err != nil {
			panic("letter: embedded font: " + err.Error())
		}
		if coverBld, err = parseCmap(fontBold); err != nil {
			panic("letter: embedded font: " + err.Error())
		}
	})
	c := coverReg
	if style == styleBold {
		c = coverBld
	}
	for _, r := range s {
		if r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		// fpdf indexes its width table by rune up to U+FFFF only and
		// fails on anything above, whatever the font has.
		if r > 0xFFFF || !c.has(r) {
			return r, false
		}
	}
	return 0, true
}

var errCmap = errors.New("no usable Unicode cmap")

// parseCmap reads the Unicode character map of a TrueType font: a format 12
// subtable (platform 3, encoding 10) if there is one, else format 4 (3/1 or
// platform 0).
func parseCmap(ttf []byte) (*coverage, error) {
	u16 := func(b []byte, off int) (int, bool) {
		if off < 0 || off+2 > len(b) {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(b[off:])), true
	}
	u32 := func(b []byte, off int) (int, bool) {
		if off < 0 || off+4 > len(b) {
			return 0, false
		}
		return int(binary.BigEndian.Uint32(b[off:])), true
	}
	n, ok := u16(ttf, 4)
	if !ok {
		return nil, errCmap
	}
	cmap := -1
	for i := range n {
		rec := 12 + 16*i
		if rec+16 > len(ttf) {
			return nil, errCmap
		}
		if string(ttf[rec:rec+4]) == "cmap" {
			cmap, _ = u32(ttf, rec+8)
		}
	}
	if cmap < 0 {
		return nil, errCmap
	}
	subs, ok := u16(ttf, cmap+2)
	if !ok {
		return nil, errCmap
	}
	f12, f4 := -1, -1
	for i := range subs {
		rec := cmap + 4 + 8*i
		platform, _ := u16(ttf, rec)
		encoding, _ := u16(ttf, rec+2)
		off, ok := u32(ttf, rec+4)
		if !ok {
			return nil, errCmap
		}
		format, _ := u16(ttf, cmap+off)
		switch {
		case format == 12 && (platform == 3 && encoding == 10 || platform == 0):
			f12 = cmap + off
		case format == 4 && (platform == 3 && encoding == 1 || platform == 0) && f4 < 0:
			f4 = cmap + off
		}
	}
	c := &coverage{}
	switch {
	case f12 >= 0:
		groups, ok := u32(ttf, f12+12)
		if !ok {
			return nil, errCmap
		}
		for g := range groups {
			start, ok1 := u32(ttf, f12+16+12*g)
			end, ok2 := u32(ttf, f12+20+12*g)
			glyph, ok3 := u32(ttf, f12+24+12*g)
			if !ok1 || !ok2 || !ok3 {
				return nil, errCmap
			}
			if glyph == 0 { // the first rune maps to .notdef
				start++
			}
			if start <= end {
				c.add(rune(start), rune(end))
			}
		}
	case f4 >= 0:
		segX2, ok := u16(ttf, f4+6)
		if !ok {
			return nil, errCmap
		}
		ends, starts := f4+14, f4+16+segX2
		deltas, ranges := starts+segX2, starts+2*segX2
		for s := 0; s < segX2; s += 2 {
			end, ok1 := u16(ttf, ends+s)
			start, ok2 := u16(ttf, starts+s)
			delta, ok3 := u16(ttf, deltas+s)
			ro, ok4 := u16(ttf, ranges+s)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil, errCmap
			}
			for r := start; r <= end && r != 0xFFFF; r++ {
				glyph := (r + delta) & 0xFFFF
				if ro != 0 {
					g, ok := u16(ttf, ranges+s+ro+2*(r-start))
					if !ok {
						return nil, errCmap
					}
					glyph = 0
					if g != 0 {
						glyph = (g + delta) & 0xFFFF
					}
				}
				if glyph != 0 {
					c.add(rune(r), rune(r))
				}
			}
		}
	default:
		return nil, errCmap
	}
	return c, nil
}

// add appends a run; runs come in ascending order from both formats, so
// neighbours merge.
func (c *coverage) add(lo, hi rune) {
	if n := len(c.runs); n > 0 && c.runs[n-1][1]+1 >= lo {
		c.runs[n-1][1] = max(c.runs[n-1][1], hi)
		return
	}
	c.runs = append(c.runs, [2]rune{lo, hi})
}
