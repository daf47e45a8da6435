package letter

import (
	_ "embed"
	"strings"
	"sync"

	"codeberg.org/go-pdf/fpdf"
)

// DejaVu Sans 2.37 (Bitstream Vera licence, fonts/LICENSE): it has every
// glyph German and English letters need (umlauts, ß, €, „“ ‚‘ –), and
// embedding it keeps the widths Check measures equal to the printed ones on
// every machine.
var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

const (
	family       = "dejavu"
	styleRegular = ""
	styleBold    = "B"
)

func newPDF() *fpdf.Fpdf {
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: pageW, Ht: pageH}, OrientationStr: "P"})
	pdf.AddUTF8FontFromBytes(family, styleRegular, fontRegular)
	pdf.AddUTF8FontFromBytes(family, styleBold, fontBold)
	pdf.SetCellMargin(0)
	return pdf
}

// measurer answers width questions for Check with the font metrics of the
// embedded fonts. One shared instance, because parsing the fonts costs more
// than all the measuring of a letter; fpdf keeps the current font in the
// document, hence the lock.
type measurer struct {
	once sync.Once
	mu   sync.Mutex
	pdf  *fpdf.Fpdf
}

var measure measurer

func (m *measurer) init() {
	m.once.Do(func() { m.pdf = newPDF() })
}

// width is the width of s in mm at size pt.
func (m *measurer) width(style string, size float64, s string) float64 {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pdf.SetFont(family, style, size)
	return m.pdf.GetStringWidth(s)
}

// wrap breaks s into lines no wider than w mm at size pt.
func (m *measurer) wrap(style string, size float64, s string, w float64) []string {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pdf.SetFont(family, style, size)
	return wrapText(m.pdf, s, w)
}

// wrapText breaks one paragraph at spaces (a word longer than a line is cut)
// with the document's current font.
func wrapText(pdf *fpdf.Fpdf, s string, w float64) []string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\t", " "))
	if s == "" {
		return nil
	}
	lines := pdf.SplitText(s, w)
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return lines
}
