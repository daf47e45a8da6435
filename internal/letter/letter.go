// Package letter typesets business letters after DIN 5008 form B as print-ready
// PDF: one PDF for a whole batch, each letter on new pages, plus a CSV manifest
// for print-and-mail services. It is pure: no database, no network, and the
// same letters give the same bytes.
//
// Measurements used (millimetres on A4 portrait, 210 x 297; origin top left)
// follow DIN 5008 form B ("tiefgestelltes Anschriftfeld", 45 mm letterhead).
// The standard itself is not freely available; the figures are taken from
// these summaries of it, which agree on them:
//   - address field 85 x 45 at 20/45, nine lines: a 17.7 mm Zusatz- und
//     Vermerkzone holding the return line, then a 27.3 mm Anschriftzone of six
//     lines; return line not below 8 pt: helmol.de/din/02_anschrift.htm,
//     korrespondenz-din-5008.de/briefe-schreiben/din-5008-adressfeld/,
//     kloecker.ac/marketinglexikon/d/din_norm_5008.php
//   - information block 125 mm from the left edge, 50 mm from the top (form B),
//     at most to 10 mm from the right edge; two lines at least before the
//     subject: sekretaria.de/bueroorganisation/korrespondenz/din-5008/informationsblock/
//   - fold marks at 105 and 210 mm (form B; form A has 87 and 192), hole mark
//     at 148.5 mm: deluxetuning.de (form A sheet) and
//     sekretaerinnen-service.de/falzmarken (which swaps the A and B labels;
//     form B's marks must be at 105/210 for its lower window to show in a DL
//     envelope)
//
// The layout built from them:
//
//	what                                      x        y          w     h
//	letterhead (Briefkopf)                    0        0          210   45
//	address field (Anschriftfeld)             20       45         85    45
//	  Zusatz- und Vermerkzone, return line    20       45         85    17.7
//	  address zone (Anschriftzone), 6 lines   20       62.7       85    27.3
//	address and body text start at           25 (the left text margin)
//	information block (reference, date)       125      50         75    -
//	subject, 2 blank lines below the field    25       98.46      165   -
//	text margins left / right                 25 / 20 (text width 165)
//	fold marks                                5..10    105, 210
//	hole mark                                 5..12    148.5
//	footer (imprint), last baseline           25       287
//
// Type: DejaVu Sans (embedded, so the output does not depend on installed
// fonts), body and address 11 pt on a 4.5 mm line (six address lines take
// 27 mm of the 27.3 mm zone), return line 8 pt, footer 7.5 pt.
package letter

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/validate"
)

// Sender is the writing organisation: letterhead, return line and imprint.
type Sender struct {
	Name       string   // company name, letterhead
	Address    []string // street, postal code + city, country
	ReturnLine string   // one-line sender above the window (Rücksendeangabe); derived from Name+Address if ""
	Footer     []string // imprint / Geschäftsangaben lines (register, VAT ID, managing directors, bank)
}

// Letter is one letter, with its merge fields already filled in.
type Letter struct {
	Ref        string // letter ID, printed small and written to the manifest
	Sender     Sender
	Recipient  []string  // address lines (name, org, street, postal code + city, country); max 6 in the Anschriftzone
	Date       time.Time // printed as its calendar day in its own location
	Lang       string    // "de" | "en": date format and page labels; "" means "de"
	Subject    string
	Salutation string
	Body       string // paragraphs separated by blank lines, already merged
	Closing    string // "Mit freundlichen Grüßen"
	Signature  string // name under the closing
}

// Langs are the languages a letter can be set in.
var Langs = []string{"de", "en"}

// Error codes of Check besides validate's "required" and "invalid_value".
const (
	// CodeAddressDoesNotFit: the recipient (or the return line) would not
	// show in the envelope window: more than six lines, or a line wider than
	// the window at the type size used.
	CodeAddressDoesNotFit = "address_does_not_fit"
	// CodeDoesNotFit: letterhead, subject, footer or a one-line field is
	// too long for the space the layout gives it.
	CodeDoesNotFit = "does_not_fit"
	// CodeUnsupportedCharacter: a character the embedded font has no glyph
	// for (CJK, most emoji, anything outside the Basic Multilingual Plane);
	// it would print as an empty box.
	CodeUnsupportedCharacter = "unsupported_character"
)

// Layout in millimetres and points; see the table in the package comment.
const (
	pageW = 210.0
	pageH = 297.0

	marginLeft  = 25.0
	marginRight = 20.0
	textW       = pageW - marginLeft - marginRight // 165

	fieldX       = 20.0
	fieldY       = 45.0
	fieldW       = 85.0
	fieldH       = 45.0
	vermerkH     = 17.7
	anschriftY   = fieldY + vermerkH // 62.7
	anschriftH   = 27.3
	maxAddrLines = 6
	// The address text starts at the text margin, inside the field; it
	// must end at the field's right edge.
	addrX = marginLeft
	addrW = fieldX + fieldW - addrX // 80

	infoX = 125.0
	infoY = 50.0
	infoW = 75.0

	subjectY = fieldY + fieldH + 2*dinLine // 98.46
	dinLine  = 4.23                        // one DIN 5008 line (1/6 inch)

	foldMark1 = 105.0
	foldMark2 = 210.0
	holeMark  = 148.5

	bodyPt  = 11.0
	lineH   = 4.5 // 11 pt type on 12.75 pt leading
	ascent  = 3.6 // top of an 11 pt line to its baseline
	smallPt = 8.0 // return line, labels, reference

	headNamePt = 16.0
	headAddrPt = 9.0
	maxHead    = 4

	footPt       = 7.5
	footLineH    = 3.3
	footBaseline = 287.0
	maxFoot      = 4

	maxSubjectLines = 3
	contTop         = 25.0 // first line of a continuation page
	signatureGap    = 3    // blank lines for the handwritten signature
)

// Check reports the first problem that would keep l from printing as a
// correct DIN 5008 letter, as a *validate.Error naming the field. Messages
// name line numbers and measurements, never the text, because they can reach
// logs and the text is personal data.
func Check(l Letter) error {
	if strings.TrimSpace(l.Ref) == "" {
		return validate.Required("ref")
	}
	if err := oneLine("ref", styleRegular, l.Ref); err != nil {
		return err
	}
	if w := measure.width(styleRegular, bodyPt-1, l.Ref); w > infoW {
		return &validate.Error{Field: "ref", Code: CodeDoesNotFit,
			Message: fmt.Sprintf("ref is %.1f mm wide at %g pt; the information block is %g mm wide", w, bodyPt-1, infoW)}
	}
	if l.Lang != "" && l.Lang != "de" && l.Lang != "en" {
		return validate.OneOf("lang", l.Lang, Langs)
	}
	if err := checkSender(l.Sender); err != nil {
		return err
	}
	if err := checkRecipient(l.Recipient); err != nil {
		return err
	}
	if l.Date.IsZero() {
		return validate.Required("date")
	}
	if strings.TrimSpace(l.Subject) == "" {
		return validate.Required("subject")
	}
	if err := oneLine("subject", styleBold, l.Subject); err != nil {
		return err
	}
	if n := len(measure.wrap(styleBold, bodyPt, l.Subject, textW)); n > maxSubjectLines {
		return &validate.Error{Field: "subject", Code: CodeDoesNotFit,
			Message: fmt.Sprintf("subject takes %d lines at %g pt; at most %d fit above the salutation", n, bodyPt, maxSubjectLines)}
	}
	if strings.TrimSpace(l.Body) == "" {
		return validate.Required("body")
	}
	if i := strings.IndexFunc(l.Body, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }); i >= 0 {
		return validate.Invalid("body", "body contains a control character; only line breaks and tabs are allowed")
	}
	if !utf8.ValidString(l.Body) {
		return validate.Invalid("body", "body is not valid UTF-8")
	}
	if err := printable("body", styleRegular, l.Body); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{
		{"salutation", l.Salutation}, {"closing", l.Closing}, {"signature", l.Signature},
	} {
		if err := oneLine(f.field, styleRegular, f.v); err != nil {
			return err
		}
		if w := measure.width(styleRegular, bodyPt, f.v); w > textW {
			return &validate.Error{Field: f.field, Code: CodeDoesNotFit,
				Message: fmt.Sprintf("%s is %.1f mm wide at %g pt; the text width is %g mm", f.field, w, bodyPt, textW)}
		}
	}
	return nil
}

func checkSender(s Sender) error {
	if strings.TrimSpace(s.Name) == "" {
		return validate.Required("sender.name")
	}
	if err := oneLine("sender.name", styleBold, s.Name); err != nil {
		return err
	}
	if w := measure.width(styleBold, headNamePt, s.Name); w > textW {
		return &validate.Error{Field: "sender.name", Code: CodeDoesNotFit,
			Message: fmt.Sprintf("sender.name is %.1f mm wide at %g pt; the letterhead is %g mm wide", w, headNamePt, textW)}
	}
	if len(s.Address) > maxHead {
		return &validate.Error{Field: "sender.address", Code: CodeDoesNotFit,
			Message: fmt.Sprintf("sender.address has %d lines; the letterhead holds %d", len(s.Address), maxHead)}
	}
	for i, a := range s.Address {
		if err := oneLine("sender.address", styleRegular, a); err != nil {
			return err
		}
		if w := measure.width(styleRegular, headAddrPt, a); w > textW {
			return &validate.Error{Field: "sender.address", Code: CodeDoesNotFit,
				Message: fmt.Sprintf("sender.address line %d is %.1f mm wide at %g pt; the letterhead is %g mm wide", i+1, w, headAddrPt, textW)}
		}
	}
	if err := oneLine("sender.return_line", styleRegular, s.ReturnLine); err != nil {
		return err
	}
	if w := measure.width(styleRegular, smallPt, returnLine(s)); w > addrW {
		msg := fmt.Sprintf("the return line is %.1f mm wide at %g pt; the window leaves %g mm", w, smallPt, addrW)
		if s.ReturnLine == "" {
			msg += " (derived from sender.name and sender.address: set a shorter sender.return_line)"
		}
		return &validate.Error{Field: "sender.return_line", Code: CodeAddressDoesNotFit, Message: msg}
	}
	if len(s.Footer) > maxFoot {
		return &validate.Error{Field: "sender.footer", Code: CodeDoesNotFit,
			Message: fmt.Sprintf("sender.footer has %d lines; the footer holds %d", len(s.Footer), maxFoot)}
	}
	for i, f := range s.Footer {
		if err := oneLine("sender.footer", styleRegular, f); err != nil {
			return err
		}
		if w := measure.width(styleRegular, footPt, f); w > textW {
			return &validate.Error{Field: "sender.footer", Code: CodeDoesNotFit,
				Message: fmt.Sprintf("sender.footer line %d is %.1f mm wide at %g pt; the text width is %g mm", i+1, w, footPt, textW)}
		}
	}
	return nil
}

func checkRecipient(lines []string) error {
	if len(lines) == 0 {
		return validate.Required("recipient")
	}
	if len(lines) > maxAddrLines {
		return &validate.Error{Field: "recipient", Code: CodeAddressDoesNotFit,
			Message: fmt.Sprintf("recipient has %d lines; the address zone of the window holds %d (DIN 5008)", len(lines), maxAddrLines)}
	}
	for i, a := range lines {
		if strings.TrimSpace(a) == "" {
			return validate.Invalid("recipient", fmt.Sprintf("recipient line %d is blank; an address has no blank lines (DIN 5008)", i+1))
		}
		if err := oneLine("recipient", styleRegular, a); err != nil {
			return err
		}
		if w := measure.width(styleRegular, bodyPt, strings.TrimSpace(a)); w > addrW {
			return &validate.Error{Field: "recipient", Code: CodeAddressDoesNotFit,
				Message: fmt.Sprintf("recipient line %d is %.1f mm wide at %g pt; the window leaves %g mm", i+1, w, bodyPt, addrW)}
		}
	}
	return nil
}

// printable refuses characters the font of style cannot print.
func printable(field, style, v string) error {
	if r, ok := covers(style, v); !ok {
		return &validate.Error{Field: field, Code: CodeUnsupportedCharacter,
			Message: fmt.Sprintf("%s contains %U, which the letter font cannot print", field, r)}
	}
	return nil
}

// oneLine refuses line breaks and other control characters where the layout
// has room for one line only, and what the font of style cannot print.
func oneLine(field, style, v string) error {
	if !utf8.ValidString(v) {
		return validate.Invalid(field, field+" is not valid UTF-8")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return validate.Invalid(field, field+" must be one line without control characters")
	}
	return printable(field, style, v)
}

// returnLine is the Rücksendeangabe: the sender's own or one made of name and
// address, joined by middle dots as is usual in the window.
func returnLine(s Sender) string {
	if s.ReturnLine != "" {
		return s.ReturnLine
	}
	parts := []string{strings.TrimSpace(s.Name)}
	for _, a := range s.Address {
		if a = strings.TrimSpace(a); a != "" {
			parts = append(parts, a)
		}
	}
	return strings.Join(parts, " · ")
}

var monthsDE = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
	"August", "September", "Oktober", "November", "Dezember"}

// formatDate writes the alphanumeric date of DIN 5008 ("1. Dezember 2026")
// or its English form ("1 December 2026").
func formatDate(t time.Time, lang string) string {
	if lang == "en" {
		return fmt.Sprintf("%d %s %d", t.Day(), t.Month(), t.Year())
	}
	return fmt.Sprintf("%d. %s %d", t.Day(), monthsDE[t.Month()-1], t.Year())
}

type labels struct{ ref, date, page string }

func labelsFor(lang string) labels {
	if lang == "en" {
		return labels{ref: "Our reference", date: "Date", page: "Page %d of %d"}
	}
	return labels{ref: "Unser Zeichen", date: "Datum", page: "Seite %d von %d"}
}
