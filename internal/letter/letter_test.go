package letter

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

var update = flag.Bool("update", false, "rewrite testdata/letter.golden from the current output")

var fixedDate = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

func sender() Sender {
	return Sender{
		Name:       "Fairlead Beispiel GmbH",
		Address:    []string{"Hafenstraße 1", "20457 Hamburg", "Deutschland"},
		ReturnLine: "Fairlead GmbH, Postfach 11 22, 20401 Hamburg",
		Footer: []string{
			"Fairlead Beispiel GmbH · Sitz Hamburg · Amtsgericht Hamburg HRB 123456 · USt-IdNr. DE123456789",
			"Geschäftsführung: Erika Beispiel · Bank: Beispielbank · IBAN DE02 1203 0000 0000 2020 51",
		},
	}
}

func sample() Letter {
	return Letter{
		Ref:        "L-2026-0001",
		Sender:     sender(),
		Recipient:  []string{"Müller & Söhne GmbH", "Frau Jana Groß", "Straße des 17. Juni 12", "10623 Berlin"},
		Date:       fixedDate,
		Lang:       "de",
		Subject:    "Ihre Anfrage „Lieferbedingungen“ vom 24. November",
		Salutation: "Sehr geehrte Frau Groß,",
		Body: "vielen Dank für Ihre Anfrage. Gern bestätigen wir die Lieferung zum Festpreis von 1.250,00 € " +
			"zuzüglich Umsatzsteuer.\n\nDie Ware geht Ihnen binnen zwei Wochen zu; Maße und Gewicht " +
			"entnehmen Sie bitte der beigefügten Übersicht.\n\nFür Rückfragen stehen wir Ihnen gern zur Verfügung.",
		Closing:   "Mit freundlichen Grüßen",
		Signature: "Erika Beispiel",
	}
}

// long has about one and a half pages of text.
func long(ref string) Letter {
	l := sample()
	l.Ref = ref
	l.Lang = "en"
	l.Recipient = []string{"Ørsted & Co. A/S", "Att. Mr Søren Ærø", "Kraftværksvej 53", "7000 Fredericia", "DÄNEMARK"}
	l.Subject = "Our offer for 2027"
	l.Salutation = "Dear Mr Ærø,"
	var b strings.Builder
	for i := range 14 {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "Paragraph %d. This paragraph is long enough to take up about three lines of the text "+
			"width, so that fourteen of them fill the first page and part of a second one, which shows "+
			"that page breaks, footers and page labels work.", i+1)
	}
	l.Body = b.String()
	l.Closing = "Kind regards"
	return l
}

func render(t *testing.T, letters ...Letter) ([]byte, []Placed) {
	t.Helper()
	var buf bytes.Buffer
	placed, err := Render(&buf, letters)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.Bytes(), placed
}

// pdftotext runs poppler's pdftotext on pdf. Without it the test skips, but
// fails where the tests must not be skipped (make test, CI).
func pdftotext(t *testing.T, pdf []byte, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("FAIRLEAD_REQUIRE_BROWSER") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("pdftotext (Debian package poppler-utils) is required here: %v", err)
		}
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	in := filepath.Join(t.TempDir(), "letters.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(append(args, "-enc", "UTF-8"), in, "-")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext %v: %v: %s", args, err, stderr.String())
	}
	return string(out)
}

func TestRenderText(t *testing.T) {
	pdf, placed := render(t, sample())
	if len(placed) != 1 || placed[0] != (Placed{Ref: "L-2026-0001", FirstPage: 1, Pages: 1}) {
		t.Fatalf("placed = %+v", placed)
	}
	text := pdftotext(t, pdf, "-layout")
	for _, want := range []string{
		"Müller & Söhne GmbH", "Frau Jana Groß", "Straße des 17. Juni 12", "10623 Berlin",
		"Ihre Anfrage „Lieferbedingungen“ vom 24. November",
		"1. Dezember 2026", "Unser Zeichen", "L-2026-0001",
		"1.250,00 €", "Übersicht", "Mit freundlichen Grüßen", "Erika Beispiel",
		"Fairlead GmbH, Postfach 11 22, 20401 Hamburg",
		"USt-IdNr. DE123456789",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Seite 1") {
		t.Errorf("a one-page letter has no page label:\n%s", text)
	}
}

// word is one word of pdftotext -bbox, in millimetres.
type word struct {
	text                   string
	xMin, yMin, xMax, yMax float64
}

var bboxWord = regexp.MustCompile(`<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">([^<]*)</word>`)

// bboxPages returns the words of each page.
func bboxPages(t *testing.T, pdf []byte) [][]word {
	t.Helper()
	out := pdftotext(t, pdf, "-bbox")
	const mm = 25.4 / 72
	var pages [][]word
	for _, page := range strings.Split(out, "<page ")[1:] {
		var ws []word
		for _, m := range bboxWord.FindAllStringSubmatch(page, -1) {
			f := make([]float64, 4)
			for i := range f {
				v, err := strconv.ParseFloat(m[i+1], 64)
				if err != nil {
					t.Fatal(err)
				}
				f[i] = v * mm
			}
			ws = append(ws, word{text: html.UnescapeString(m[5]), xMin: f[0], yMin: f[1], xMax: f[2], yMax: f[3]})
		}
		pages = append(pages, ws)
	}
	return pages
}

func find(t *testing.T, ws []word, text string) word {
	t.Helper()
	for _, w := range ws {
		if w.text == text {
			return w
		}
	}
	t.Fatalf("no word %q on the page", text)
	return word{}
}

// lineOf returns the words left of the information block on the same
// baseline as the word text.
func lineOf(t *testing.T, ws []word, text string) []word {
	first := find(t, ws, text)
	var out []word
	for _, w := range ws {
		if w.yMin > first.yMin-0.5 && w.yMax < first.yMax+0.5 && w.xMin < infoX-1 {
			out = append(out, w)
		}
	}
	return out
}

func inside(w word, x0, y0, x1, y1 float64) bool {
	const eps = 0.2 // pdftotext rounds glyph boxes
	return w.xMin >= x0-eps && w.xMax <= x1+eps && w.yMin >= y0-eps && w.yMax <= y1+eps
}

func TestAddressInWindow(t *testing.T) {
	pdf, _ := render(t, sample())
	page := bboxPages(t, pdf)[0]

	// The whole window (Anschriftfeld) is x 20..105, y 45..90; the
	// recipient belongs in its address zone, the return line above it.
	recipient := lineOf(t, page, "Müller")
	if len(recipient) != 4 {
		t.Fatalf("first recipient line has words %+v", recipient)
	}
	for _, w := range recipient {
		if !inside(w, fieldX, anschriftY, fieldX+fieldW, fieldY+fieldH) {
			t.Errorf("recipient word %q at x %.1f..%.1f y %.1f..%.1f mm is outside the address zone", w.text, w.xMin, w.xMax, w.yMin, w.yMax)
		}
	}
	if x := find(t, page, "Müller").xMin; x < marginLeft-0.2 || x > marginLeft+0.5 {
		t.Errorf("recipient starts at x %.2f mm, want %g", x, marginLeft)
	}
	last := find(t, page, "Berlin")
	if !inside(last, fieldX, anschriftY, fieldX+fieldW, fieldY+fieldH) {
		t.Errorf("last recipient line at y %.1f..%.1f mm is outside the address zone", last.yMin, last.yMax)
	}
	for _, w := range lineOf(t, page, "Postfach") {
		if !inside(w, fieldX, fieldY, fieldX+fieldW, anschriftY) {
			t.Errorf("return line word %q at x %.1f..%.1f y %.1f..%.1f mm is outside the Vermerkzone", w.text, w.xMin, w.xMax, w.yMin, w.yMax)
		}
	}
	if d := find(t, page, "Dezember"); d.xMin < infoX || d.yMin < infoY || d.yMax > fieldY+fieldH {
		t.Errorf("date at x %.1f y %.1f..%.1f mm is not in the information block", d.xMin, d.yMin, d.yMax)
	}
	// Subject below the window, body within the margins.
	if s := find(t, page, "Anfrage"); s.yMin < fieldY+fieldH {
		t.Errorf("subject at y %.1f mm overlaps the window", s.yMin)
	}
	for _, w := range page {
		if w.xMax > pageW-marginRight+0.2 {
			t.Errorf("word %q ends at x %.1f mm, inside the right margin", w.text, w.xMax)
		}
	}
}

func TestBatchPlacedAndManifest(t *testing.T) {
	a, b, c := sample(), long("L-2026-0002"), sample()
	c.Ref = "L-2026-0003"
	c.Recipient = []string{"Frau", "Dr. Eva Schön", "Dorfplatz 3", "A-5020 Salzburg", "ÖSTERREICH"}
	letters := []Letter{a, b, c}
	pdf, placed := render(t, letters...)
	want := []Placed{{"L-2026-0001", 1, 1}, {"L-2026-0002", 2, 2}, {"L-2026-0003", 4, 1}}
	if fmt.Sprint(placed) != fmt.Sprint(want) {
		t.Fatalf("placed = %+v, want %+v", placed, want)
	}

	pages := bboxPages(t, pdf)
	if len(pages) != 4 {
		t.Fatalf("PDF has %d pages, want 4", len(pages))
	}
	// Every page has the imprint; the long letter's pages say which they
	// are, in its language.
	for i, p := range pages {
		find(t, p, "HRB")
		hasLabel := false
		for _, w := range p {
			hasLabel = hasLabel || w.text == "Page" || w.text == "Seite"
		}
		if hasLabel != (i == 1 || i == 2) {
			t.Errorf("page %d: page label present = %v", i+1, hasLabel)
		}
	}
	text := pdftotext(t, pdf, "-layout", "-f", "2", "-l", "3")
	for _, want := range []string{"Page 1 of 2", "Page 2 of 2", "Paragraph 14.", "Kind regards"} {
		if !strings.Contains(text, want) {
			t.Errorf("long letter lacks %q", want)
		}
	}
	// The continuation page starts at the top and carries no window.
	top := pageH
	for _, w := range pages[2] {
		top = min(top, w.yMin)
		if w.text == "Postfach" {
			t.Error("continuation page repeats the return line")
		}
	}
	if top < contTop-0.5 || top > contTop+0.5 {
		t.Errorf("continuation page starts at y %.1f mm, want %g", top, contTop)
	}

	var buf bytes.Buffer
	if err := WriteManifest(&buf, letters, placed); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("manifest does not parse: %v\n%s", err, buf.String())
	}
	wantRows := [][]string{
		ManifestHeader,
		{"L-2026-0001", "1", "1", "Müller & Söhne GmbH\nFrau Jana Groß\nStraße des 17. Juni 12\n10623 Berlin", "10623", "Berlin", ""},
		{"L-2026-0002", "2", "2", "Ørsted & Co. A/S\nAtt. Mr Søren Ærø\nKraftværksvej 53\n7000 Fredericia\nDÄNEMARK", "7000", "Fredericia", "DÄNEMARK"},
		{"L-2026-0003", "4", "1", "Frau\nDr. Eva Schön\nDorfplatz 3\nA-5020 Salzburg\nÖSTERREICH", "5020", "Salzburg", "ÖSTERREICH"},
	}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", wantRows) {
		t.Errorf("manifest rows\n%q\nwant\n%q", rows, wantRows)
	}

	if err := WriteManifest(&buf, letters, placed[:2]); err == nil {
		t.Error("manifest with fewer placements than letters: no error")
	}
	if err := WriteManifest(&buf, letters, []Placed{placed[1], placed[0], placed[2]}); err == nil {
		t.Error("manifest with placements out of order: no error")
	}
}

func TestSplitAddress(t *testing.T) {
	for _, c := range []struct {
		lines                 []string
		postal, city, country string
	}{
		{[]string{"A", "Weg 1", "10623 Berlin"}, "10623", "Berlin", ""},
		{[]string{"A", "Weg 1", "D-10623 Berlin", "DEUTSCHLAND"}, "10623", "Berlin", "DEUTSCHLAND"},
		{[]string{"A", "Postbus 1", "1012 AB Amsterdam", "NIEDERLANDE"}, "1012 AB", "Amsterdam", "NIEDERLANDE"},
		{[]string{"A", "Bahnhofstr. 3", "3000 BERN", "SCHWEIZ"}, "3000", "BERN", "SCHWEIZ"},
		{[]string{"A", "10 Downing Street", "LONDON", "SW1A 2AA", "UNITED KINGDOM"}, "", "", ""},
	} {
		p, ci, co := splitAddress(c.lines)
		if p != c.postal || ci != c.city || co != c.country {
			t.Errorf("splitAddress(%q) = %q, %q, %q; want %q, %q, %q", c.lines, p, ci, co, c.postal, c.city, c.country)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check(sample()); err != nil {
		t.Fatalf("sample letter: %v", err)
	}
	if err := Check(long("L-1")); err != nil {
		t.Fatalf("long letter: %v", err)
	}
	// Narrow glyphs: sixty of them fit where twenty-two wide ones do not;
	// the check measures, it does not count runes.
	narrow := strings.Repeat("i", 60)
	wide := strings.Repeat("W", 22)
	ok := sample()
	ok.Recipient = []string{narrow, "Weg 1", "10623 Berlin"}
	if err := Check(ok); err != nil {
		t.Fatalf("narrow recipient line: %v", err)
	}

	cases := []struct {
		name  string
		edit  func(*Letter)
		field string
		code  string
	}{
		{"no ref", func(l *Letter) { l.Ref = " " }, "ref", "required"},
		{"ref too wide", func(l *Letter) { l.Ref = strings.Repeat("W", 30) }, "ref", CodeDoesNotFit},
		{"unknown lang", func(l *Letter) { l.Lang = "fr" }, "lang", "invalid_value"},
		{"no sender name", func(l *Letter) { l.Sender.Name = "" }, "sender.name", "required"},
		{"sender name too wide", func(l *Letter) { l.Sender.Name = strings.Repeat("W", 40) }, "sender.name", CodeDoesNotFit},
		{"letterhead too many lines", func(l *Letter) { l.Sender.Address = []string{"a", "b", "c", "d", "e"} }, "sender.address", CodeDoesNotFit},
		{"return line too wide", func(l *Letter) { l.Sender.ReturnLine = strings.Repeat("W", 40) }, "sender.return_line", CodeAddressDoesNotFit},
		{"derived return line too wide", func(l *Letter) {
			l.Sender.ReturnLine = ""
			l.Sender.Address = []string{"Sehr lange Straße mit Namen 123", "Hinterhaus, dritter Stock", "20457 Hamburg"}
		}, "sender.return_line", CodeAddressDoesNotFit},
		{"footer too many lines", func(l *Letter) { l.Sender.Footer = []string{"a", "b", "c", "d", "e"} }, "sender.footer", CodeDoesNotFit},
		{"footer line too wide", func(l *Letter) { l.Sender.Footer = []string{strings.Repeat("W", 80)} }, "sender.footer", CodeDoesNotFit},
		{"no recipient", func(l *Letter) { l.Recipient = nil }, "recipient", "required"},
		{"seven recipient lines", func(l *Letter) { l.Recipient = []string{"1", "2", "3", "4", "5", "6", "7"} }, "recipient", CodeAddressDoesNotFit},
		{"recipient line too wide", func(l *Letter) { l.Recipient = []string{wide, "Weg 1", "10623 Berlin"} }, "recipient", CodeAddressDoesNotFit},
		{"blank recipient line", func(l *Letter) { l.Recipient = []string{"A", " ", "10623 Berlin"} }, "recipient", "invalid_value"},
		{"line break in recipient line", func(l *Letter) { l.Recipient = []string{"A\nB", "10623 Berlin"} }, "recipient", "invalid_value"},
		{"no date", func(l *Letter) { l.Date = time.Time{} }, "date", "required"},
		{"no subject", func(l *Letter) { l.Subject = "\t" }, "subject", "required"},
		{"subject on two lines", func(l *Letter) { l.Subject = "a\nb" }, "subject", "invalid_value"},
		{"subject too long", func(l *Letter) { l.Subject = strings.Repeat("Betreff ", 60) }, "subject", CodeDoesNotFit},
		{"no body", func(l *Letter) { l.Body = "\n\n " }, "body", "required"},
		{"control character in body", func(l *Letter) { l.Body = "a\x00b" }, "body", "invalid_value"},
		{"invalid UTF-8 in body", func(l *Letter) { l.Body = "a\xffb" }, "body", "invalid_value"},
		{"closing too wide", func(l *Letter) { l.Closing = strings.Repeat("W", 50) }, "closing", CodeDoesNotFit},
		{"recipient in a script the font lacks", func(l *Letter) { l.Recipient = []string{"王芳", "10623 Berlin"} }, "recipient", CodeUnsupportedCharacter},
		{"emoji in the body", func(l *Letter) { l.Body = "Danke \U0001F600" }, "body", CodeUnsupportedCharacter},
		{"emoji in the subject", func(l *Letter) { l.Subject = "Angebot \U0001F381" }, "subject", CodeUnsupportedCharacter},
		{"signature on two lines", func(l *Letter) { l.Signature = "a\nb" }, "signature", "invalid_value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := sample()
			c.edit(&l)
			err := Check(l)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Check = %v, want a *validate.Error", err)
			}
			if ve.Field != c.field || ve.Code != c.code {
				t.Fatalf("Check = field %q code %q (%v), want field %q code %q", ve.Field, ve.Code, err, c.field, c.code)
			}
			if ve.Message == "" {
				t.Error("no message")
			}
			// Messages reach logs: they name lines and sizes, not text.
			for _, pii := range []string{"WWWW", "Hinterhaus", "Betreff"} {
				if strings.Contains(err.Error(), pii) {
					t.Errorf("message repeats the text: %v", err)
				}
			}
		})
	}
}

func TestRenderRefusesBadLetter(t *testing.T) {
	bad := sample()
	bad.Ref = "L-BAD"
	bad.Recipient = []string{"1", "2", "3", "4", "5", "6", "7"}
	var buf bytes.Buffer
	placed, err := Render(&buf, []Letter{sample(), bad})
	var le *Error
	if !errors.As(err, &le) || le.Ref != "L-BAD" || le.Index != 1 {
		t.Fatalf("Render = %v, want an *Error for L-BAD", err)
	}
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Code != CodeAddressDoesNotFit {
		t.Fatalf("Render = %v, want the validate error inside", err)
	}
	if !strings.Contains(err.Error(), "L-BAD") {
		t.Errorf("error %q does not name the ref", err)
	}
	if buf.Len() != 0 || placed != nil {
		t.Errorf("Render wrote %d bytes and placed %v for a refused batch", buf.Len(), placed)
	}

	_, err = Render(&buf, []Letter{sample(), sample()})
	if !errors.As(err, &ve) || ve.Field != "ref" || ve.Code != "duplicate" {
		t.Errorf("duplicate refs: Render = %v", err)
	}
	if _, err := Render(&buf, nil); !errors.As(err, &ve) || ve.Code != "required" {
		t.Errorf("no letters: Render = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused batches wrote %d bytes", buf.Len())
	}
}

func TestRenderReproducible(t *testing.T) {
	letters := []Letter{sample(), long("L-2026-0002")}
	a, _ := render(t, letters...)
	b, _ := render(t, letters...)
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same letters differ")
	}
	if !bytes.HasPrefix(a, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", a[:min(len(a), 16)])
	}
	if !bytes.Contains(a, []byte("/CreationDate (D:20261201093000")) {
		t.Error("creation date is not the letter date")
	}
}

func TestGolden(t *testing.T) {
	pdf, _ := render(t, sample())
	got := pdftotext(t, pdf, "-layout")
	golden := filepath.Join("testdata", "letter.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update ./internal/letter/)", err)
	}
	if got != string(want) {
		t.Errorf("pdftotext output differs from %s (run with -update if the change is meant):\n%s", golden, got)
	}
}

func TestFormatDate(t *testing.T) {
	d := time.Date(2026, 3, 7, 23, 30, 0, 0, time.FixedZone("CET", 3600))
	if got := formatDate(d, "de"); got != "7. März 2026" {
		t.Errorf("de: %q", got)
	}
	if got := formatDate(d, "en"); got != "7 March 2026" {
		t.Errorf("en: %q", got)
	}
}

// Check shares one font measurer; run it concurrently for the race detector.
func TestCheckConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := Check(long("L-1")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRenderBatch(b *testing.B) {
	letters := make([]Letter, 1000)
	for i := range letters {
		letters[i] = sample()
		letters[i].Ref = fmt.Sprintf("L-2026-%05d", i)
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		placed, err := Render(&buf, letters)
		if err != nil {
			b.Fatal(err)
		}
		if last := placed[len(placed)-1]; last.FirstPage != len(letters) || last.Pages != 1 {
			b.Fatalf("last letter placed at %+v", last)
		}
	}
	b.ReportMetric(float64(b.N*len(letters))/b.Elapsed().Seconds(), "letters/s")
	b.ReportMetric(float64(buf.Len())/float64(len(letters)), "B/letter")
}

// A paragraph that breaks across pages leaves at least two lines on each.
func TestLayoutNoWidowsOrOrphans(t *testing.T) {
	pdf := newPDF()
	sentence := "This sentence is there to fill the line with words of several lengths. "
	mid := 0
	for n := 8; n <= 30; n++ {
		l := long("L-1")
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString("\n\n")
			}
			// One to seven lines, so every kind of break occurs.
			b.WriteString(strings.Repeat(sentence, 1+((i+n)*5)%13))
		}
		l.Body = b.String()
		pages := layout(pdf, l)
		for p := 1; p < len(pages); p++ {
			foot, top := pages[p-1], pages[p]
			last := foot[len(foot)-1].para
			if last < 0 || last != top[0].para {
				continue // the break falls between paragraphs
			}
			mid++
			if c := linesOf(foot, last); c < 2 {
				t.Errorf("%d paragraphs: paragraph %d leaves %d line at the foot of page %d", n, last, c, p)
			}
			if c := linesOf(top, last); c < 2 {
				t.Errorf("%d paragraphs: paragraph %d carries %d line to the top of page %d", n, last, c, p+1)
			}
		}
	}
	if mid < 5 {
		t.Fatalf("only %d page breaks inside a paragraph: the test does not test", mid)
	}
}

func linesOf(lines []line, para int) int {
	n := 0
	for _, l := range lines {
		if l.para == para {
			n++
		}
	}
	return n
}

func TestManifestQuoting(t *testing.T) {
	l := sample()
	l.Recipient = []string{`Kanzlei "Recht, Ordnung & Söhne"`, "z. Hd. Herrn Dr. Weiß", "Am Markt 1; Hinterhaus", "04109 Leipzig"}
	_, placed := render(t, l)
	var buf bytes.Buffer
	if err := WriteManifest(&buf, []Letter{l}, placed); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("manifest does not parse: %v\n%s", err, buf.String())
	}
	if len(rows) != 2 || len(rows[1]) != len(ManifestHeader) {
		t.Fatalf("rows = %q", rows)
	}
	if got := strings.Split(rows[1][3], "\n"); fmt.Sprint(got) != fmt.Sprint(l.Recipient) {
		t.Errorf("recipient = %q, want %q", got, l.Recipient)
	}
	if rows[1][4] != "04109" || rows[1][5] != "Leipzig" || rows[1][6] != "" {
		t.Errorf("postal code, city, country = %q", rows[1][4:])
	}
	if !strings.Contains(buf.String(), `"Kanzlei ""Recht, Ordnung & Söhne""`) {
		t.Errorf("quotes are not doubled inside a quoted field:\n%s", buf.String())
	}
}
