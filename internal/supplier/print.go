package supplier

import (
	"io"

	"github.com/fairlead/fairlead/internal/letter"
)

// LetterPrinter prints with internal/letter (DIN 5008).
type LetterPrinter struct{}

func toLetter(l Letter) letter.Letter {
	return letter.Letter{Ref: l.Ref, Sender: letter.Sender{Name: l.Sender.Name, Address: l.Sender.Address, ReturnLine: l.Sender.ReturnLine, Footer: l.Sender.Footer},
		Recipient: l.Recipient, Date: l.Date, Lang: l.Lang, Subject: l.Subject, Salutation: l.Salutation, Body: l.Body, Closing: l.Closing, Signature: l.Signature}
}

func toLetters(ls []Letter) []letter.Letter {
	out := make([]letter.Letter, len(ls))
	for i, l := range ls {
		out[i] = toLetter(l)
	}
	return out
}

func fromPlaced(ps []letter.Placed) []Placed {
	out := make([]Placed, len(ps))
	for i, p := range ps {
		out[i] = Placed{Ref: p.Ref, FirstPage: p.FirstPage, Pages: p.Pages}
	}
	return out
}

func toPlaced(ps []Placed) []letter.Placed {
	out := make([]letter.Placed, len(ps))
	for i, p := range ps {
		out[i] = letter.Placed{Ref: p.Ref, FirstPage: p.FirstPage, Pages: p.Pages}
	}
	return out
}

// Check implements Printer.
func (LetterPrinter) Check(l Letter) error { return letter.Check(toLetter(l)) }

// Render implements Printer.
func (LetterPrinter) Render(w io.Writer, ls []Letter) ([]Placed, error) {
	ps, err := letter.Render(w, toLetters(ls))
	return fromPlaced(ps), err
}

// WriteManifest implements Printer.
func (LetterPrinter) WriteManifest(w io.Writer, ls []Letter, placed []Placed) error {
	return letter.WriteManifest(w, toLetters(ls), toPlaced(placed))
}
