package letter

import (
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/fairlead/fairlead/internal/validate"
)

// Placed says where a letter landed in the batch PDF.
type Placed struct {
	Ref              string
	FirstPage, Pages int // FirstPage counts from 1
}

// Error is a letter of a batch that Render refused. Ref and Index say which
// one; Err is the *validate.Error from Check (or the duplicate reference).
type Error struct {
	Index int
	Ref   string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("letter %d (ref %q): %v", e.Index, e.Ref, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Render typesets letters into one PDF written to w, each letter starting on a
// new page, and returns where each one landed, in the order given. Every
// letter is checked first; if one fails, nothing is written and the error (an
// *Error wrapping a *validate.Error) names its Ref.
//
// The output is reproducible: the PDF's creation date is the latest letter
// date and nothing random goes in, so the same letters give the same bytes.
func Render(w io.Writer, letters []Letter) (_ []Placed, err error) {
	if len(letters) == 0 {
		return nil, validate.Required("letters")
	}
	refs := make(map[string]int, len(letters))
	for i, l := range letters {
		if err := Check(l); err != nil {
			return nil, &Error{Index: i, Ref: l.Ref, Err: err}
		}
		if j, dup := refs[l.Ref]; dup {
			return nil, &Error{Index: i, Ref: l.Ref, Err: &validate.Error{Field: "ref", Code: "duplicate",
				Message: fmt.Sprintf("ref is used by letter %d of the batch already; the manifest needs one row per letter", j)}}
		}
		refs[l.Ref] = i
	}

	// fpdf panics on some input Check is meant to refuse (runes above
	// U+FFFF); should Check miss a case, the caller gets an error, not a
	// crash of the batch job.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("letter: typeset: %v", r)
		}
	}()
	pdf := newPDF()
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetCatalogSort(true)
	var created time.Time
	for _, l := range letters {
		if l.Date.After(created) {
			created = l.Date
		}
	}
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	pdf.SetProducer("fairlead", true)
	pdf.SetCreator("fairlead", true)

	placed := make([]Placed, 0, len(letters))
	for _, l := range letters {
		pages := layout(pdf, l)
		placed = append(placed, Placed{Ref: l.Ref, FirstPage: pdf.PageNo() + 1, Pages: len(pages)})
		for n, lines := range pages {
			drawPage(pdf, l, n+1, len(pages), lines)
		}
	}
	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("letter: typeset: %w", err)
	}
	if err := pdf.Output(w); err != nil {
		return nil, fmt.Errorf("letter: write PDF: %w", err)
	}
	return placed, nil
}

// line is one line of the text area, positioned on its page.
type line struct {
	text  string
	style string
	y     float64 // baseline
	para  int     // paragraph of the body, from 0; -1 outside the body
}

// block is lines that stay on one page together, after a gap of blank lines.
type block struct {
	gap   int
	style string
	lines []string
	para  int
}

// layout breaks the text of l (subject to signature) into pages, so the page
// count is known before the first page is drawn ("Seite 1 von 3").
func layout(pdf *fpdf.Fpdf, l Letter) [][]line {
	var blocks []block
	pdf.SetFont(family, styleBold, bodyPt)
	blocks = append(blocks, block{style: styleBold, lines: wrapText(pdf, l.Subject, textW), para: -1})
	pdf.SetFont(family, styleRegular, bodyPt)
	gap := 2
	if s := strings.TrimSpace(l.Salutation); s != "" {
		blocks = append(blocks, block{gap: gap, lines: []string{s}, para: -1})
		gap = 1
	}
	for p, para := range paragraphs(l.Body) {
		var lines []string
		for _, src := range para {
			lines = append(lines, wrapText(pdf, src, textW)...)
		}
		// A paragraph may break across pages, but never leaves a single
		// line behind or alone at the top (no orphans, no widows).
		for len(lines) > 0 {
			n := 1
			switch {
			case len(lines) <= 3:
				n = len(lines)
			case gap > 0:
				n = 2
			case len(lines) == 4:
				n = 2
			}
			blocks = append(blocks, block{gap: gap, lines: lines[:n], para: p})
			lines = lines[n:]
			gap = 0
		}
		gap = 1
	}
	// Closing and signature stay together, with room to sign between them.
	var closing []string
	if s := strings.TrimSpace(l.Closing); s != "" {
		closing = append(closing, s)
	}
	if s := strings.TrimSpace(l.Signature); s != "" {
		if len(closing) > 0 {
			for range signatureGap {
				closing = append(closing, "")
			}
		}
		closing = append(closing, s)
	}
	if len(closing) > 0 {
		blocks = append(blocks, block{gap: 1, lines: closing, para: -1})
	}

	bottom := footerTop(l.Sender) - 10
	var pages [][]line
	var page []line
	y := subjectY // top of the next line
	for _, b := range blocks {
		if y+float64(b.gap+len(b.lines))*lineH > bottom && len(page) > 0 {
			pages = append(pages, page)
			page = nil
			y = contTop // no blank lines at the top of a page
		} else {
			y += float64(b.gap) * lineH
		}
		for _, ln := range b.lines {
			if ln != "" {
				page = append(page, line{text: ln, style: b.style, y: y + ascent, para: b.para})
			}
			y += lineH
		}
	}
	return append(pages, page)
}

// paragraphs splits the body at blank lines; a single line break inside a
// paragraph is kept (lists, addresses in the text).
func paragraphs(body string) [][]string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	var out [][]string
	var cur []string
	for _, ln := range strings.Split(body, "\n") {
		if strings.TrimSpace(ln) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, ln)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// footerTop is the top of the footer: its lines end at footBaseline.
func footerTop(s Sender) float64 {
	n := max(len(s.Footer), 1)
	return footBaseline - float64(n-1)*footLineH - 3
}

func drawPage(pdf *fpdf.Fpdf, l Letter, n, of int, lines []line) {
	pdf.AddPage()
	pdf.SetTextColor(0, 0, 0)
	marks(pdf)
	if n == 1 {
		letterhead(pdf, l)
	}
	lb := labelsFor(l.Lang)
	for _, ln := range lines {
		pdf.SetFont(family, ln.style, bodyPt)
		pdf.Text(marginLeft, ln.y, ln.text)
	}

	top := footerTop(l.Sender)
	if of > 1 {
		pdf.SetFont(family, styleRegular, smallPt+1)
		label := fmt.Sprintf(lb.page, n, of)
		pdf.Text(pageW-marginRight-pdf.GetStringWidth(label), top-4, label)
	}
	if len(l.Sender.Footer) > 0 {
		pdf.SetDrawColor(160, 160, 160)
		pdf.SetLineWidth(0.2)
		pdf.Line(marginLeft, top-1.5, pageW-marginRight, top-1.5)
		pdf.SetFont(family, styleRegular, footPt)
		pdf.SetTextColor(70, 70, 70)
		for i, f := range l.Sender.Footer {
			pdf.Text(marginLeft, top+2.6+float64(i)*footLineH, f)
		}
		pdf.SetTextColor(0, 0, 0)
	}
}

// marks draws the fold marks for a DL window envelope and the hole mark.
func marks(pdf *fpdf.Fpdf) {
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetLineWidth(0.25)
	pdf.Line(5, foldMark1, 10, foldMark1)
	pdf.Line(5, foldMark2, 10, foldMark2)
	pdf.Line(5, holeMark, 12, holeMark)
}

// letterhead draws what only the first page has: sender, window, information
// block.
func letterhead(pdf *fpdf.Fpdf, l Letter) {
	s := l.Sender
	right := pageW - marginRight
	pdf.SetFont(family, styleBold, headNamePt)
	pdf.Text(right-pdf.GetStringWidth(s.Name), 20, s.Name)
	pdf.SetFont(family, styleRegular, headAddrPt)
	for i, a := range s.Address {
		pdf.Text(right-pdf.GetStringWidth(a), 27+float64(i)*4, a)
	}

	// Zusatz- und Vermerkzone: the return line on its first line, 8 pt,
	// underlined so the post tells it from the address.
	rl := returnLine(s)
	pdf.SetFont(family, styleRegular, smallPt)
	pdf.SetTextColor(60, 60, 60)
	pdf.Text(addrX, fieldY+4.5, rl)
	pdf.SetDrawColor(60, 60, 60)
	pdf.SetLineWidth(0.15)
	pdf.Line(addrX, fieldY+5.3, addrX+pdf.GetStringWidth(rl), fieldY+5.3)
	pdf.SetTextColor(0, 0, 0)

	// Anschriftzone: top-aligned, six lines at most (Check).
	pdf.SetFont(family, styleRegular, bodyPt)
	for i, a := range l.Recipient {
		pdf.Text(addrX, anschriftY+ascent+float64(i)*lineH, strings.TrimSpace(a))
	}

	lb := labelsFor(l.Lang)
	rows := [][2]string{{lb.ref, l.Ref}, {lb.date, formatDate(l.Date, l.Lang)}}
	y := infoY
	for _, r := range rows {
		pdf.SetFont(family, styleRegular, smallPt)
		pdf.SetTextColor(90, 90, 90)
		pdf.Text(infoX, y+2.8, r[0])
		pdf.SetTextColor(0, 0, 0)
		pdf.SetFont(family, styleRegular, bodyPt-1)
		pdf.Text(infoX, y+6.8, r[1])
		y += 9
	}
}
